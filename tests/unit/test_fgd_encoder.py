"""FGD feature extractors: published layouts (HA2G MotionAE, AQGT EmbeddingNet), the slope-1 quirk, our
safetensors format, and the HA2G training loss."""
from __future__ import annotations

import argparse
import json
import pathlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gesturegen.models.fgd_encoder import (
    AQGTEmbeddingNet,
    CheckpointLayoutError,
    EmbeddingNetConfig,
    MotionAE,
    MotionAEConfig,
    load_encoder,
    load_published_aqgt_embedding,
    load_published_motion_ae,
    read_encoder_info,
    recentring_offset,
    save_encoder,
)

# --- reference modules, written the way the published code builds them (independent of our classes) -------------


def _ha2g_conv_block(c_in, c_out, downsample=False):
    k, s = (4, 2) if downsample else (3, 1)
    return nn.Sequential(nn.Conv1d(c_in, c_out, kernel_size=k, stride=s, padding=0), nn.BatchNorm1d(c_out),
                         nn.LeakyReLU(0.2, True))


class _RefPoseEncoder(nn.Module):
    def __init__(self, pose_dim, flat, out_dim):
        super().__init__()
        self.net = nn.Sequential(_ha2g_conv_block(pose_dim, 32), _ha2g_conv_block(32, 64),
                                 _ha2g_conv_block(64, 64, True), nn.Conv1d(64, 32, 3))
        self.out_net = nn.Sequential(nn.Linear(flat, 256), nn.BatchNorm1d(256), nn.LeakyReLU(True),
                                     nn.Linear(256, 128), nn.BatchNorm1d(128), nn.LeakyReLU(True),
                                     nn.Linear(128, out_dim))

    def forward(self, poses):
        return self.out_net(self.net(poses.transpose(1, 2)).flatten(1))


class _RefDecoder(nn.Module):
    def __init__(self, pose_dim, latent_dim):
        super().__init__()
        self.pre_net = nn.Sequential(nn.Linear(latent_dim, 64), nn.BatchNorm1d(64), nn.LeakyReLU(True),
                                     nn.Linear(64, 136))
        self.net = nn.Sequential(nn.ConvTranspose1d(4, 32, 3), nn.BatchNorm1d(32), nn.LeakyReLU(0.2, True),
                                 nn.ConvTranspose1d(32, 32, 3), nn.BatchNorm1d(32), nn.LeakyReLU(0.2, True),
                                 nn.Conv1d(32, 32, 3), nn.Conv1d(32, pose_dim, 3))

    def forward(self, feat):
        return self.net(self.pre_net(feat).view(feat.shape[0], 4, -1)).transpose(1, 2)


class _RefMotionAE(nn.Module):
    def __init__(self, pose_dim=126, latent_dim=128):
        super().__init__()
        self.encoder = _RefPoseEncoder(pose_dim, 384, latent_dim)
        self.decoder = _RefDecoder(pose_dim, latent_dim)

    def forward(self, pose):
        z = self.encoder(pose)
        return self.decoder(z), z


class _RefAQGTEncoder(_RefPoseEncoder):
    def __init__(self, pose_dim):
        super().__init__(pose_dim, 320, 32)
        self.fc_mu = nn.Linear(32, 32)
        self.fc_logvar = nn.Linear(32, 32)


class _RefGRUDecoder(nn.Module):
    def __init__(self, pose_dim):
        super().__init__()
        self.pre_pose_net = nn.Sequential(nn.Linear(pose_dim * 4, 32), nn.BatchNorm1d(32), nn.ReLU(),
                                          nn.Linear(32, 32))
        self.gru = nn.GRU(64, hidden_size=30, num_layers=2, batch_first=True, bidirectional=True)
        self.out = nn.Sequential(nn.Linear(30, 15), nn.LeakyReLU(True), nn.Linear(15, pose_dim))


class _RefEmbeddingNet(nn.Module):
    def __init__(self, pose_dim=159):
        super().__init__()
        self.pose_encoder = _RefAQGTEncoder(pose_dim)
        self.decoder = _RefGRUDecoder(pose_dim)


def _randomize(module: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial weights and BatchNorm statistics, so eval mode differs from train mode and from defaults."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in module.state_dict().items():
            if t.dtype.is_floating_point:
                noise = torch.randn(t.shape, generator=g) * 0.1
                t.copy_(t.abs() + 0.5 + noise.abs() if name.endswith("running_var") else t + noise)
    return module.eval()


def _windows(n=10, dim=126, seed=0):
    return np.random.default_rng(seed).standard_normal((n, 34, dim)).astype(np.float32) * 0.3


@pytest.fixture
def ha2g_ckpt(tmp_path):
    ref = _randomize(_RefMotionAE())
    path = tmp_path / "checkpoint_best.bin"
    torch.save({"args": argparse.Namespace(name="AE-cos1e-3", batch_size=64, mean_dir_vec=[0.1, 0.2]),
                "epoch": 77, "pose_dim": 126, "latent_dim": 128, "motion_ae": ref.state_dict()}, path)
    return path, ref


@pytest.fixture
def aqgt_ckpt(tmp_path):
    ref = _randomize(_RefEmbeddingNet(), seed=1)
    path = tmp_path / "gesture_autoencoder_checkpoint_best.bin"
    torch.save({"args": argparse.Namespace(n_poses=34), "epoch": 3, "pose_dim": 159, "gen_dict": ref.state_dict()},
               path)
    return path, ref


# --- shapes, input checks, the quirk ---------------------------------------------------------------------------


def test_motion_ae_shapes_and_flatten_size():
    model = MotionAE(MotionAEConfig(pose_dim=126)).eval()
    x = torch.randn(5, 34, 126)
    conv = model.encoder.net(x.transpose(1, 2))
    assert conv.shape == (5, 32, 12) and conv.flatten(1).shape[1] == 384 == model.encoder.out_net[0].in_features
    recon, z = model(x)
    assert recon.shape == (5, 34, 126) and z.shape == (5, 128)
    assert model.encode(x).shape == (5, 128)


def test_aqgt_shapes_use_frames_4_to_33():
    model = AQGTEmbeddingNet(EmbeddingNetConfig()).eval()
    assert model.pose_encoder.out_net[0].in_features == 320
    x = torch.randn(3, 34, 159)
    z, mu, logvar = model(x)
    assert z.shape == mu.shape == logvar.shape == (3, 32)
    x2 = x.clone()
    x2[:, :4] = 100.0          # seed frames are not seen
    assert torch.equal(model.encode(x2), model.encode(x))


@pytest.mark.parametrize("shape", [(2, 30, 126), (2, 34, 125), (34, 126), (2, 34, 42, 3)])
def test_wrong_input_shape_is_a_clear_error(shape):
    model = MotionAE(MotionAEConfig(pose_dim=126))
    with pytest.raises(ValueError, match=r"\(B, 34, 126\)"):
        model.encode(torch.zeros(shape))
    with pytest.raises(ValueError, match="34-frame"):
        model.features(np.zeros(shape, np.float32))


def test_slope_one_quirk():
    on = MotionAE(MotionAEConfig(pose_dim=126, leaky_slope_quirk=True))
    off = MotionAE(MotionAEConfig(pose_dim=126, leaky_slope_quirk=False))
    x = torch.linspace(-3, 3, 13)
    for i in (2, 5):
        act = on.encoder.out_net[i]
        assert isinstance(act, nn.LeakyReLU) and act.negative_slope == 1.0
        assert torch.equal(act(x), x)                           # identity
        assert off.encoder.out_net[i].negative_slope == 0.2
        assert not torch.equal(off.encoder.out_net[i](x), x)
    assert on.decoder.pre_net[2].negative_slope == 1.0 and off.decoder.pre_net[2].negative_slope == 0.2
    # the conv blocks have a proper LeakyReLU(0.2) either way
    assert on.encoder.net[0][2].negative_slope == 0.2 and on.decoder.net[2].negative_slope == 0.2
    aqgt = AQGTEmbeddingNet(EmbeddingNetConfig())
    assert aqgt.pose_encoder.out_net[2].negative_slope == 1.0 == aqgt.pose_encoder.out_net[5].negative_slope


def test_state_dict_names_match_the_published_layout():
    ours = set(MotionAE(MotionAEConfig(pose_dim=126)).state_dict())
    assert ours == set(_RefMotionAE().state_dict())
    assert {"encoder.net.0.0.weight", "encoder.net.0.1.running_mean", "encoder.net.3.weight",
            "encoder.out_net.6.bias", "decoder.pre_net.3.weight", "decoder.net.7.weight"} <= ours
    aqgt = set(AQGTEmbeddingNet(EmbeddingNetConfig()).state_dict())
    assert aqgt == {k for k in _RefEmbeddingNet().state_dict() if not k.startswith("decoder.")}


# --- features ------------------------------------------------------------------------------------------------------


def test_features_eval_mode_batch_invariant_and_restores_mode():
    model = _randomize(MotionAE(MotionAEConfig(pose_dim=126))).train()
    x = _windows(23)
    f1 = model.features(x, batch_size=256)
    f2 = model.features(x, batch_size=5)
    assert f1.dtype == np.float32 and f1.shape == (23, 128)
    np.testing.assert_allclose(f1, f2, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(f1, model.features(x))      # deterministic
    assert model.training                                      # mode restored
    assert model.features(x[:0]).shape == (0, 128)


# --- published HA2G checkpoint -------------------------------------------------------------------------------------


def test_load_published_motion_ae_matches_source(ha2g_ckpt):
    path, ref = ha2g_ckpt
    model = load_published_motion_ae(path)
    assert not model.training and model.config == MotionAEConfig(pose_dim=126, latent_dim=128)
    x = _windows(12)
    with torch.no_grad():
        expected_z = ref.encoder(torch.from_numpy(x)).numpy()
        expected_recon = ref(torch.from_numpy(x))[0]
    np.testing.assert_allclose(model.features(x), expected_z, rtol=1e-4, atol=1e-5)
    with torch.no_grad():
        torch.testing.assert_close(model(torch.from_numpy(x))[0], expected_recon)


def test_load_published_without_num_batches_tracked(tmp_path, ha2g_ckpt):
    path, ref = ha2g_ckpt
    sd = {k: v for k, v in ref.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save({"pose_dim": 126, "latent_dim": 128, "motion_ae": sd}, tmp_path / "old.bin")
    x = _windows(4)
    np.testing.assert_array_equal(load_published_motion_ae(tmp_path / "old.bin").features(x),
                                  load_published_motion_ae(path).features(x))


def _save_variant(tmp_path, ref, change):
    sd = dict(ref.state_dict())
    ckpt = {"pose_dim": 126, "latent_dim": 128, "motion_ae": sd}
    change(ckpt, sd)
    path = tmp_path / "bad_checkpoint.bin"
    torch.save(ckpt, path)
    return path


@pytest.mark.parametrize("change, pattern", [
    (lambda c, sd: sd.__setitem__("encoder.out_net.2.weight", sd.pop("encoder.out_net.3.weight")),
     r"missing keys \['encoder\.out_net\.3\.weight'\].*unexpected keys \['encoder\.out_net\.2\.weight'\]"),
    (lambda c, sd: sd.__setitem__("encoder.out_net.0.weight", torch.zeros(256, 320)),
     r"shape mismatch encoder\.out_net\.0\.weight: \(256, 320\) in the file, \(256, 384\) expected"),
    (lambda c, sd: c.pop("motion_ae"), r"missing top-level keys \['motion_ae'\]"),
    (lambda c, sd: c.__setitem__("motion_ae", {f"module.{k}": v for k, v in sd.items()}), r"DataParallel"),
    (lambda c, sd: c.__setitem__("pose_dim", 159), r"shape mismatch encoder\.net\.0\.0\.weight"),
])
def test_wrong_motion_ae_layout_is_a_clear_error(tmp_path, ha2g_ckpt, change, pattern):
    path = _save_variant(tmp_path, ha2g_ckpt[1], change)
    with pytest.raises(CheckpointLayoutError, match=pattern) as e:
        load_published_motion_ae(path)
    assert "bad_checkpoint.bin" in str(e.value)


def test_non_checkpoint_files_are_clear_errors(tmp_path):
    (tmp_path / "junk.bin").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointLayoutError, match="junk.bin"):
        load_published_motion_ae(tmp_path / "junk.bin")
    torch.save([1, 2], tmp_path / "list.bin")
    with pytest.raises(CheckpointLayoutError, match="expected a torch-saved dict"):
        load_published_motion_ae(tmp_path / "list.bin")
    torch.save({"pose_dim": 126, "latent_dim": 128, "motion_ae": {}, "args": pathlib.Path("/x")},
               tmp_path / "unsafe.bin")
    with pytest.raises(CheckpointLayoutError, match=r"weights_only=True.*PosixPath"):
        load_published_motion_ae(tmp_path / "unsafe.bin")
    with pytest.raises(FileNotFoundError, match="nope.bin"):
        load_published_motion_ae(tmp_path / "nope.bin")


# --- published AQGT checkpoint -------------------------------------------------------------------------------------


def test_load_published_aqgt_deterministic_mu(aqgt_ckpt):
    path, ref = aqgt_ckpt
    model = load_published_aqgt_embedding(path)
    assert model.config.pose_dim == 159 and not model.config.variational and not model.training
    x = _windows(9, 159)
    with torch.no_grad():
        out = ref.pose_encoder(torch.from_numpy(x[:, 4:]))
        mu = ref.pose_encoder.fc_mu(out).numpy()
    f1, f2 = model.features(x), model.features(x)
    np.testing.assert_array_equal(f1, f2)
    np.testing.assert_allclose(f1, mu, rtol=1e-4, atol=1e-5)


def test_load_published_aqgt_variational_samples(aqgt_ckpt):
    path, ref = aqgt_ckpt
    model = load_published_aqgt_embedding(path, variational=True)
    x = _windows(9, 159)
    f1, f2 = model.features(x), model.features(x)
    assert f1.shape == (9, 32) and not np.allclose(f1, f2)
    with torch.no_grad():
        out = ref.pose_encoder(torch.from_numpy(x[:, 4:]))
        mu, logvar = ref.pose_encoder.fc_mu(out), ref.pose_encoder.fc_logvar(out)
    torch.manual_seed(5)
    sampled = model.features(x)
    torch.manual_seed(5)
    expected = (mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)).numpy()
    np.testing.assert_allclose(sampled, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("change, pattern", [
    (lambda c, sd: sd.pop("pose_encoder.fc_logvar.bias"), r"missing keys \['pose_encoder\.fc_logvar\.bias'\]"),
    (lambda c, sd: sd.__setitem__("pose_encoder.extra.weight", torch.zeros(1)),
     r"unexpected keys \['pose_encoder\.extra\.weight'\]"),
    (lambda c, sd: sd.__setitem__("pose_encoder.out_net.0.weight", torch.zeros(256, 384)),
     r"shape mismatch pose_encoder\.out_net\.0\.weight"),
    (lambda c, sd: c.pop("gen_dict"), r"no 'gen_dict' key"),
])
def test_wrong_aqgt_layout_is_a_clear_error(tmp_path, aqgt_ckpt, change, pattern):
    sd = dict(aqgt_ckpt[1].state_dict())
    ckpt = {"pose_dim": 159, "gen_dict": sd}
    change(ckpt, sd)
    torch.save(ckpt, tmp_path / "bad_aqgt.bin")
    with pytest.raises(CheckpointLayoutError, match=pattern) as e:
        load_published_aqgt_embedding(tmp_path / "bad_aqgt.bin")
    assert "bad_aqgt.bin" in str(e.value)


def test_motion_ae_checkpoint_is_not_an_aqgt_checkpoint(ha2g_ckpt):
    with pytest.raises(CheckpointLayoutError, match="gen_dict"):
        load_published_aqgt_embedding(ha2g_ckpt[0])


# --- our format ----------------------------------------------------------------------------------------------------


def test_save_load_encoder_round_trip(tmp_path, ha2g_ckpt, aqgt_ckpt):
    model = load_published_motion_ae(ha2g_ckpt[0])
    save_encoder(model, tmp_path / "enc", source="published", extra={"dataset": "demo"})
    info = json.loads((tmp_path / "enc" / "config.json").read_text())
    assert info["arch"] == "motion_ae" and info["pose_dim"] == 126 and info["latent_dim"] == 128
    assert info["source"] == "published" and info["dataset"] == "demo"
    back = load_encoder(tmp_path / "enc")
    assert isinstance(back, MotionAE) and not back.training and back.config == model.config
    x = _windows(7)
    np.testing.assert_array_equal(back.features(x), model.features(x))
    for k, v in model.state_dict().items():
        assert torch.equal(back.state_dict()[k], v), k

    aqgt = load_published_aqgt_embedding(aqgt_ckpt[0])
    save_encoder(aqgt, tmp_path / "aqgt")
    x = _windows(7, 159)
    np.testing.assert_array_equal(load_encoder(tmp_path / "aqgt").features(x), aqgt.features(x))
    sampled = load_encoder(tmp_path / "aqgt", variational=True)
    assert sampled.config.variational and not np.allclose(sampled.features(x), sampled.features(x))


def test_published_extractor_is_recentred_on_the_published_mean(tmp_path, ha2g_ckpt):
    """Windows normalised with this dataset's train mean reach a published extractor as vectors minus the
    published mean: x + train mean - published mean, the same features as published-normalised windows."""
    from gesturegen.data.skeleton import TED_EXPRESSIVE
    published = TED_EXPRESSIVE.published_means()[1].reshape(-1)
    train_mean = published + np.linspace(-0.05, 0.05, 126, dtype=np.float32)
    raw = _windows(5) + published                                        # the same raw vectors, two normalisations
    as_published, as_train = raw - published, raw - train_mean
    model = load_published_motion_ae(ha2g_ckpt[0])
    save_encoder(model, tmp_path / "enc", source="published", extra={"dataset": "ted_expressive"})
    info = read_encoder_info(tmp_path / "enc")
    offset = recentring_offset(info["source"], "train", train_mean, published)
    np.testing.assert_allclose(offset, train_mean - published, atol=1e-7)
    np.testing.assert_allclose(model.features(as_train, offset=offset), model.features(as_published), atol=1e-4)
    assert not np.allclose(model.features(as_train), model.features(as_published), atol=1e-2)   # it matters
    # nothing to do for published normalisation or for our own (trained) extractors
    assert recentring_offset("published", "published", train_mean, published) is None
    assert recentring_offset("trained", "train", train_mean, published) is None
    with pytest.raises(CheckpointLayoutError, match="does not fit this skeleton"):
        recentring_offset("published", "train", train_mean[:9], published)
    with pytest.raises(ValueError, match="offset: expected 126 values"):
        model.features(as_train, offset=offset[:3])


def test_load_encoder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        load_encoder(tmp_path)
    save_encoder(MotionAE(MotionAEConfig(pose_dim=126)), tmp_path / "enc")
    cfg = json.loads((tmp_path / "enc" / "config.json").read_text())
    cfg["config"]["pose_dim"] = 159
    (tmp_path / "enc" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointLayoutError, match="shape mismatch"):
        load_encoder(tmp_path / "enc")


# --- the training loss ---------------------------------------------------------------------------------------------


def test_motion_ae_loss_matches_ha2g_formula():
    from gesturegen.systems.fgd_system import motion_ae_loss

    g = torch.Generator().manual_seed(0)
    pred, target = torch.randn(6, 34, 126, generator=g), torch.randn(6, 34, 126, generator=g)
    mean = torch.randn(126, generator=g)
    # HA2G train_feature_extractor_expressive.py, written out
    rec = F.l1_loss(pred, target, reduction="none").mean(dim=(1, 2))
    rec = rec + F.l1_loss(pred[:, 1:] - pred[:, :-1], target[:, 1:] - target[:, :-1], reduction="none").mean((1, 2))
    cos = torch.sum(1 - F.cosine_similarity(pred.view(6, 34, -1, 3), target.view(6, 34, -1, 3), dim=-1))
    expected = rec.sum() + 1e-3 * cos
    out = motion_ae_loss(pred, target, vel_weight=1.0, cos_weight=1e-3)
    torch.testing.assert_close(out["loss"], expected)
    # with the mean: the cosine compares the bone vectors themselves
    cos_m = torch.sum(1 - F.cosine_similarity((pred + mean).view(6, 34, -1, 3), (target + mean).view(6, 34, -1, 3),
                                              dim=-1))
    out_m = motion_ae_loss(pred, target, 1.0, 1e-3, mean_dir_vec=mean)
    torch.testing.assert_close(out_m["loss"], rec.sum() + 1e-3 * cos_m)
    assert motion_ae_loss(target, target, 1.0, 1e-3)["loss"].abs() < 1e-4

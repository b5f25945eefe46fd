"""The stroke plan (gesturegen.models.stroke_plan) and training-time guidance (DiffusionSystem's train_guidance)."""
from pathlib import Path

import numpy as np
import pytest
import torch

from gesturegen.models.denoisers import MODALITIES
from gesturegen.models.stroke_plan import (
    StrokePlanConfig,
    StrokePredictor,
    bumps,
    choose_threshold,
    fit_predictor,
    hit_mask,
    peaks,
    probabilities,
)
from tests.unit.test_diffusion import _cfg as _diffusion_cfg
from tests.unit.test_diffusion import _cond

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_peaks_are_local_maxima_above_the_threshold():
    p = torch.tensor([[0.1, 0.6, 0.4, 0.7, 0.2, 0.05, 0.3, 0.1, 0.1, 0.9]])
    assert peaks(p, 0.5, 1).nonzero()[:, 1].tolist() == [1, 3, 9]
    assert peaks(p, 0.5, 2).nonzero()[:, 1].tolist() == [3, 9]          # 0.6 lies within 2 frames of 0.7
    assert peaks(p, 0.25, 2).nonzero()[:, 1].tolist() == [3, 6, 9]


def test_bumps_are_gaussians_at_the_marked_frames_and_the_maximum_where_they_meet():
    mask = torch.zeros(2, 12, dtype=torch.bool)
    mask[0, 3] = mask[0, 5] = True
    out = bumps(mask, width=1.0, chunk=1)                              # chunked as for a whole split
    k = torch.arange(12.0)
    want = torch.maximum(torch.exp(-0.5 * (k - 3) ** 2), torch.exp(-0.5 * (k - 5) ** 2))
    torch.testing.assert_close(out[0], want)
    assert torch.equal(out[1], torch.zeros(12))                        # no stroke: no plan


def test_hit_mask_takes_the_nearest_frame_and_ignores_times_outside():
    m = hit_mask([np.array([0.0, 0.2, 0.34, 5.0]), np.array([])], fps=15, n_frames=10)
    assert m[0].nonzero()[0].tolist() == [0, 3, 5] and not m[1].any()


def test_the_predictor_learns_when_strokes_fall_and_the_threshold_is_chosen_on_held_out_windows():
    """Audio whose channel 0 jumps two frames before each stroke: the trained predictor's planned strokes match
    held-out windows' strokes almost exactly, and the threshold chosen is the one with the best F1 of its table."""
    rng = np.random.default_rng(0)

    def windows(n):
        x = rng.normal(0, 1, (n, 34, 3)).astype(np.float32)
        hits = []
        for i in range(n):
            k = np.sort(rng.choice(np.arange(6, 30, 6), size=2, replace=False) + rng.integers(0, 3, 2))
            x[i, k - 2, 0] += 4.0
            hits.append(k / 15.0)
        return torch.as_tensor(x), hits

    x_t, hits_t = windows(400)
    x_v, hits_v = windows(100)
    net = StrokePredictor(StrokePlanConfig(audio_dim=3, hidden=16, dropout=0.1))
    losses = fit_predictor(net, x_t, torch.as_tensor(hit_mask(hits_t, 15, 34)), epochs=30, lr=5e-3,
                           batch_size=50, seed=0)
    assert losses[-1] < 0.5 * losses[0] and not net.training
    th, table = choose_threshold(probabilities(net, x_v), hits_v, (0.1, 0.3, 0.5, 0.7, 0.9), 2, 15, 34, 4, 2)
    best = max(r["f1"] for r in table)
    assert next(r for r in table if r["threshold"] == th)["f1"] == best and best > 0.9


def _cfg(**kw):
    return _diffusion_cfg(steps=20, **kw)


def _planned_model():
    from gesturegen.models.latent_diffusion import LatentDiffusion, LatentDiffusionConfig

    torch.manual_seed(0)
    m = LatentDiffusion(LatentDiffusionConfig(denoiser=_cfg(plan_channels=1), steps=20,
                                              stroke_plan=StrokePlanConfig(audio_dim=5, hidden=8)))
    for p in list(m.net.parameters()) + list(m.plan.parameters()):     # zero-initialised outputs hide everything
        torch.nn.init.normal_(p, std=0.2)
    m.ema.load_state_dict(m.net.state_dict())
    m.plan_threshold.fill_(0.3)
    return m.eval()


def test_the_plan_rides_with_the_speech_and_is_saved_with_the_model(tmp_path):
    from gesturegen.models.diffusion import SamplerConfig
    from gesturegen.models.latent_diffusion import load_diffusion, null_keep, save_diffusion

    m = _planned_model()
    cond = _cond()
    seen = m.scale_conditions(cond)
    assert seen.audio_frames.shape == (3, 34, 6)                       # the plan: one channel more
    want = bumps(peaks(torch.sigmoid(m.plan(m.standardise("audio_frames", cond.audio_frames))), 0.3, 2), 1.0)
    torch.testing.assert_close(seen.audio_frames[..., -1], want)
    given = torch.zeros(3, 34)
    given[:, 10] = 1.0
    assert torch.equal(m.scale_conditions(cond, plan=given).audio_frames[..., -1], given)

    x, t = torch.randn(3, 4, 16), torch.tensor([1, 5, 15])
    other = m.scale_conditions(cond, plan=given)
    with torch.no_grad():
        assert not torch.allclose(m.net(x, t, seen, null_keep(3)), m.net(x, t, other, null_keep(3)))
        no_speech = null_keep(3, ("speech",))
        torch.testing.assert_close(m.net(x, t, seen, no_speech), m.net(x, t, other, no_speech))

    vq = {"dataset": "demo", "part": "body", "config": {"code_dim": 16}}
    save_diffusion(m, tmp_path / "m", {"dataset": "demo", "part": "body", "vqvae": {**vq, "path": "x"}})
    back = load_diffusion(tmp_path / "m", vqvae_info=vq)
    assert float(back.plan_threshold) == pytest.approx(0.3)
    s = SamplerConfig("dpmsolver++", steps=2)
    z1 = m.generate(cond, null_keep(3), s, generator=torch.Generator().manual_seed(0))
    z2 = back.generate(cond, null_keep(3), s, generator=torch.Generator().manual_seed(0))
    assert torch.equal(z1, z2)


def test_a_plan_needs_the_transformer_and_the_right_channel_count(tmp_path):
    import yaml

    from gesturegen.config import ParamsError, load_params
    from gesturegen.models.latent_diffusion import LatentDiffusionConfig

    with pytest.raises(ValueError, match="plan channel"):
        LatentDiffusionConfig(denoiser=_cfg(), steps=20, stroke_plan=StrokePlanConfig(audio_dim=5))
    with pytest.raises(ValueError, match="unet"):
        LatentDiffusionConfig(denoiser=_cfg(plan_channels=1, kind="unet"), steps=20,
                              stroke_plan=StrokePlanConfig(audio_dim=5))
    params = Path(__file__).resolve().parents[2] / "params.yaml"
    base = yaml.safe_load(params.read_text())
    for change, match in ((("denoiser", "unet"), "stroke_plan.mode"),
                          (("train_guidance", {"speech": 0.5}), "scales >= 1"),
                          (("train_guidance", {"voice": 2.0}), "unknown modalities")):
        p = yaml.safe_load(params.read_text())
        p["diffusion"][change[0]] = change[1]
        f = tmp_path / f"p_{change[0]}.yaml"
        f.write_text(yaml.safe_dump(p))
        with pytest.raises(ParamsError, match=match):
            load_params(f)
    assert base["diffusion"]["stroke_plan"]["mode"] == "predicted"


def _system(model, drop_speech: float, guidance: dict, n=8):
    from gesturegen.systems.diffusion_system import DiffusionSystem

    t = 34
    plans = torch.zeros(n, t)
    plans[:, 12] = 1.0
    return DiffusionSystem(model, torch.zeros(0, 32), torch.full((n, 1), -1), drop={"speech": drop_speech},
                           drop_all=0.0, plans=plans, val_plans=plans, train_guidance=guidance)


def _batch(n=8):
    g = torch.Generator().manual_seed(3)
    return (torch.arange(n), torch.randn(n, 4, 16, generator=g), torch.randn(n, 34, 5, generator=g),
            torch.randn(n, 34, 6, generator=g), torch.randn(n, 7, generator=g), torch.randn(n, 8, generator=g),
            torch.randn(n, 12, generator=g))


def test_training_guidance_moves_the_target_only_where_the_modality_is_kept():
    """With speech dropped from every sample, the guided loss is the plain one exactly (the second pass reuses the
    first one's dropout masks, so f(c) − f(c without speech) is 0); with speech kept it is not; the val loss never
    has the term."""
    m = _planned_model().train()
    batch = _batch()

    def loss(drop, guidance, val=False):
        torch.manual_seed(0)
        return _system(m, drop, guidance)._loss(batch, torch.Generator().manual_seed(1), val=val)

    assert float(loss(1.0, {"speech": 2.0})) == float(loss(1.0, {}))
    assert float(loss(0.0, {"speech": 2.0})) != pytest.approx(float(loss(0.0, {})), rel=1e-4)
    assert float(loss(0.0, {"speech": 2.0}, val=True)) == float(loss(0.0, {}, val=True))
    with pytest.raises(ValueError, match="scales >= 1"):
        _system(m, 0.0, {"speech": 0.5})
    assert "speech" in MODALITIES


def test_the_system_wants_plans_exactly_when_the_model_has_a_plan():
    from gesturegen.models.latent_diffusion import LatentDiffusion, LatentDiffusionConfig
    from gesturegen.systems.diffusion_system import DiffusionSystem

    plain = LatentDiffusion(LatentDiffusionConfig(denoiser=_cfg(), steps=20))
    with pytest.raises(ValueError, match="stroke plans"):
        DiffusionSystem(plain, torch.zeros(0, 32), torch.full((8, 1), -1), drop={}, plans=torch.zeros(8, 34))
    with pytest.raises(ValueError, match="stroke plans"):
        DiffusionSystem(_planned_model(), torch.zeros(0, 32), torch.full((8, 1), -1), drop={})


def test_without_hits_or_planned_strokes_the_highest_threshold_is_kept():
    th, table = choose_threshold(torch.zeros(4, 34), [np.array([])] * 4, (0.2, 0.5), 2, 15, 34, 4, 2)
    assert th == 0.5 and all(np.isnan(r["f1"]) for r in table)

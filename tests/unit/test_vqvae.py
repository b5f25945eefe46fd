"""The motion VQ-VAE (ldmc-spec §4.1) and its EMA-reset quantizer (§4.2): shapes, parameter counts of the original's
configurations, parts, latent normalisation, files, quantizer state and DDP synchronisation."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gesturegen.data.skeleton import get_skeleton
from gesturegen.models.quantizer import QuantizeEMAReset
from gesturegen.models.vqvae import (
    VQVAE,
    VQVAEConfig,
    VQVAEMismatchError,
    assemble,
    load_vqvae,
    part_dims,
    save_vqvae,
)

# (skeleton, in_dim, body out, hand out, the original's width = codebook size)
pytestmark = pytest.mark.usefixtures("one_torch_thread")

DATASETS = {"ted_expressive": (126, 36, 90, 1024), "aqgt": (159, 33, 126, 512)}


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)


def small(in_dim: int = 126, out_dim: int = 36, **kw) -> VQVAE:
    kw = {"width": 16, "code_dim": 32, "codebook_size": 16, **kw}
    return VQVAE(VQVAEConfig(in_dim, out_dim, **kw))


# --- shapes and sizes -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("in_dim,out_dim", [(126, 36), (126, 90), (159, 33), (159, 126)])
def test_shapes(in_dim, out_dim):
    m = small(in_dim, out_dim, code_dim=512)
    assert m.config.n_latent == 4 and m.config.final_padding == 2
    out = m(torch.randn(3, 34, in_dim))
    assert out.recon.shape == (3, 34, out_dim)
    assert out.latents.shape == (3, 4, 512)
    assert out.indices.shape == (3, 4) and out.indices.dtype == torch.int64
    assert out.commit.shape == () and out.perplexity.shape == ()
    assert m.encoder(torch.randn(3, 34, in_dim)).shape == (3, 4, 512)


@pytest.mark.parametrize("in_dim,out_dim,width,encoder,decoder", [
    (126, 36, 1024, 90.08, 89.81), (126, 90, 1024, 90.08, 89.97),      # TED Expressive body / hand
    (159, 33, 512, 23.07, 22.88), (159, 126, 512, 23.07, 23.02),       # AQGT body / hand
])
def test_parameter_counts_of_the_original(in_dim, out_dim, width, encoder, decoder):
    cfg = VQVAEConfig(in_dim, out_dim, width=VQVAEConfig.faithful_width(width), codebook_size=width, code_dim=512)
    with torch.device("meta"):                                           # counts only, no memory
        counts = VQVAE(cfg).parameter_count()
    assert round(counts["encoder"] / 1e6, 2) == encoder
    assert round(counts["decoder"] / 1e6, 2) == decoder
    assert counts["total"] == counts["encoder"] + counts["decoder"]      # the quantizer has buffers only


@pytest.mark.parametrize("down_t,n_latent", [(3, 4), (2, 8), (1, 17)])
def test_down_t_sets_the_latent_steps_and_keeps_34_frames(down_t, n_latent):
    m = small(126, 36, down_t=down_t)
    out = m(torch.randn(2, 34, 126))
    assert m.config.n_latent == n_latent
    assert out.latents.shape == (2, n_latent, 32) and out.indices.shape == (2, n_latent)
    assert out.recon.shape == (2, 34, 36)
    assert m.decode_indices(out.indices).shape == (2, 34, 36)


def test_bad_configs_raise():
    with pytest.raises(ValueError, match="latent_norm"):
        VQVAEConfig(126, 36, latent_norm="channel")
    with pytest.raises(ValueError, match="n_frames"):
        VQVAEConfig(126, 36, n_frames=35)
    with pytest.raises(ValueError, match="down_t"):
        VQVAEConfig(126, 36, down_t=-1)
    with pytest.raises(ValueError, match="down_t 6 gives 0 latent steps"):
        VQVAEConfig(126, 36, down_t=6)


# --- parts ----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(DATASETS))
def test_part_dims_agree_with_skeleton_split(name):
    sk = get_skeleton(name)
    in_dim, body_dim, hand_dim, _ = DATASETS[name]
    flat = np.random.default_rng(0).standard_normal((2, 34, in_dim)).astype(np.float32)
    body, hand = sk.split(flat)
    dims_b, dims_h = part_dims(sk, "body"), part_dims(sk, "hand")
    assert len(dims_b) == body_dim and len(dims_h) == hand_dim
    assert sorted(np.concatenate([dims_b, dims_h]).tolist()) == list(range(in_dim))
    np.testing.assert_array_equal(flat[..., dims_b], body)
    np.testing.assert_array_equal(flat[..., dims_h], hand)
    with pytest.raises(ValueError, match="part"):
        part_dims(sk, "face")


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_assemble_round_trip(name):
    sk = get_skeleton(name)
    rng = np.random.default_rng(1)
    flat = rng.standard_normal((2, 34, sk.dim)).astype(np.float32)
    keep = flat.copy()
    body, hand = sk.split(flat)
    for part, motion, other in (("body", body, hand), ("hand", hand, body)):
        dims = part_dims(sk, part)
        np.testing.assert_array_equal(assemble(flat, motion, dims), flat)
        new = rng.standard_normal(motion.shape).astype(np.float32)
        out = assemble(flat, new, dims)
        b, h = sk.split(out)
        np.testing.assert_array_equal(b if part == "body" else h, new)          # the part replaced ...
        np.testing.assert_array_equal(h if part == "body" else b, other)        # ... the other part untouched
        np.testing.assert_array_equal(out, sk.merge(*((new, hand) if part == "body" else (body, new))))
    np.testing.assert_array_equal(flat, keep)                                   # input not modified


# --- training -------------------------------------------------------------------------------------------------------

def test_original_ted_body_configuration_trains_one_step():
    """Acceptance: the original's TED Expressive body configuration (width 1024 by its slip, codebook 1024, code dim
    512, ~180 M parameters) builds and runs one training step on CPU at batch 2: forward (quantizer init + EMA
    update), SmoothL1 reconstruction + 0.001 commit, backward, AdamW(2e-4, (0.9, 0.99)) step."""
    cfg = VQVAEConfig(126, 36, width=VQVAEConfig.faithful_width(1024), codebook_size=1024, code_dim=512,
                      latent_norm="faithful")
    m = VQVAE(cfg).train()
    assert m.parameter_count()["total"] > 179e6
    opt = torch.optim.AdamW(m.parameters(), lr=2e-4, betas=(0.9, 0.99), weight_decay=0.0)
    x = torch.randn(2, 34, 126)
    target = x[..., part_dims(get_skeleton("ted_expressive"), "body")]
    before = m.decoder.net[-1].weight.detach().clone()
    out = m(x)
    loss = F.smooth_l1_loss(out.recon, target) + 0.001 * out.commit
    assert torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is not None for p in m.parameters())
    assert m.encoder.net[0].weight.grad.abs().sum() > 0                 # through the straight-through estimator
    opt.step()
    assert not torch.equal(before, m.decoder.net[-1].weight)
    assert bool(m.quantizer.initted) and int(m.quantizer.updates) == 1


def test_straight_through_gradient_reaches_the_encoder():
    m = small().train()
    out = m(torch.randn(4, 34, 126))
    out.recon.pow(2).sum().backward()                                   # recon only, no commit term
    assert m.encoder.net[0].weight.grad.abs().sum() > 0
    assert m.norm.weight.grad.abs().sum() > 0


# --- latent normalisation -------------------------------------------------------------------------------------------

def test_latent_norm_faithful_unit_channels():
    m = small(latent_norm="faithful", code_dim=512)
    z = m.encode(torch.randn(5, 34, 126))
    torch.testing.assert_close(z.norm(dim=1), torch.ones(5, 512))       # each channel along the 4 steps


def test_latent_norm_vector_scaled_steps():
    m = small(latent_norm="vector", code_dim=512)
    z = m.encode(torch.randn(5, 34, 126))
    torch.testing.assert_close(z.norm(dim=2), torch.full((5, 4), math.sqrt(512 / 4)))
    zf = small(latent_norm="faithful", code_dim=512).encode(torch.randn(5, 34, 126))
    # same overall scale as the faithful mode (whose per-step norms only average to sqrt(C / L))
    assert abs(zf.pow(2).sum(dim=(1, 2)).mean().sqrt() - z.pow(2).sum(dim=(1, 2)).mean().sqrt()) < 1e-3


# --- indices, decoding, numpy ---------------------------------------------------------------------------------------

def test_indices_and_decoding_agree_with_forward_in_eval():
    m = small().train()
    x = torch.randn(6, 34, 126)
    m(x)                                                                # initialise the codebook
    m.eval()
    with torch.no_grad():
        out = m(x)
        torch.testing.assert_close(m.code_indices(x), out.indices, rtol=0, atol=0)
        torch.testing.assert_close(m.decode_indices(out.indices), out.recon)
        torch.testing.assert_close(m.decode_latents(out.latents), out.recon)
    res = m.run_numpy(x.numpy(), batch_size=4)
    np.testing.assert_allclose(res["recon"], out.recon.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(res["indices"], out.indices.numpy())
    assert res["latents"].shape == (6, 4, 32)
    empty = m.run_numpy(np.zeros((0, 34, 126), np.float32))
    assert empty["recon"].shape == (0, 34, 36) and empty["indices"].shape == (0, 4)
    assert m.decode_indices(torch.zeros((0, 4), dtype=torch.int64)).shape == (0, 34, 36)


def test_wrong_shapes_raise():
    m = small()
    for bad in (torch.randn(2, 34, 159), torch.randn(2, 30, 126), torch.randn(34, 126)):
        with pytest.raises(VQVAEMismatchError, match="expected motion"):
            m(bad)
    with pytest.raises(VQVAEMismatchError, match="code indices"):
        m.decode_indices(torch.zeros((2, 5), dtype=torch.int64))
    with pytest.raises(VQVAEMismatchError, match="outside"):
        m.decode_indices(torch.full((2, 4), 16, dtype=torch.int64))


# --- files ----------------------------------------------------------------------------------------------------------

def test_save_load_round_trip(tmp_path):
    m = small().train()
    for _ in range(3):
        m(torch.randn(4, 34, 126))
    m.eval()
    x = torch.randn(3, 34, 126)
    with torch.no_grad():
        ref = m(x)
    save_vqvae(m, tmp_path / "vq", {"dataset": "ted_expressive", "part": "body"})
    loaded = load_vqvae(tmp_path / "vq", dataset="ted_expressive", part="body")
    assert not loaded.training and loaded.config == m.config
    assert loaded.info["dataset"] == "ted_expressive" and loaded.info["part"] == "body"
    for name in ("codebook", "code_sum", "code_count", "initted", "updates"):
        assert torch.equal(getattr(loaded.quantizer, name), getattr(m.quantizer, name)), name
    assert int(loaded.quantizer.updates) == 3 and bool(loaded.quantizer.initted)
    with torch.no_grad():
        out = loaded(x)
    assert torch.equal(out.recon, ref.recon) and torch.equal(out.indices, ref.indices)
    assert torch.equal(out.latents, ref.latents)


def test_load_refuses_another_dataset_or_part(tmp_path):
    save_vqvae(small(), tmp_path / "vq", {"dataset": "ted_expressive", "part": "body"})
    with pytest.raises(VQVAEMismatchError, match="'ted_expressive'.*'aqgt'"):
        load_vqvae(tmp_path / "vq", dataset="aqgt")
    with pytest.raises(VQVAEMismatchError, match="'body'.*'hand'"):
        load_vqvae(tmp_path / "vq", dataset="ted_expressive", part="hand")
    with pytest.raises(ValueError, match="reserved"):
        save_vqvae(small(), tmp_path / "vq2", {"config": {}})
    with pytest.raises(FileNotFoundError):
        load_vqvae(tmp_path / "missing")


# --- quantizer ------------------------------------------------------------------------------------------------------

BUFFERS = ("codebook", "code_sum", "code_count", "initted", "updates")


def _state(q: QuantizeEMAReset, codebook, code_sum, code_count) -> None:
    st = q.state_dict()
    st.update(codebook=torch.as_tensor(codebook, dtype=torch.float32),
              code_sum=torch.as_tensor(code_sum, dtype=torch.float32),
              code_count=torch.as_tensor(code_count, dtype=torch.float32), initted=torch.tensor(True))
    q.load_state_dict(st)


def test_quantizer_state_is_buffers():
    q = QuantizeEMAReset(8, 3)
    assert set(q.state_dict()) == set(BUFFERS)
    assert list(q.parameters()) == []
    assert {n for n, _ in q.named_buffers()} == set(BUFFERS)


def test_first_training_forward_initialises_by_tiling_with_noise():
    k, c, mu = 10, 4, 0.99
    q = QuantizeEMAReset(k, c, mu=mu).train()
    x = torch.randn(3, c)
    out = q(x)
    counts = torch.bincount(out.indices, minlength=k).float()
    sums = F.one_hot(out.indices, k).float().t() @ x
    init = (q.code_sum - (1 - mu) * sums) / mu                          # undo the first EMA step
    tiled = x.repeat(4, 1)[:k]
    noise = init - tiled
    assert noise.abs().max() < 0.05 and noise.abs().min() > 0           # x tiled, plus small noise
    assert 0.001 < noise.std() < 0.01                                   # std 0.01 / sqrt(4) = 0.005
    torch.testing.assert_close(q.code_count, mu * torch.ones(k) + (1 - mu) * counts)
    assert bool(q.initted) and int(q.updates) == 1

    q2 = QuantizeEMAReset(4, c, mu=mu).train()                          # N >= K: the first K rows, no noise
    x2 = torch.randn(6, c)
    out2 = q2(x2)
    sums2 = F.one_hot(out2.indices, 4).float().t() @ x2
    torch.testing.assert_close((q2.code_sum - (1 - mu) * sums2) / mu, x2[:4])


def test_ema_update_matches_hand_computation():
    q = QuantizeEMAReset(4, 2, mu=0.9).train()
    cb = [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
    _state(q, cb, [[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]], [10.0] * 4)
    x = torch.tensor([[0.1, 0.0], [0.9, 0.1], [1.0, -0.1], [0.1, 0.8], [0.9, 0.9]])
    out = q(x)
    assert out.indices.tolist() == [0, 1, 1, 2, 3]
    # count: 0.9 * 10 + 0.1 * n;  sum: 0.9 * sum + 0.1 * Σx
    count = torch.tensor([9.1, 9.2, 9.1, 9.1])
    code_sum = torch.tensor([[0.01, 0.0], [9.0 + 0.19, 0.0], [0.01, 9.08], [9.09, 9.09]])
    torch.testing.assert_close(q.code_count, count)
    torch.testing.assert_close(q.code_sum, code_sum)
    torch.testing.assert_close(q.codebook, code_sum / count[:, None])
    torch.testing.assert_close(out.x_q, torch.tensor(cb)[out.indices])  # the codebook before this step's update
    assert q.dead_codes() == 0 and int(q.updates) == 1


def test_dead_codes_are_replaced_by_batch_vectors():
    q = QuantizeEMAReset(4, 2, mu=0.9).train()
    _state(q, [[0.0, 0.0], [1.0, 0.0], [5.0, 5.0], [-5.0, 5.0]], [[0.0, 0.0], [10.0, 0.0], [2.5, 2.5], [-2.5, 2.5]],
           [10.0, 10.0, 0.5, 0.5])
    x = torch.tensor([[0.1, 0.0], [0.9, 0.0], [1.1, 0.0]])               # N 3 < K 4: tiled x0 x1 x2 x0 + noise
    out = q(x)
    assert out.indices.tolist() == [0, 1, 1]
    assert q.code_count[2] < 1 and q.code_count[3] < 1
    assert q.dead_codes() == 2
    torch.testing.assert_close(q.codebook[2], x[2], atol=0.05, rtol=0)
    torch.testing.assert_close(q.codebook[3], x[0], atol=0.05, rtol=0)
    assert not torch.equal(q.codebook[2], x[2])                          # with noise
    torch.testing.assert_close(q.codebook[:2], q.code_sum[:2] / q.code_count[:2, None])


def test_eval_mode_changes_no_buffer():
    q = QuantizeEMAReset(8, 3).eval()
    q(torch.randn(5, 3))
    assert not bool(q.initted) and int(q.updates) == 0                  # no init in eval
    q.train()
    q(torch.randn(5, 3))
    q.eval()
    before = {k: v.clone() for k, v in q.state_dict().items()}
    for _ in range(3):
        q(torch.randn(5, 3))
    for k, v in q.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_straight_through_and_commit():
    q = QuantizeEMAReset(8, 3).train()
    q(torch.randn(16, 3))
    q.eval()
    x = torch.randn(6, 3, requires_grad=True)
    out = q(x)
    x_d = q.codebook[out.indices]
    torch.testing.assert_close(out.x_q, x_d)                            # the value of the code ...
    torch.testing.assert_close(out.commit, F.mse_loss(x.detach(), x_d))
    (g,) = torch.autograd.grad(out.x_q.sum(), x)
    torch.testing.assert_close(g, torch.ones_like(x))                   # ... the gradient of x
    (g,) = torch.autograd.grad(q(x).commit, x)
    torch.testing.assert_close(g, 2 * (x - x_d).detach() / x.numel())   # MSE(x, sg(x_q)): gradient to x only


def test_perplexity():
    q = QuantizeEMAReset(4, 2).eval()
    _state(q, [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], torch.zeros(4, 2), torch.ones(4))
    uniform = q(q.codebook.repeat(3, 1))
    assert abs(float(uniform.perplexity) - 4.0) < 1e-4
    single = q(torch.zeros(5, 2))
    assert abs(float(single.perplexity) - 1.0) < 1e-4
    half = q(torch.tensor([[0.0, 0.0], [1.0, 0.0]]))
    assert abs(float(half.perplexity) - 2.0) < 1e-4


def test_resume_from_state_dict_continues_identically():
    batches = [torch.randn(5, 3, generator=torch.Generator().manual_seed(i)) * (1 + i) for i in range(8)]
    q1 = QuantizeEMAReset(16, 3, mu=0.9, seed=7).train()
    for x in batches[:4]:
        q1(x)
    state = {k: v.clone() for k, v in q1.state_dict().items()}
    q2 = QuantizeEMAReset(16, 3, mu=0.9, seed=7).train()
    q2.load_state_dict(state)
    assert q1.dead_codes() > 0                                          # the reset noise is exercised
    torch.manual_seed(123)                                              # the global RNG must not matter
    for x in batches[4:]:
        q1(x)
    torch.manual_seed(456)
    for x in batches[4:]:
        q2(x)
    for k in BUFFERS:
        assert torch.equal(getattr(q1, k), getattr(q2, k)), k
    q3 = QuantizeEMAReset(16, 3, mu=0.9, seed=8).train()                # another seed: other noise
    q3.load_state_dict(state)
    for x in batches[4:]:
        q3(x)
    assert not torch.equal(q1.codebook, q3.codebook)


def test_bad_quantizer_input_raises():
    with pytest.raises(ValueError, match="codebook_size"):
        QuantizeEMAReset(1, 4)
    with pytest.raises(ValueError, match="expected"):
        QuantizeEMAReset(8, 4)(torch.randn(2, 3, 4))


# --- DDP ------------------------------------------------------------------------------------------------------------

DDP_K, DDP_C, DDP_MU, DDP_STEPS = 16, 4, 0.9, 4


def _ddp_worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    import torch.distributed as dist
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        q = QuantizeEMAReset(DDP_K, DDP_C, mu=DDP_MU, seed=3).train()
        gen = torch.Generator().manual_seed(100 + rank)                 # a different batch on each rank
        steps = []
        for _ in range(DDP_STEPS):
            x = torch.randn(6 + rank, DDP_C, generator=gen) + rank      # N < K: init and resets tile with noise
            before = {k: v.clone() for k, v in q.state_dict().items()}
            out = q(x)
            steps.append({"x": x, "indices": out.indices, "before": before,
                          "after": {k: v.clone() for k, v in q.state_dict().items()}})
        gathered = [torch.zeros_like(q.codebook) for _ in range(world)]
        dist.all_gather(gathered, q.codebook)
        torch.save({"steps": steps, "gathered": gathered}, f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_ddp_ranks_keep_one_codebook(tmp_path):
    """2 gloo processes, a different batch on each: every buffer identical across ranks after every step; the EMA
    statistics are those of the concatenated batch (counts summed over ranks); a single-process quantizer started
    from the same state and fed the concatenated batch gives the same statistics and codebook, the reset codes
    (drawn from the rows of all ranks) included."""
    import torch.distributed as dist
    import torch.multiprocessing as mp
    if not (dist.is_available() and dist.is_gloo_available()):
        pytest.skip("torch.distributed with the gloo backend is not available in this build")
    world = 2
    mp.spawn(_ddp_worker, args=(world, str(tmp_path / "init"), str(tmp_path)), nprocs=world, join=True)
    res = [torch.load(tmp_path / f"rank{r}.pt") for r in range(world)]
    assert torch.equal(res[0]["gathered"][0], res[0]["gathered"][1])
    assert not torch.equal(res[0]["steps"][0]["x"][:6], res[1]["steps"][0]["x"][:6])
    for step in range(DDP_STEPS):
        s0, s1 = res[0]["steps"][step], res[1]["steps"][step]
        for k in BUFFERS:
            assert torch.equal(s0["after"][k], s1["after"][k]), (step, k)
        prev = s0["before"]["code_count"] if step else torch.ones(DDP_K)     # step 0: after the init
        counts = sum(torch.bincount(s["indices"], minlength=DDP_K).float() for s in (s0, s1))
        torch.testing.assert_close(s0["after"]["code_count"], DDP_MU * prev + (1 - DDP_MU) * counts)
        if step == 0:
            continue
        ref = QuantizeEMAReset(DDP_K, DDP_C, mu=DDP_MU, seed=3).train()
        ref.load_state_dict(s0["before"])
        out = ref(torch.cat([s0["x"], s1["x"]]))
        assert torch.equal(out.indices, torch.cat([s0["indices"], s1["indices"]]))
        torch.testing.assert_close(ref.code_count, s0["after"]["code_count"])
        torch.testing.assert_close(ref.code_sum, s0["after"]["code_sum"])
        alive = ref.code_count >= 1.0
        assert alive.any() and not alive.all()          # live codes and reset ones: both must match
        torch.testing.assert_close(ref.codebook, s0["after"]["codebook"])


def test_residual_levels_quantise_what_the_first_codebook_misses():
    """levels > 1: every further codebook quantises the residual; the decode of continuous latents (diffusion's
    nearest-code path) equals the forward pass in eval mode, and more levels reconstruct the latents more closely."""
    import dataclasses

    x = torch.randn(64, 34, 126)
    errors = []
    for levels in (1, 3):
        m = VQVAE(dataclasses.replace(small().config, levels=levels)).train()
        assert len(m.residual) == levels - 1
        for _ in range(3):
            out = m(x)
            assert torch.isfinite(out.commit)
        m.eval()
        with torch.no_grad():
            out = m(x)
            torch.testing.assert_close(m.decode_latents(out.latents), out.recon)
            idx = m.code_indices(x)         # every level's code: (B, L) with one codebook, (B, L, levels) with more
            assert idx.shape == ((64, 4) if levels == 1 else (64, 4, levels))
            torch.testing.assert_close(idx[..., 0] if levels > 1 else idx, out.indices, rtol=0, atol=0)
            torch.testing.assert_close(m.decode_indices(idx), out.recon)
            if levels > 1:
                with pytest.raises(VQVAEMismatchError, match=r"\(B, 4, 3\); got \(64, 4, 2\)"):
                    m.decode_indices(idx[..., :2])
            flat = out.latents.reshape(-1, out.latents.shape[-1])
            total = m.quantizer.dequantize(m.quantizer.nearest(flat))
            for level in m.residual:
                total = total + level.dequantize(level.nearest(flat - total))
            errors.append(float((flat - total).pow(2).mean()))
    assert errors[1] < 0.8 * errors[0]

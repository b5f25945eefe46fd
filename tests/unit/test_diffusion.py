"""Latent diffusion: schedules, objectives, samplers (against an exact denoiser), denoisers, save/load."""
import numpy as np
import pytest
import torch

from gesturegen.generation import Join, join_seed
from gesturegen.models.denoisers import MODALITIES, Conditions, DenoiserConfig, FaithfulUNet, build_denoiser
from gesturegen.models.diffusion import SamplerConfig, SamplerError, Schedule, check_sampler, make_betas, nfe, sample

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_the_original_linear_schedule():
    s = Schedule(100)
    assert s.betas[0] == pytest.approx(0.001) and s.betas[-1] == pytest.approx(0.2)
    # ldmc-spec §6.4: ᾱ[1] = 0.99599, ᾱ[50] = 0.0667, ᾱ[99] = 2.04e-5
    assert s.alphas_cumprod[1] == pytest.approx(0.99599, abs=1e-5)
    assert s.alphas_cumprod[50] == pytest.approx(0.0667, abs=1e-4)
    assert s.alphas_cumprod[99] == pytest.approx(2.04e-5, rel=0.01)
    b = make_betas(1000)                                       # DDPM's 1e-4 .. 0.02 at 1000 steps
    assert b[0] == pytest.approx(1e-4) and b[-1] == pytest.approx(0.02)
    assert make_betas(10).max() == 0.999                      # the scaled linear schedule would pass 1
    c = make_betas(100, "cosine")
    assert np.all(np.diff(c) > 0) and c.max() <= 0.999


@pytest.mark.parametrize("objective", ["eps", "v", "x0"])
def test_objective_targets_convert_back_to_eps_and_x0(objective):
    s = Schedule(100, objective=objective)
    g = torch.Generator().manual_seed(0)
    x0, noise = torch.randn(6, 4, 8, generator=g), torch.randn(6, 4, 8, generator=g)
    t = torch.tensor([0, 1, 10, 50, 98, 99])
    xt = s.q_sample(x0, t, noise)
    eps, x0_hat = s.to_eps_x0(s.target(x0, noise, t), xt, t)
    assert torch.allclose(eps, noise, atol=2e-3) and torch.allclose(x0_hat, x0, atol=2e-3)


def _gaussian_denoiser(s: Schedule, mu: float, sigma: float):
    """The exact prediction for data x0 ~ N(mu, sigma^2 I), in the schedule's objective."""
    def net(x, t, keep):
        a = s._sa[t].view(-1, 1, 1)
        r = s._s1a[t].view(-1, 1, 1)
        eps = r * (x - a * mu) / (a * a * sigma ** 2 + r * r)
        x0 = (x - r * eps) / a
        return {"eps": eps, "x0": x0, "v": a * eps - r * x0}[s.objective]
    return net


@pytest.mark.parametrize("name, steps, objective", [("ddim", 99, "eps"), ("dpmsolver++", 10, "v"),
                                                    ("dpmsolver++", 25, "x0"), ("ddpm", 100, "eps"),
                                                    ("ddpm_lerp", 99, "v")])
def test_samplers_draw_the_data_distribution_from_an_exact_denoiser(name, steps, objective):
    s = Schedule(100, objective=objective)
    mu, sigma = 0.7, 0.5
    keep = torch.ones(4000, len(MODALITIES), dtype=torch.bool)
    x = sample(_gaussian_denoiser(s, mu, sigma), s, keep, (4000, 2, 3), SamplerConfig(name=name, steps=steps),
               MODALITIES, generator=torch.Generator().manual_seed(1))
    assert float(x.mean()) == pytest.approx(mu, abs=0.03)
    assert float(x.std()) == pytest.approx(sigma, abs=0.04)


def test_guidance_is_cond_plus_w_times_the_modality_difference():
    s = Schedule(30, objective="x0")
    calls = []

    def net(x, t, keep):          # predicts 1 + (speech kept) + 10 * (text kept)
        calls.append(keep.shape[0])
        return (1 + keep[:, 0].float() + 10 * keep[:, 1].float()).view(-1, 1, 1).expand_as(x).clone()

    keep = torch.ones(3, 4, dtype=torch.bool)
    cfg = SamplerConfig(name="ddim", steps=1, guidance={"speech": 3.0})
    x = sample(net, s, keep, (3, 1, 1), cfg, MODALITIES, generator=torch.Generator().manual_seed(0))
    # one step to t = 0 lands on the x0 prediction: 12 + (3 - 1) * (12 - 11) = 14
    assert torch.allclose(x, torch.full_like(x, 14.0), atol=0.05)
    assert calls == [6]                                        # cond and "no speech" as one batch of 2 x 3
    assert nfe(cfg, 30, MODALITIES) == 2 and nfe(SamplerConfig("ddpm_lerp"), 100, MODALITIES) == 198


@pytest.mark.parametrize("cfg, match", [(SamplerConfig("ddim", steps=101), "1 … 100"),
                                        (SamplerConfig("dpmsolver++", steps=0), "1 … 100"),
                                        (SamplerConfig("ddpm_lerp", steps=10), "not supported"),
                                        (SamplerConfig("ddpm", steps=10), "not supported"),
                                        (SamplerConfig("euler"), "choose one of"),
                                        (SamplerConfig("ddim", guidance={"gaze": 2.0}), "unknown modalities")])
def test_unsupported_sampler_settings_are_refused(cfg, match):
    with pytest.raises(SamplerError, match=match):
        check_sampler(cfg, 100, MODALITIES)


def _cfg(kind="transformer", **kw):
    return DenoiserConfig(n_latent=4, code_dim=16, n_frames=34, audio_frame_dim=5, text_frame_dim=6,
                          audio_pooled_dim=7, text_pooled_dim=8, seed_dim=12, style_dim=32, kind=kind, width=32,
                          layers=2, heads=4, **kw)


def _cond(b=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return Conditions(torch.randn(b, 34, 5, generator=g), torch.randn(b, 34, 6, generator=g),
                      torch.randn(b, 7, generator=g), torch.randn(b, 8, generator=g), torch.randn(b, 12, generator=g),
                      torch.randn(b, 32, generator=g))


def test_the_faithful_unet_has_the_original_size():
    c = DenoiserConfig(n_latent=4, code_dim=512, n_frames=34, audio_frame_dim=68, text_frame_dim=384,
                       audio_pooled_dim=512, text_pooled_dim=768, seed_dim=504, style_dim=1024, kind="unet")
    u = FaithfulUNet(c)
    n = sum(p.numel() for p in u.parameters()) - sum(p.numel() for p in u.seed_enc.parameters())
    # ldmc-spec §6.3: 11.36 M parameters, of which label_emb (1024 x 1536, never used) is left out here
    assert (n + 1024 * 1536) / 1e6 == pytest.approx(11.36, abs=0.005)
    keep = torch.ones(2, 4, dtype=torch.bool)
    cond = Conditions(torch.zeros(2, 34, 68), torch.zeros(2, 34, 384), torch.randn(2, 512), torch.randn(2, 768),
                      torch.randn(2, 504), torch.zeros(2, 1024))
    assert u(torch.randn(2, 4, 512), torch.tensor([1, 99]), cond, keep).shape == (2, 4, 512)
    frozen = FaithfulUNet(DenoiserConfig(**{**c.__dict__, "train_seed_encoder": False}))
    assert not any(p.requires_grad for p in frozen.seed_enc.parameters())   # the original's bug, on request


def test_the_cross_attention_is_multi_head_attention():
    """Our written-out attention (pre-scaled, transposed keys) against torch's reference, values and gradients."""
    import torch.nn.functional as F

    from gesturegen.models.denoisers import _CrossAttention
    torch.manual_seed(0)
    ca = _CrossAttention(32, 4)
    h, mem = torch.randn(5, 4, 32, requires_grad=True), torch.randn(5, 34, 32)
    out = ca(h, ca.kv(mem))
    k, v = ca.kv_proj(mem).chunk(2, dim=-1)
    ref = F.scaled_dot_product_attention(ca._split(ca.q(h)), ca._split(k), ca._split(v))
    ref = ca.o(ref.transpose(1, 2).reshape(5, 4, 32))
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=1e-5)
    g_out, = torch.autograd.grad(out.square().sum(), h)
    g_ref, = torch.autograd.grad(ref.square().sum(), h)
    torch.testing.assert_close(g_out, g_ref, atol=1e-5, rtol=1e-4)


def test_the_token_self_attention_is_torchs_multi_head_attention():
    """_TokenAttention has nn.MultiheadAttention's parameters: its weights load into it and give its values and
    gradients (so the state dict of the transformer is the same as with torch's module)."""
    from torch import nn

    from gesturegen.models.denoisers import _TokenAttention
    torch.manual_seed(0)
    ref = nn.MultiheadAttention(32, 4, batch_first=True)
    ours = _TokenAttention(32, 4)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in ref.state_dict().items()}
    ours.load_state_dict(ref.state_dict())
    h = torch.randn(5, 9, 32, requires_grad=True)
    out, want = ours(h), ref(h, h, h, need_weights=False)[0]
    torch.testing.assert_close(out, want, atol=1e-6, rtol=1e-5)
    g_out, = torch.autograd.grad(out.square().sum(), h)
    g_ref, = torch.autograd.grad(want.square().sum(), h)
    torch.testing.assert_close(g_out, g_ref, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("kind", ["transformer", "unet"])
def test_a_dropped_modality_changes_nothing_of_its_input(kind):
    torch.manual_seed(0)
    net = build_denoiser(_cfg(kind)).eval()
    for p in net.parameters():                       # zero-initialised outputs would hide everything
        torch.nn.init.normal_(p, std=0.2) if p.requires_grad else None
    x, t = torch.randn(3, 4, 16), torch.tensor([3, 50, 90])
    a, b = _cond(seed=0), _cond(seed=1)
    for j, m in enumerate(MODALITIES):
        if kind == "unet" and m == "style":
            continue                                  # the original has no style input
        keep = torch.ones(3, 4, dtype=torch.bool)
        keep[:, j] = False
        mixed = Conditions(*(fb if name_of(i) in owners(m) else fa
                             for i, (fa, fb) in enumerate(zip(a.fields(), b.fields()))))
        with torch.no_grad():
            assert torch.allclose(net(x, t, a, keep), net(x, t, mixed, keep), atol=1e-5), m
            assert not torch.allclose(net(x, t, a, torch.ones_like(keep)), net(x, t, mixed, torch.ones_like(keep)))


def name_of(i: int) -> str:
    return ("audio_frames", "text_frames", "audio_pooled", "text_pooled", "seed", "style")[i]


def owners(m: str) -> tuple[str, ...]:
    return {"speech": ("audio_frames", "audio_pooled"), "text": ("text_frames", "text_pooled"),
            "style": ("style",), "seed": ("seed",)}[m]


def test_latent_diffusion_round_trip_and_mismatch(tmp_path):
    from gesturegen.models.latent_diffusion import (
        DiffusionMismatchError,
        LatentDiffusion,
        LatentDiffusionConfig,
        load_diffusion,
        null_keep,
        save_diffusion,
    )

    cfg = LatentDiffusionConfig(denoiser=_cfg(steps=20), steps=20)
    m = LatentDiffusion(cfg)
    m.set_latent_stats(np.random.default_rng(0).normal(0.3, 2.0, (50, 4, 16)))
    vq = {"dataset": "demo", "part": "body", "config": {"code_dim": 16}}
    save_diffusion(m, tmp_path / "m", {"dataset": "demo", "part": "body", "vqvae": {**vq, "path": "x"}})
    back = load_diffusion(tmp_path / "m", dataset="demo", part="body", vqvae_info=vq)
    for (k, v), (k2, v2) in zip(m.state_dict().items(), back.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)
    with pytest.raises(DiffusionMismatchError, match="part 'body', not 'hand'"):
        load_diffusion(tmp_path / "m", part="hand")
    with pytest.raises(DiffusionMismatchError, match="VQ-VAE given is 'demo'/'hand'"):
        load_diffusion(tmp_path / "m", vqvae_info={**vq, "part": "hand"})
    z = back.generate(_cond(), null_keep(3), SamplerConfig("dpmsolver++", steps=2),
                      generator=torch.Generator().manual_seed(0))
    assert z.shape == (3, 4, 16)                       # renormalised as the VQ-VAE's "vector" latents
    assert torch.allclose(z.norm(dim=2), torch.full((3, 4), 2.0), atol=1e-4)


def test_speech_and_text_enter_standardised_with_the_train_statistics(tmp_path):
    """The default audio features are raw dB and Hz: the model standardises speech and text per dimension with the
    train split's statistics, keeps them in its weights (a saved model applies them itself), leaves seed and style
    alone, keeps a constant dimension finite, and with condition_scale "none" sees the features as given."""
    from gesturegen.models.latent_diffusion import LatentDiffusion, LatentDiffusionConfig, load_diffusion, \
        save_diffusion

    rng = np.random.default_rng(0)
    feats = {"audio_frames": rng.normal(-27.0, 25.0, (40, 34, 5)).astype(np.float32),
             "text_frames": rng.normal(0.1, 0.4, (40, 34, 6)).astype(np.float32),
             "audio_pooled": rng.normal(98.0, 84.0, (40, 7)).astype(np.float32),
             "text_pooled": rng.normal(0.0, 1.0, (40, 8)).astype(np.float32)}
    feats["text_pooled"][:, 3] = 5.0                          # constant in the train split
    m = LatentDiffusion(LatentDiffusionConfig(denoiser=_cfg(steps=20), steps=20))
    m.set_condition_stats(**feats)
    train = Conditions(*(torch.as_tensor(feats[k]) for k in ("audio_frames", "text_frames", "audio_pooled",
                                                             "text_pooled")), torch.randn(40, 12), torch.randn(40, 32))
    seen = m.scale_conditions(train)
    for name in ("audio_frames", "text_frames", "audio_pooled"):
        x = getattr(seen, name).double().reshape(-1, getattr(seen, name).shape[-1])
        assert torch.allclose(x.mean(0), torch.zeros(x.shape[1], dtype=torch.float64), atol=1e-4)
        assert torch.allclose(x.std(0, unbiased=False), torch.ones(x.shape[1], dtype=torch.float64), atol=1e-3)
    assert torch.equal(seen.text_pooled[:, 3], torch.zeros(40))       # mean removed, std kept at 1
    assert torch.equal(seen.seed, train.seed) and torch.equal(seen.style, train.style)
    vq = {"dataset": "demo", "part": "body", "config": {"code_dim": 16}}
    save_diffusion(m, tmp_path / "m", {"dataset": "demo", "part": "body", "vqvae": {**vq, "path": "x"}})
    back = load_diffusion(tmp_path / "m", vqvae_info=vq)
    assert torch.equal(back.scale_conditions(train).audio_frames, seen.audio_frames)
    raw = LatentDiffusion(LatentDiffusionConfig(denoiser=_cfg(steps=20), steps=20, condition_scale="none"))
    raw.set_condition_stats(**feats)
    assert torch.equal(raw.scale_conditions(train).audio_pooled, train.audio_pooled)


def test_reference_windows_never_overlap_and_stay_in_the_video():
    from gesturegen.generation import reference_windows

    vids = np.array(["a"] * 6 + ["b"] * 2 + ["c"])
    start = np.array([0, 0.6, 1.2, 2.4, 3.0, 9.0, 0, 0.5, 0])
    end = start + 2.2
    refs = reference_windows(vids, start, end, 5, np.random.default_rng(0))
    assert refs.shape == (9, 5)
    assert (refs[6:] == -1).all()                       # b's two windows overlap; c has one window
    for i in range(6):
        r = refs[i]
        assert (vids[r] == "a").all()
        assert ((end[r] <= start[i] + 1e-9) | (end[i] <= start[r] + 1e-9)).all()


def test_a_condition_of_the_wrong_dimension_is_refused():
    from gesturegen.models.latent_diffusion import (
        DiffusionMismatchError,
        LatentDiffusion,
        LatentDiffusionConfig,
        null_keep,
    )

    m = LatentDiffusion(LatentDiffusionConfig(denoiser=_cfg(steps=20), steps=20))
    bad = _cond()
    bad.text_frames = torch.zeros(3, 34, 7)               # 6 at training
    with pytest.raises(DiffusionMismatchError, match=r"condition text_frames: shape \(3, 34, 7\).*\(3, 34, 6\)"):
        m.generate(bad, null_keep(3), SamplerConfig("ddim", steps=2))


def tiny_ted_parts():
    """Body and hand PartModels on the 126-d TED vectors at tiny sizes (features of 5, 6, 7, 8 dims), random EMA
    weights (zero-initialised outputs would generate the mean only)."""
    from gesturegen.generation import PartModel
    from gesturegen.models.latent_diffusion import LatentDiffusion, LatentDiffusionConfig
    from gesturegen.models.vqvae import VQVAE, VQVAEConfig

    torch.manual_seed(0)
    parts = []
    for dims in (np.arange(0, 36), np.arange(36, 126)):
        vq = VQVAE(VQVAEConfig(in_dim=126, out_dim=dims.size, width=8, code_dim=16, codebook_size=8)).eval()
        dc = DenoiserConfig(n_latent=4, code_dim=16, n_frames=34, audio_frame_dim=5, text_frame_dim=6,
                            audio_pooled_dim=7, text_pooled_dim=8, seed_dim=4 * 126, style_dim=32, width=32,
                            layers=1, heads=4, steps=20)
        m = LatentDiffusion(LatentDiffusionConfig(denoiser=dc, steps=20)).eval()
        for p in m.ema.parameters():
            torch.nn.init.normal_(p, std=0.1)
        parts.append(PartModel(m, vq, dims))
    return parts


def test_long_form_chains_the_seed_frames_and_tells_silence():
    from gesturegen.generation import generate_long, style_latents
    from gesturegen.models.vqvae import VQVAEMismatchError

    parts = tiny_ted_parts()
    seeds_seen = []
    orig = parts[0].diffusion.generate

    def spy(cond, keep, *a, **kw):
        seeds_seen.append((cond.seed.reshape(4, 126).numpy().copy(), keep.clone()))
        return orig(cond, keep, *a, **kw)

    parts[0].diffusion.generate = spy
    rng = np.random.default_rng(0)
    n = 3
    feats = (rng.normal(size=(n, 34, 5)), rng.normal(size=(n, 34, 6)), rng.normal(size=(n, 7)), rng.normal(size=(n, 8)))
    first = rng.normal(size=(4, 126)).astype(np.float32)
    style = style_latents(parts[0], rng.normal(size=(34, 126)))
    out = generate_long(parts, *feats, SamplerConfig("ddim", steps=2), seed=0, first_seed=first,
                        styles=[style, None], audio=rng.normal(size=16000 * 6))
    assert out.motion.shape == (4 + n * 30, 126) and out.n_windows == n and not out.silent
    assert np.array_equal(seeds_seen[0][0], first)
    for k in range(1, n):            # later windows are seeded with the motion generated before them
        assert not np.allclose(seeds_seen[k][0], seeds_seen[k - 1][0])
        assert seeds_seen[k][1][0].tolist() == [True, True, True, True]
    seeds_seen.clear()
    again = generate_long(parts, *feats, SamplerConfig("ddim", steps=2), seed=0, first_seed=first,
                          styles=[style, None], audio=np.zeros(16000))
    assert again.silent and "silent" in again.notes[0] and again.motion.shape == out.motion.shape
    assert seeds_seen[0][1][0].tolist() == [False, True, True, True]      # no speech condition
    with pytest.raises(VQVAEMismatchError, match=r"\(34, 159\).*\(34, 126\)"):
        style_latents(parts[0], np.zeros((34, 159)))                      # an AQGT window for a TED model
    # the join: inertialize and paste keep every window's seed frames (the given first ones, then the motion
    # generated before); crossfade (long-form's join before) blends the window into them
    for method, keeps in (("inertialize", True), ("paste", True), ("crossfade", False)):
        j = generate_long(parts, *feats, SamplerConfig("ddim", steps=2), seed=0, first_seed=first,
                          styles=[style, None], join=Join(method))
        assert np.array_equal(j.motion[:4], first) == keeps, method


def _seam_case(n: int = 5, t: int = 34, d: int = 3, n_seed: int = 4):
    """Seeds on straight lines, and windows that continue them exactly but shifted by a constant offset."""
    rng = np.random.default_rng(1)
    start, step, offset = rng.normal(size=(n, 1, d)), rng.normal(size=(n, 1, d)), rng.normal(size=(n, 1, d))
    line = start + step * np.arange(t)[None, :, None]
    return line[:, :n_seed].astype(np.float32), (line + offset).astype(np.float32), line, step, offset


def test_join_seed_methods():
    seed, window, line, step, offset = _seam_case()
    pasted = join_seed(seed, window, Join("paste"))
    assert np.array_equal(pasted[:, :4], seed) and np.array_equal(pasted[:, 4:], window[:, 4:])
    faded = join_seed(seed, window, Join("crossfade"))
    ramp = (np.arange(1, 5) / 5)[None, :, None]
    np.testing.assert_allclose(faded[:, :4], (1 - ramp) * seed + ramp * window[:, :4], rtol=1e-6, atol=1e-6)
    assert np.array_equal(faded[:, 4:], window[:, 4:])
    inert = join_seed(seed, window, Join("inertialize", frames=6))
    assert np.array_equal(inert[:, :4], seed)
    assert np.array_equal(inert[:, 10:], window[:, 10:])                      # the offset is gone after 6 frames
    # the seam: paste jumps by the whole offset, inertialize continues the seed's velocity (the windows here have
    # the seed's velocity, so only the offset decays: by 1 - h00(1/6) = 7.4 % in the first frame)
    jump = lambda x: np.abs(x[:, 4] - x[:, 3] - step[:, 0]).max()
    assert jump(pasted) == pytest.approx(np.abs(offset).max(), rel=1e-5)
    assert jump(inert) < 0.08 * np.abs(offset).max()
    rest = np.abs(inert[:, 3:10] - window[:, 3:10])          # from the seed's line into the window: the offset left
    assert np.all(np.diff(rest, axis=1) <= 1e-6) and np.all(rest <= np.abs(offset) + 1e-6)
    # a window that already continues its seed is left as it is
    np.testing.assert_allclose(join_seed(seed, line.astype(np.float32), Join()), line, rtol=1e-6, atol=1e-5)
    # one window (T, D) as well as a batch; shapes that do not fit are refused
    assert np.array_equal(join_seed(seed[0], window[0]), inert[0])
    with pytest.raises(ValueError, match="do not fit"):
        join_seed(seed[:, :, :2], window)
    with pytest.raises(ValueError, match="one of paste, crossfade, inertialize"):
        Join("blend")
    with pytest.raises(ValueError, match="at least 1"):
        Join("inertialize", frames=0)



def test_a_sampling_memo_shares_the_context_between_runs_and_changes_no_sample():
    """evaluate's runs of a split share the scaled conditions (with the predicted stroke plan) and the denoiser's
    context through a SamplingMemo: every run's motion is the same with it or without, a later run builds nothing it
    can reuse and reports the reused build time, and a budget too small for an entry keeps nothing."""
    from gesturegen.generation import WindowInputs, generate_part
    from gesturegen.models.latent_diffusion import LatentDiffusion, LatentDiffusionConfig, SamplingMemo
    from gesturegen.models.stroke_plan import StrokePlanConfig
    from gesturegen.models.vqvae import VQVAE, VQVAEConfig

    torch.manual_seed(0)
    dc = DenoiserConfig(n_latent=4, code_dim=16, n_frames=34, audio_frame_dim=5, text_frame_dim=6,
                        audio_pooled_dim=7, text_pooled_dim=8, seed_dim=4 * 126, style_dim=32, width=32, layers=2,
                        heads=4, steps=20, plan_channels=1)
    m = LatentDiffusion(LatentDiffusionConfig(denoiser=dc, steps=20, stroke_plan=StrokePlanConfig(audio_dim=5,
                                                                                                   hidden=8))).eval()
    for p in m.parameters():
        torch.nn.init.normal_(p, std=0.1)
    m.plan_threshold.fill_(0.3)
    vq = VQVAE(VQVAEConfig(in_dim=126, out_dim=36, width=8, code_dim=16, codebook_size=8)).eval()
    rng = np.random.default_rng(0)
    n = 7
    inputs = WindowInputs(rng.normal(size=(n, 34, 5)).astype(np.float32), rng.normal(size=(n, 34, 6)).astype(np.float32),
                          rng.normal(size=(n, 7)).astype(np.float32), rng.normal(size=(n, 8)).astype(np.float32),
                          rng.normal(size=(n, 4, 126)).astype(np.float32), np.array([1, 2, -1, 0, 5, 6, 4]))
    refs = rng.normal(size=(n, 4, 16)).astype(np.float32)
    runs = [(SamplerConfig("dpmsolver++", steps=2), (), 0), (SamplerConfig("dpmsolver++", steps=4), (), 1),
            (SamplerConfig("dpmsolver++", steps=2), ("speech",), 0), (SamplerConfig("ddim", steps=3), (), 2)]
    context, calls = m.ema.context, []          # the EMA samples: count its context builds (the real method runs)
    m.ema.context = lambda *a: calls.append(1) or context(*a)
    memo = SamplingMemo(2 ** 30)
    for i, (sampler, drop, seed) in enumerate(runs):
        before = (len(memo.entries), memo.reused_seconds)
        calls.clear()
        with_memo = generate_part(m, vq, inputs, refs, sampler, seed, drop=drop, batch_size=4, memo=memo)
        assert len(calls) == {0: 2, 1: 0, 2: 2, 3: 0}[i]          # the sampler's own calls find the memo's context
        alone = generate_part(m, vq, inputs, refs, sampler, seed, drop=drop, batch_size=4)
        np.testing.assert_array_equal(with_memo, alone)
        built = len(memo.entries) - before[0]
        # 2 batches: the scaled conditions of each at the first run, the context of each new condition set
        assert built == {0: 4, 1: 0, 2: 2, 3: 0}[i]
        assert (memo.reused_seconds > before[1]) == (i > 0)
    assert memo.used_bytes > 0
    none = SamplingMemo(0)
    np.testing.assert_array_equal(generate_part(m, vq, inputs, refs, *runs[0][:1], 0, batch_size=4, memo=none),
                                  generate_part(m, vq, inputs, refs, *runs[0][:1], 0, batch_size=4))
    assert none.entries == {} and none.used_bytes == 0

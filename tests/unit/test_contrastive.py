"""Contrastive terms of the VQ-VAE (ldmc-spec §4.3): the original's one-directional loss against a naive float64
implementation of its formula, the guards for single-video batches, InfoNCE / SupCon and the projections."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gesturegen.models.contrastive import Contrastive, ContrastiveConfig, faithful_loss, info_nce, sup_con

pytestmark = pytest.mark.usefixtures("one_torch_thread")

B, C = 6, 32
VIDEOS = torch.tensor([0, 0, 1, 2, 1, 3])


def naive_faithful(g, o, mask, tau, dtype=torch.float64):
    """ldmc-spec §4.3 literally: S[a,b] = cos(g[a], o[b]) / τ; P_a = Σ M e^S; N_a = Σ (1-M) e^S;
    loss = mean_a -(Σ_b M[a,b]) log(P_a / N_a)."""
    g, o, m = g.to(dtype), o.to(dtype), mask.to(dtype)
    s = (g / g.norm(dim=1, keepdim=True)) @ (o / o.norm(dim=1, keepdim=True)).t() / tau
    e = torch.exp(s)
    p, n = (m * e).sum(1), ((1 - m) * e).sum(1)
    return (-m.sum(1) * torch.log(p / n)).mean()


def inputs(seed: int = 0, b: int = B, c: int = C):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(b, c, generator=gen), torch.randn(b, c, generator=gen)


def batch(cfg: ContrastiveConfig, video_ids: torch.Tensor, seed: int = 0, requires_grad: bool = False):
    gen = torch.Generator().manual_seed(seed)
    b = len(video_ids)
    z = torch.randn(b, 4, cfg.code_dim, generator=gen).requires_grad_(requires_grad)
    return {"z": z, "audio_pooled": torch.randn(b, cfg.audio_dim, generator=gen),
            "text_pooled": torch.randn(b, cfg.text_dim, generator=gen),
            "audio_frames": torch.randn(b, 34, cfg.audio_frame_dim, generator=gen),
            "text_frames": torch.randn(b, 34, cfg.text_frame_dim, generator=gen), "video_ids": video_ids}


# --- the original's loss --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("tau", [1.0, 0.1])
@pytest.mark.parametrize("which", ["identity", "same_video"])
def test_faithful_loss_equals_the_formula(tau, which):
    g, o = inputs(1)
    mask = torch.eye(B) if which == "identity" else (VIDEOS[:, None] == VIDEOS[None, :]).float()
    got = faithful_loss(g, o, mask, tau)
    torch.testing.assert_close(got.double(), naive_faithful(g, o, mask, tau), rtol=1e-5, atol=1e-5)
    if which == "same_video":                                       # the style term: g against itself
        torch.testing.assert_close(faithful_loss(g, g, mask, tau).double(), naive_faithful(g, g, mask, tau),
                                   rtol=1e-5, atol=1e-5)


def test_faithful_loss_direction_is_rows_of_the_first_argument():
    g, o = inputs(2)
    mask = torch.zeros(B, B)
    mask[0, 1] = mask[1, 0] = 1                                      # asymmetric use of g and o
    mask += torch.eye(B)
    assert not torch.allclose(faithful_loss(g, o, mask, 0.5), faithful_loss(o, g, mask, 0.5))
    torch.testing.assert_close(faithful_loss(o, g, mask, 0.5).double(), naive_faithful(o, g, mask, 0.5),
                               rtol=1e-5, atol=1e-5)


def test_faithful_loss_finite_where_naive_float32_overflows():
    g, o = inputs(3)
    o[0] = g[0] * 2.0                                               # cos 1 -> S = 100 -> e^100 > float32 max
    mask = torch.eye(B)
    naive32 = naive_faithful(g, o, mask, 0.01, dtype=torch.float32)
    assert not torch.isfinite(naive32)
    got = faithful_loss(g, o, mask, 0.01)
    assert torch.isfinite(got)
    torch.testing.assert_close(got.double(), naive_faithful(g, o, mask, 0.01), rtol=1e-4, atol=1e-3)
    gr = g.clone().requires_grad_(True)
    faithful_loss(gr, o, mask, 0.01).backward()
    assert torch.isfinite(gr.grad).all()


def test_faithful_loss_none_without_negatives():
    g, _ = inputs(4)
    assert faithful_loss(g, g, torch.ones(B, B), 1.0) is None       # every window from one video
    assert faithful_loss(g[:1], g[:1], torch.eye(1), 0.01) is None  # batch of one


def test_faithful_loss_leaves_out_rows_without_a_negative():
    g, o = inputs(9)
    mask = torch.eye(B)
    mask[0] = 1                                                      # row 0: every column positive (N_0 = 0)
    want = torch.stack([naive_faithful(g[a:a + 1], o, mask[a:a + 1], 0.5) for a in range(1, B)]).mean()
    torch.testing.assert_close(faithful_loss(g, o, mask, 0.5).double(), want, rtol=1e-5, atol=1e-5)


# --- InfoNCE and SupCon ---------------------------------------------------------------------------------------------

def test_info_nce_is_symmetric_and_standard_without_same_video_pairs():
    a, b = inputs(5)
    ids = torch.arange(B)
    torch.testing.assert_close(info_nce(a, b, VIDEOS, 0.1), info_nce(b, a, VIDEOS, 0.1))
    logits = F.normalize(a, dim=1) @ F.normalize(b, dim=1).t() / 0.1
    target = torch.arange(B)
    want = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))
    torch.testing.assert_close(info_nce(a, b, ids, 0.1), want)


def test_info_nce_same_video_windows_are_not_negatives():
    # a: orthonormal; changing b[j] within span(e_i, e_7) changes only cos(a[i], b[j]), i.e. the single pair (i, j)
    i, j = 0, 1
    a = torch.eye(8)[:4]
    b = torch.randn(4, 8, generator=torch.Generator().manual_seed(6))
    b[:, 7] = 0

    def with_pair(alpha: float, ids: torch.Tensor) -> torch.Tensor:
        bb = b.clone()
        rest = bb[j, :4].clone()
        rest[i] = 0
        r = 1.0                                                      # keep |b[j]| fixed: alpha^2 + beta^2 = r^2
        bb[j, :4] = rest
        bb[j, i], bb[j, 7] = alpha, (r ** 2 - alpha ** 2) ** 0.5
        return info_nce(a, bb, ids, 0.1)

    same = torch.tensor([0, 0, 1, 2])                               # i and j from one video
    torch.testing.assert_close(with_pair(0.9, same), with_pair(-0.9, same), rtol=0, atol=1e-6)
    other = torch.tensor([0, 1, 2, 3])                              # control: as a negative it matters
    assert abs(float(with_pair(0.9, other) - with_pair(-0.9, other))) > 1e-2


def naive_sup_con(z, ids, tau):
    zn = z.double() / z.double().norm(dim=1, keepdim=True)
    s = zn @ zn.t() / tau
    losses = []
    for a in range(len(ids)):
        pos = [p for p in range(len(ids)) if p != a and ids[p] == ids[a]]
        if not pos or all(ids[k] == ids[a] for k in range(len(ids))):
            continue
        den = torch.logsumexp(torch.stack([s[a, k] for k in range(len(ids)) if k != a]), 0)
        losses.append(-torch.stack([s[a, p] - den for p in pos]).mean())
    return torch.stack(losses).mean()


def test_sup_con_equals_the_formula():
    z, _ = inputs(7)
    torch.testing.assert_close(sup_con(z, VIDEOS, 0.2).double(), naive_sup_con(z, VIDEOS, 0.2), rtol=1e-5,
                               atol=1e-6)


def test_single_video_batches_return_none():
    a, b = inputs(8)
    one = torch.zeros(B, dtype=torch.int64)
    assert info_nce(a, b, one, 0.1) is None
    assert sup_con(a, one, 0.2) is None
    assert sup_con(a, torch.arange(B), 0.2) is None                  # no positive anywhere


# --- the module -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode,skipped", [("faithful", 1), ("infonce", 3)])
def test_single_video_batch_is_counted_and_finite(mode, skipped):
    cfg = ContrastiveConfig(mode=mode, code_dim=C)
    terms = Contrastive(cfg)(**batch(cfg, torch.zeros(B, dtype=torch.int64)))
    assert terms.skipped == skipped
    assert terms.style is None
    assert torch.isfinite(terms.total)
    if mode == "faithful":                                           # identity masks still have negatives
        assert terms.text is not None and terms.audio is not None
        torch.testing.assert_close(terms.total, cfg.weight * (terms.text + terms.audio))
    else:
        assert terms.text is None and terms.audio is None and float(terms.total) == 0.0


def test_faithful_module_matches_the_spec_table():
    cfg = ContrastiveConfig(mode="faithful", code_dim=C, audio_dim=C, text_dim=20)
    mod = Contrastive(cfg)
    x = batch(cfg, VIDEOS)
    terms = mod(**x)
    z = x["z"]
    text = x["text_pooled"] @ mod.text_proj.t()
    eye, same = torch.eye(B), (VIDEOS[:, None] == VIDEOS[None, :]).float()
    torch.testing.assert_close(mod.audio_proj, torch.eye(C))        # audio already code_dim: no projection
    torch.testing.assert_close(terms.text.double(), naive_faithful(z[:, 0], text, eye, 0.01), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(terms.audio.double(), naive_faithful(z[:, 1], x["audio_pooled"], eye, 0.01),
                               rtol=1e-4, atol=1e-4)
    style = 0.5 * (naive_faithful(z[:, 2], z[:, 2], same, 1.0) + naive_faithful(z[:, 3], z[:, 3], same, 1.0))
    torch.testing.assert_close(terms.style.double(), style, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(terms.total, 5e-7 * (terms.text + terms.audio + terms.style))
    assert terms.skipped == 0 and list(mod.parameters()) == []


def test_mode_off_is_zero_without_gradient():
    cfg = ContrastiveConfig(mode="none", code_dim=C)
    terms = Contrastive(cfg)(**batch(cfg, VIDEOS, requires_grad=True))
    assert float(terms.total) == 0.0 and not terms.total.requires_grad
    assert (terms.text, terms.audio, terms.style, terms.skipped) == (None, None, None, 0)
    assert list(Contrastive(cfg).parameters()) == []


def test_frozen_projections_are_seeded_buffers():
    cfg = ContrastiveConfig(mode="infonce", code_dim=C)
    m1, m2 = Contrastive(cfg), Contrastive(cfg)
    m3 = Contrastive(ContrastiveConfig(mode="infonce", code_dim=C, projection_seed=1))
    names = {n for n, _ in m1.named_parameters()}
    for buf in ("text_proj", "audio_proj"):
        assert buf in dict(m1.named_buffers()) and buf in m1.state_dict() and buf not in names
        assert torch.equal(getattr(m1, buf), getattr(m2, buf))
        assert not torch.equal(getattr(m1, buf), getattr(m3, buf))
    assert m1.text_proj.shape == (C, cfg.text_dim) and m1.audio_proj.shape == (C, cfg.audio_dim)
    bound = 1 / cfg.text_dim ** 0.5
    assert m1.text_proj.abs().max() <= bound


def test_infonce_heads_get_gradients():
    cfg = ContrastiveConfig(mode="infonce", code_dim=C, head_hidden=16)
    mod = Contrastive(cfg)
    x = batch(cfg, VIDEOS, requires_grad=True)
    terms = mod(**x)
    assert terms.skipped == 0
    w = cfg.weight_text * terms.text + cfg.weight_audio * terms.audio + cfg.weight_style * terms.style
    torch.testing.assert_close(terms.total, w)
    terms.total.backward()
    for name, p in mod.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert {n.split(".")[0] for n, _ in mod.named_parameters()} == {"audio_head", "text_head"}
    assert x["z"].grad[:, :4].abs().sum(-1).gt(0).all()              # every step of every window is pulled
    assert mod.text_proj.grad is None


def test_needs_four_latent_steps():
    cfg = ContrastiveConfig(mode="infonce", code_dim=C)
    x = batch(cfg, VIDEOS)
    x["z"] = x["z"][:, :3]
    with pytest.raises(ValueError, match="4 latent steps"):
        Contrastive(cfg)(**x)

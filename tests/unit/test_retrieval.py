"""R-precision, multimodal distance and the masked InfoNCE of the sync evaluator."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from gesturegen.metrics.retrieval import RetrievalError, multimodal_distance, r_precision
from gesturegen.models.sync_evaluator import info_nce


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_matched_embeddings_are_retrieved_and_random_ones_score_chance():
    rng = np.random.default_rng(0)
    s = _unit(rng.standard_normal((400, 16)))
    vids = np.arange(400) // 10
    assert r_precision(s, s, vids, rng) == {"top1": 1.0, "top2": 1.0, "top3": 1.0}
    rand = r_precision(s, _unit(rng.standard_normal((400, 16))), vids, rng, trials=5)
    for k in (1, 2, 3):
        assert abs(rand[f"top{k}"] - k / 32) < 0.03


def test_identical_motion_for_every_window_scores_exactly_chance():
    # ties are a random order, not a win: the mean pose must not look perfectly synchronised
    rng = np.random.default_rng(1)
    s = _unit(rng.standard_normal((100, 8)))
    m = np.repeat(s[:1], 100, 0)
    out = r_precision(s, m, np.arange(100) // 5, rng, pool=32)
    assert out == pytest.approx({"top1": 1 / 32, "top2": 2 / 32, "top3": 3 / 32})


def test_windows_of_the_same_video_are_never_distractors():
    rng = np.random.default_rng(2)
    s = _unit(rng.standard_normal((60, 8)))
    vids = np.arange(60) // 20
    m = s.copy()
    for v in range(3):                 # every window of a video gets the same motion: a perfect same-video decoy
        m[vids == v] = s[vids == v][0]
    hit = r_precision(s, m, vids, rng, pool=32)
    first = np.r_[[np.flatnonzero(vids == v)[0] for v in range(3)]]
    # the first window of each video is retrieved perfectly; decoys from its own video would have tied with it
    assert hit["top1"] >= len(first) / 60
    mm = r_precision(s[first.repeat(20)], m, vids, rng, pool=32)   # speech of the first window for all
    assert mm["top1"] == 1.0                                       # no same-video decoy ever enters the pool


def test_too_few_windows_of_other_videos_is_a_clear_error():
    s = np.eye(10)
    with pytest.raises(RetrievalError, match="needs at least 31 windows from other videos"):
        r_precision(s, s, np.arange(10) // 5, np.random.default_rng(0))
    assert r_precision(s, s, np.arange(10) // 5, np.random.default_rng(0), pool=4)["top1"] == 1.0


def test_multimodal_distance():
    s = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert multimodal_distance(s, s) == 0
    assert multimodal_distance(s, -s) == pytest.approx(2.0)
    with pytest.raises(RetrievalError):
        multimodal_distance(s, s[:1])


def test_info_nce_masks_same_video_negatives():
    g = torch.Generator().manual_seed(0)
    s = torch.nn.functional.normalize(torch.randn(6, 4, generator=g), dim=1)
    m = torch.nn.functional.normalize(torch.randn(6, 4, generator=g), dim=1)
    # one video: no negatives at all, so nothing to contrast
    assert info_nce(s, m, torch.zeros(6, dtype=torch.long), 0.1).item() == pytest.approx(0.0, abs=1e-6)
    # all videos distinct: the plain CLIP loss
    logits = s @ m.T / 0.1
    t = torch.arange(6)
    plain = 0.5 * (torch.nn.functional.cross_entropy(logits, t) + torch.nn.functional.cross_entropy(logits.T, t))
    assert info_nce(s, m, torch.arange(6), 0.1).item() == pytest.approx(plain.item())
    # two windows per video: each row's candidates are its own pair and the other videos' windows only
    vids = torch.tensor([0, 0, 1, 1, 2, 2])
    sim = (s @ m.T / 0.1).numpy().astype(np.float64)
    terms = []
    for mat in (sim, sim.T):
        for i in range(6):
            cand = [i] + [j for j in range(6) if vids[j] != vids[i]]
            terms.append(np.log(np.exp(mat[i, cand]).sum()) - mat[i, i])
    assert info_nce(s, m, vids, 0.1).item() == pytest.approx(np.mean(terms), rel=1e-5)

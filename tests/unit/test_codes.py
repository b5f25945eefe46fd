"""Codebook usage analysis (gesturegen.codes) on hand-computed cases, and the codes format's round trip."""
import math

import numpy as np
import pandas as pd
import pytest

from gesturegen import codes
from gesturegen.data.annotations import WindowAnnotations

IDX = np.array([[1, 2, 3, 0],
                [1, 2, 3, 0],
                [1, 2, 3, 1],
                [0, 2, 3, 1],
                [1, 2, 3, 0]])


def test_counts_dead_codes_and_usage():
    counts = codes.code_counts(IDX, 5)
    assert counts.tolist() == [[1, 4, 0, 0, 0], [0, 0, 5, 0, 0], [0, 0, 0, 5, 0], [3, 2, 0, 0, 0]]
    assert counts.sum(0).tolist() == [4, 6, 5, 5, 0]
    assert codes.dead_codes(counts).tolist() == [4]
    assert codes.dead_codes(np.array([0, 3, 0])).tolist() == [0, 2]
    u = codes.usage_summary(counts.sum(0), top=2)
    assert (u["n"], u["used"], u["dead"], u["max_share"], u["top_codes"]) == (20, 4, 1, 0.3, [[1, 6], [2, 5]])
    su = codes.split_usage(IDX, 5)
    assert su["steps"][1]["perplexity"] == 1.0 and su["steps"][1]["used"] == 1 and len(su["steps"]) == 4


def test_perplexity_of_known_histograms():
    assert codes.perplexity([5, 5, 5, 5]) == pytest.approx(4.0)
    assert codes.perplexity([0, 7, 0]) == pytest.approx(1.0)
    # p = 1/4, 1/4, 1/2: H = 1.5 ln 2, perplexity 2^1.5
    assert codes.perplexity([1, 1, 2, 0]) == pytest.approx(2 ** 1.5)
    assert math.isnan(codes.perplexity([0, 0]))


def test_top_tuples_counts_and_ties():
    assert codes.top_tuples(IDX, 2) == [((1, 2, 3, 0), 3), ((0, 2, 3, 1), 1)]     # the tie broken by the tuple
    assert codes.top_tuples(IDX) == [((1, 2, 3, 0), 3), ((0, 2, 3, 1), 1), ((1, 2, 3, 1), 1)]
    assert codes.top_tuples(np.zeros((0, 4), np.int16)) == []


def test_window_labels_take_the_longest_overlap_inside_the_window():
    events = pd.DataFrame({"window": [0, 0, 1, 2], "label": ["big", "you", "one", "big"],
                           "start_s": [-1.0, 0.5, 2.5, -0.9], "end_s": [0.6, 1.2, 3.0, 0.4]})
    ann = WindowAnnotations(4, (np.zeros(0),) * 4, events, np.zeros(4, np.int64), ("s",), ("big", "one", "you"))
    # window 0: big overlaps [0, 0.6), you [0.5, 1.2): you; window 1: the event starts after the 2 s window
    assert codes.window_labels(ann, n_frames=30, fps=15).tolist() == ["you", "none", "big", "none"]


def test_subsample_and_embeddings():
    assert codes.subsample(5, 10, 0).tolist() == [0, 1, 2, 3, 4]
    s = codes.subsample(100, 10, 3)
    assert s.size == 10 and np.all(np.diff(s) > 0) and np.array_equal(s, codes.subsample(100, 10, 3))
    x = np.random.default_rng(0).standard_normal((40, 8))
    x[:20] += 5.0
    for method in ("pca", "tsne"):
        e = codes.embed_2d(x, method, seed=0, pca_dims=5)
        assert e.shape == (40, 2) and np.isfinite(e).all()
        # the two groups are apart along some axis
        assert np.abs(e[:20].mean(0) - e[20:].mean(0)).max() > e.std(0).max() * 0.5
    with pytest.raises(ValueError, match="'pca' or 'tsne'"):
        codes.embed_2d(x, "umap", 0)


def test_residual_levels_round_trip(tmp_path):
    """A model of K residual levels stores every level's code (N, L, K); the analysis reads the first level."""
    lat = np.random.default_rng(0).standard_normal((5, 4, 3)).astype(np.float32)
    idx = np.stack([IDX, (IDX + 1) % 5, (IDX + 2) % 5], axis=-1)
    codes.write_codes(tmp_path / "val", idx, lat, {"dataset": "demo", "part": "body", "codebook_size": 5})
    c = codes.open_codes(tmp_path / "val")
    assert c.meta["levels"] == 3 and c.indices.shape == (5, 4, 3) and np.array_equal(c.first, IDX)
    np.save(tmp_path / "val/indices.npy", idx[..., :2].astype(np.int16))
    with pytest.raises(codes.CodesError, match=r"indices.npy: int16 \(5, 4, 2\).*says int16 \(5, 4, 3\)"):
        codes.open_codes(tmp_path / "val")


def test_write_and_open_round_trip(tmp_path):
    lat = np.random.default_rng(0).standard_normal((5, 4, 3)).astype(np.float32)
    codes.write_codes(tmp_path / "val", IDX, lat, {"dataset": "demo", "part": "body", "codebook_size": 5})
    c = codes.open_codes(tmp_path / "val")
    assert len(c) == 5 and c.indices.dtype == np.int16 and np.array_equal(c.indices, IDX)
    assert np.array_equal(c.latents, lat) and c.meta["format"] == "gesturegen-codes" and c.meta["code_dim"] == 3
    (tmp_path / "val/latents.npy").unlink()
    with pytest.raises(codes.CodesError, match="latents.npy: missing.*re-run extract_codes"):
        codes.open_codes(tmp_path / "val")
    with pytest.raises(codes.CodesError, match="no meta.json"):
        codes.open_codes(tmp_path)

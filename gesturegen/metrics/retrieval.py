"""Retrieval metrics of a speech <-> motion embedding space (Guo et al. 2022's text-to-motion protocol, for speech).

r_precision: for each query window i, a pool of `pool` motion embeddings: its own and pool - 1 others drawn from
windows of *other videos* (windows of the same video overlap or share a speaker and topic, so they are not fair
distractors); the pool is ranked by Euclidean distance to window i's speech embedding, and top-k counts the queries
whose own motion is among the k nearest. Chance is k / pool. Ties (e.g. every window given the same motion) count
as a random order among the tied candidates: the expected hit rate, not the optimistic one.

multimodal_distance: the mean Euclidean distance between each window's speech embedding and its motion embedding.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

TIE_TOL = 1e-6   # distances this close (relative to the true one, at least absolute) count as tied


class RetrievalError(ValueError):
    """Inputs that retrieval cannot score: the message says which and what to change."""


def _check(speech_emb: np.ndarray, motion_emb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s, m = np.asarray(speech_emb, np.float64), np.asarray(motion_emb, np.float64)
    if s.ndim != 2 or s.shape != m.shape:
        raise RetrievalError(f"speech and motion embeddings must be (n, d) of the same shape, got {s.shape} and "
                             f"{m.shape}")
    if not (np.isfinite(s).all() and np.isfinite(m).all()):
        raise RetrievalError("embeddings contain NaN/inf")
    return s, m


def _hit_rates(d_true: np.ndarray, d_others: np.ndarray, ks: Sequence[int]) -> np.ndarray:
    """(q,) true distances, (q, pool - 1) distractor distances -> (q, len(ks)) expected top-k hits."""
    tol = TIE_TOL * np.maximum(1.0, np.abs(d_true))[:, None]
    less = (d_others < d_true[:, None] - tol).sum(1)
    tied = (np.abs(d_others - d_true[:, None]) <= tol).sum(1)
    # the true candidate is uniformly placed among its `tied` equals: rank in less .. less + tied (0-based)
    return np.stack([np.clip((k - less) / (tied + 1), 0.0, 1.0) for k in ks], axis=1)


def _distinct_draws(size: int, rows: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """(rows, k) indices into range(size), each row k distinct values, uniform over such rows: draw with
    replacement, then redraw the rows that repeat a value (rejection sampling, cheap when k << size); when k is
    not small against size, the k smallest of `size` random keys per row instead."""
    if k * k > 4 * size:    # P(no repeat) ~ exp(-k^2 / 2 size) would make rejection slow
        return np.argpartition(rng.random((rows, size)), k - 1, axis=1)[:, :k]
    idx = rng.integers(0, size, (rows, k))
    while True:
        dup = (np.diff(np.sort(idx, axis=1), axis=1) == 0).any(axis=1)
        if not dup.any():
            return idx
        idx[dup] = rng.integers(0, size, (int(dup.sum()), k))


def r_precision(speech_emb: np.ndarray, motion_emb: np.ndarray, video_ids: np.ndarray, rng: np.random.Generator,
                pool: int = 32, ks: Sequence[int] = (1, 2, 3), trials: int = 1) -> dict[str, float]:
    """R-precision top-k among `pool` candidates (1 true + pool - 1 windows of other videos), averaged over queries
    and `trials` draws of the distractors. Returns {"top1": .., "top2": .., ...}."""
    s, m = _check(speech_emb, motion_emb)
    vids = np.asarray(video_ids)
    n = s.shape[0]
    if vids.shape != (n,):
        raise RetrievalError(f"video_ids must be ({n},), got {vids.shape}")
    if pool < 2 or trials < 1 or not ks or min(ks) < 1 or max(ks) > pool:
        raise RetrievalError(f"need pool >= 2, trials >= 1 and 1 <= k <= pool; got pool={pool}, trials={trials}, "
                             f"ks={tuple(ks)}")
    others: dict = {}
    for v in np.unique(vids):
        others[v] = np.flatnonzero(vids != v)
        if others[v].size < pool - 1:
            raise RetrievalError(f"R-precision among {pool} needs at least {pool - 1} windows from other videos "
                                 f"for every query; video {v} has only {others[v].size} (n={n} windows in "
                                 f"{np.unique(vids).size} videos): evaluate more windows or lower the pool")
    hits = np.zeros(len(ks))
    # every speech-motion distance once (n x n), then each trial only gathers
    sq = (s * s).sum(1)[:, None] + (m * m).sum(1)[None, :] - 2.0 * (s @ m.T)
    dist = np.sqrt(np.maximum(sq, 0.0))
    d_true = np.diagonal(dist).copy()
    queries = {v: np.flatnonzero(vids == v) for v in others}
    for _ in range(trials):
        idx = np.empty((n, pool - 1), dtype=np.int64)
        for v, rows in queries.items():   # per query: a uniform random subset of its video's others (no repeats)
            idx[rows] = others[v][_distinct_draws(others[v].size, rows.size, pool - 1, rng)]
        d_others = np.take_along_axis(dist, idx, axis=1)
        hits += _hit_rates(d_true, d_others, ks).mean(0)
    return {f"top{k}": float(h / trials) for k, h in zip(ks, hits)}


def multimodal_distance(speech_emb: np.ndarray, motion_emb: np.ndarray) -> float:
    """Mean Euclidean distance between each window's speech embedding and its motion embedding."""
    s, m = _check(speech_emb, motion_emb)
    return float(np.linalg.norm(s - m, axis=1).mean())


def retrieval_ranks(query: np.ndarray, candidates: np.ndarray, video_ids: np.ndarray, rng: np.random.Generator,
                    pool: int = 32, trials: int = 1) -> np.ndarray:
    """Rank (1 = best) of each query's own candidate among `pool` candidates by cosine similarity: its own and
    pool - 1 drawn from windows of other videos (as r_precision); ties count as half a place. Returns (n, trials)."""
    q, c = _check(query, candidates)
    q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    c = c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)
    vids = np.asarray(video_ids)
    n = q.shape[0]
    if vids.shape != (n,) or pool < 2 or trials < 1:
        raise RetrievalError(f"retrieval_ranks: video_ids ({n},), pool >= 2 and trials >= 1 needed; got "
                             f"{vids.shape}, {pool}, {trials}")
    sim = q @ c.T
    own = np.diagonal(sim).copy()
    ranks = np.empty((n, trials))
    groups = {v: (np.flatnonzero(vids == v), np.flatnonzero(vids != v)) for v in np.unique(vids)}
    for v, (rows, others) in groups.items():
        if others.size < pool - 1:
            raise RetrievalError(f"retrieval among {pool} needs {pool - 1} windows of other videos per query; video "
                                 f"{v} has {others.size}: evaluate more windows or lower the pool")
    for t in range(trials):
        for v, (rows, others) in groups.items():
            idx = others[_distinct_draws(others.size, rows.size, pool - 1, rng)]
            s_o = np.take_along_axis(sim[rows], idx, axis=1)
            tol = TIE_TOL * np.maximum(1.0, np.abs(own[rows]))[:, None]
            better = (s_o > own[rows, None] + tol).sum(1)
            tied = (np.abs(s_o - own[rows, None]) <= tol).sum(1)
            ranks[rows, t] = 1 + better + 0.5 * tied
    return ranks


def recall_summary(ranks: np.ndarray, video_ids: np.ndarray, ks: Sequence[int] = (1, 5)) -> dict[str, float | None]:
    """R@k and median rank of retrieval_ranks, with 95 % CIs of R@k over videos (each video's mean hit rate is one
    replicate: windows of one video are not independent)."""
    from gesturegen.metrics.motion import mean_ci95

    vids = np.asarray(video_ids)
    out: dict[str, float | None] = {"median_rank": float(np.median(ranks))}
    for k in ks:
        hit = (ranks <= k).mean(1)
        per_video = np.array([hit[vids == v].mean() for v in np.unique(vids)])
        mean = float(hit.mean())
        half = mean_ci95(per_video)[1] if per_video.size > 1 else float("nan")
        out[f"r{k}"] = round(mean, 6)
        out[f"r{k}_ci95"] = round(float(half), 6) if np.isfinite(half) else None
    return out

"""Diversity of generated gestures in the FGD feature space (metrics.md §2.3).

`diversity_faithful` is HA2G/DiffGesture/LDMC `EmbeddingSpaceEvaluator.get_diversity_scores` (AQGT: averaged over 100
permutations); `diversity` is our corrected, sample-level estimator. The BEAT/EMAGE "L1div" is a different quantity.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gesturegen.metrics.fgd import check_features

MAX_BATCHES = 500      # the published code keeps the first 500 batches


def _rng(seed: int | np.random.Generator) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def diversity_faithful(feat_batches: Sequence[np.ndarray], rng: int | np.random.Generator,
                       n_permutations: int = 1) -> float:
    """The published batch-permutation diversity.

    feat1 = the first 500 batches stacked; one random permutation of the *batch* indices (first 500 kept) gives feat2;
    the score is mean_i ||feat1[i] - feat2[i]||_1. Sample i is paired with the sample at the same row of the shuffled
    stack, i.e. the same in-batch index of another batch when batch sizes are equal (drop_last=True). A batch that
    the permutation maps to itself contributes zero distance. All batches must have the same shape. The original draws one unseeded torch.randperm; here
    `rng` (a Generator or an int seed) makes it reproducible, and n_permutations > 1 averages independent draws
    (AQGT uses 100).

    Args:
        feat_batches: per-batch feature arrays, each (B_k, D), in evaluation order.
    """
    if not len(feat_batches):
        raise ValueError("diversity_faithful: no feature batches")
    batches = [check_features(b, f"feature batch {k}", 1) for k, b in enumerate(feat_batches)]
    shapes = {b.shape for b in batches}
    if len(shapes) > 1:
        # unequal batches would silently pair rows across in-batch positions; the protocol uses drop_last=True
        raise ValueError(f"batch-permutation diversity needs equally sized batches (drop_last=True), got batch "
                         f"shapes {sorted(shapes)}")
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be >= 1, got {n_permutations}")
    gen = _rng(rng)
    feat1 = np.vstack(batches[:MAX_BATCHES])                                   # (N, D)
    scores = []
    for _ in range(n_permutations):
        perm = gen.permutation(len(batches))[:MAX_BATCHES]
        feat2 = np.vstack([batches[i] for i in perm])                          # (N, D), rows shuffled by batch
        scores.append(np.mean(np.sum(np.abs(feat1 - feat2), axis=-1)))
    return float(np.mean(scores))


def _derangement(n: int, gen: np.random.Generator) -> np.ndarray:
    # rejection sampling: a uniform permutation is a derangement with probability ~1/e
    while True:
        perm = gen.permutation(n)
        if not np.any(perm == np.arange(n)):
            return perm


def diversity(feats: np.ndarray, n_permutations: int = 100,
              seed: int | np.random.Generator = 0) -> tuple[float, float]:
    """Corrected diversity: mean L1 distance between sample i and sample perm[i], perm a uniform random derangement.

    Each permutation has no fixed point, so no sample is compared with itself and every sample appears exactly
    once on each side; no batch structure is involved. Returns (mean, std) over `n_permutations` seeded
    derangements: the mean of the per-permutation scores and their population std (ddof=0), i.e. the Monte-Carlo
    spread of a single-permutation estimate.
    """
    feats = check_features(feats, "features")
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be >= 1, got {n_permutations}")
    gen = _rng(seed)
    n = feats.shape[0]
    scores = np.array([np.mean(np.sum(np.abs(feats - feats[_derangement(n, gen)]), axis=1))
                       for _ in range(n_permutations)])                        # (n_permutations,)
    return float(scores.mean()), float(scores.std())

import numpy as np
import pytest

from gesturegen.metrics.diversity import diversity, diversity_faithful


def _line(n, d=4):
    f = np.zeros((n, d))
    f[:, 0] = np.arange(n)                           # f_i = i * e1
    return f


def test_single_batch_identity_permutation_is_zero():
    # one batch: the only batch permutation is the identity, so every sample is paired with itself
    assert diversity_faithful([_line(16)], rng=0) == 0.0


def test_two_batches_pair_rows_at_the_same_in_batch_index():
    a, b = _line(4), _line(4) + 10.0 * np.eye(4)[0]          # b_i = a_i + 10 e1
    values = {diversity_faithful([a, b], rng=s) for s in range(20)}
    assert values == {0.0, 10.0}                              # identity (self-pairing) or swap
    assert diversity_faithful([a, b], rng=0, n_permutations=400) == pytest.approx(5.0, abs=1.0)


def test_faithful_is_reproducible_with_a_seed_and_keeps_500_batches():
    rng = np.random.default_rng(0)
    batches = [rng.standard_normal((2, 3)) for _ in range(600)]
    batches[500:] = [b + 100.0 for b in batches[500:]]         # batches past the cap are far from the others
    v1 = diversity_faithful(batches, rng=np.random.default_rng(7))
    v2 = diversity_faithful(batches, rng=np.random.default_rng(7))
    assert v1 == v2 and v1 > 0
    # the published computation, written out: the first 500 batches against 500 batches drawn by one permutation
    perm = np.random.default_rng(7).permutation(600)[:500]
    expected = np.mean([np.abs(batches[i] - batches[j]).sum(-1).mean() for i, j in zip(range(500), perm)])
    assert v1 == pytest.approx(expected, rel=1e-12)
    uncapped = np.mean([np.abs(batches[i] - batches[j]).sum(-1).mean()
                        for i, j in zip(range(600), np.random.default_rng(7).permutation(600))])
    assert abs(uncapped - expected) > 10                      # so the comparison above does see the cap


def test_faithful_rejects_misaligned_batches_and_nan():
    with pytest.raises(ValueError, match="equally sized"):
        diversity_faithful([np.ones((3, 2)), np.ones((2, 2))], rng=1)      # a last batch without drop_last
    bad = np.ones((3, 2))
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        diversity_faithful([np.ones((3, 2)), bad], rng=0)
    with pytest.raises(ValueError, match="no feature batches"):
        diversity_faithful([], rng=0)


def test_corrected_never_pairs_a_sample_with_itself():
    assert diversity(_line(2), n_permutations=10) == (1.0, 0.0)   # the only derangement of 2 is the swap
    mean, std = diversity(_line(50), n_permutations=100, seed=3)
    # E|i - perm(i)| for a uniform derangement of 50 points is about n / 3
    assert mean == pytest.approx(50 / 3, rel=0.1) and std > 0


def test_corrected_is_deterministic_given_seed():
    f = np.random.default_rng(0).standard_normal((30, 5))
    assert diversity(f, seed=5) == diversity(f, seed=5)
    assert diversity(f, seed=5) == diversity(f, seed=np.random.default_rng(5))
    assert diversity(f, seed=5) != diversity(f, seed=6)


def test_corrected_errors():
    with pytest.raises(ValueError, match="at least 2"):
        diversity(np.ones((1, 3)))
    f = np.ones((4, 3))
    f[2, 2] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        diversity(f)

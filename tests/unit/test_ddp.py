"""Lightning DDP with 2 CPU processes (gloo) against one process: the VQ-VAE's codebooks are identical on both ranks
after every step, and both trainings end where one process with the whole batch ends (tests/ddp_fit.py)."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import ROOT


def _fit(system: str, devices: int, out) -> list[dict]:
    out.mkdir()
    p = subprocess.run([sys.executable, "-m", "tests.ddp_fit", "--system", system, "--devices", str(devices),
                        "--out", str(out)], cwd=ROOT, capture_output=True, text=True, check=False)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    ranks = [dict(np.load(out / f"rank{r}.npz")) for r in range(devices)]
    assert [bool(r["zero"]) for r in ranks] == [True] + [False] * (devices - 1)
    return ranks


def _weights(r: dict) -> dict:
    return {k: v for k, v in r.items() if k.startswith("w/")}


@pytest.fixture(scope="module")
def gloo():
    import torch.distributed as dist
    if not (dist.is_available() and dist.is_gloo_available()):
        pytest.skip("torch.distributed with the gloo backend is not available in this build")


@pytest.mark.parametrize("system", ["vqvae", "diffusion"])
def test_ddp_on_two_processes_trains_as_one_process_with_the_whole_batch(system, gloo, tmp_path):
    one, = _fit(system, 1, tmp_path / "one")
    r0, r1 = _fit(system, 2, tmp_path / "two")
    steps = sorted({k.split("/")[0] for k in r0 if k.startswith("step")})
    if system == "vqvae":                              # 2 epochs of 4 steps (64 windows, batch 16 = 2 x 8)
        assert len(steps) == 8
    for s in steps:                                    # the quantizer's state, after every training step
        for k in ("codebook", "code_sum", "code_count", "initted", "updates"):
            assert np.array_equal(r0[f"{s}/{k}"], r1[f"{s}/{k}"]), (s, k)
            np.testing.assert_allclose(r0[f"{s}/{k}"], one[f"{s}/{k}"], rtol=1e-4, atol=1e-5, err_msg=f"{s}/{k}")
    w0, w1, w = _weights(r0), _weights(r1), _weights(one)
    assert w0.keys() == w.keys() and len(w) > 10
    for k in w:
        assert np.array_equal(w0[k], w1[k]), k          # DDP keeps the ranks' weights identical
        np.testing.assert_allclose(w0[k], w[k], rtol=1e-4, atol=1e-5, err_msg=k)
    h0, h = json.loads(str(r0["history"])), json.loads(str(one["history"]))
    assert len(h0) == len(h) == 2
    for a, b in zip(h0, h):                            # the epoch means over both ranks' shares
        assert a.keys() == b.keys()
        for k, v in b.items():
            assert a[k] == (pytest.approx(v, rel=1e-5, abs=1e-7) if isinstance(v, float) else v), k
    # the speech/text terms are not trivially equal: one rank alone would see half the negatives
    if system == "vqvae":
        assert h[0]["train_audio"] > 0 and h[0]["train_text"] > 0 and h[0]["contrastive_skipped"] == 0


def test_a_batch_that_does_not_split_among_the_ranks_is_refused():
    import torch
    from torch.utils.data import TensorDataset

    from gesturegen.training import epoch_loader
    with pytest.raises(ValueError, match="a batch of 15 windows does not split into 2 equal shares"):
        epoch_loader(TensorDataset(torch.zeros(40, 1)), 15, 0, world=2)


def test_the_ranks_share_each_global_batch_in_order():
    """Rank r takes the r-th consecutive share of every global batch of the one-process order; a last short global
    batch is dropped."""
    from unittest import mock

    from gesturegen.training import EpochSampler
    one = list(EpochSampler(70, 3))
    shares = []
    for rank in range(2):
        with mock.patch("gesturegen.distributed.rank_world", return_value=(rank, 2)):
            s = EpochSampler(70, 3, batch_size=16, world=2)
            shares.append(list(s))
            assert len(s) == len(shares[-1]) == 32
    joined = [i for b in range(4) for r in range(2) for i in shares[r][8 * b: 8 * b + 8]]
    assert joined == one[:64]


def test_training_across_nodes_needs_one_slurm_task_per_process(monkeypatch):
    """num_nodes > 1 outside srun would wait for the other nodes for ever: refused, saying how to launch it; under
    srun the task count must be devices x num_nodes."""
    from pytorch_lightning.plugins.environments import LightningEnvironment, SLURMEnvironment

    from gesturegen.training import cluster_environment
    for var in ("SLURM_NTASKS", "SLURM_NTASKS_PER_NODE", "SLURM_JOB_NAME", "SLURM_JOB_ID"):
        monkeypatch.delenv(var, raising=False)
    assert isinstance(cluster_environment(2), LightningEnvironment)
    with pytest.raises(ValueError, match="compute.num_nodes is 2: training across nodes needs one SLURM task"):
        cluster_environment(4, 2)
    monkeypatch.setenv("SLURM_NTASKS", "2")
    monkeypatch.setenv("SLURM_JOB_NAME", "train")
    monkeypatch.setenv("SLURM_JOB_ID", "7")
    with pytest.raises(ValueError, match="SLURM started 2 tasks but compute.devices x compute.num_nodes is 4"):
        cluster_environment(4, 2)
    monkeypatch.setenv("SLURM_NTASKS_PER_NODE", "1")
    assert isinstance(cluster_environment(2, 2), SLURMEnvironment)
    monkeypatch.setenv("SLURM_NTASKS", "1")            # one task with N GPUs: Lightning starts the processes
    monkeypatch.delenv("SLURM_NTASKS_PER_NODE")
    assert isinstance(cluster_environment(4), LightningEnvironment)


def test_bf16_mixed_precision_trains_on_the_cpu(tmp_path):
    """compute.precision reaches Lightning: bf16 autocast gives other (finite) weights than 32-bit."""
    from tests.ddp_fit import main
    runs = {}
    for precision in ("32-true", "bf16-mixed"):
        (tmp_path / precision).mkdir()
        main(["--system", "diffusion", "--precision", precision, "--out", str(tmp_path / precision)])
        runs[precision] = _weights(dict(np.load(tmp_path / precision / "rank0.npz")))
    assert all(np.isfinite(v).all() for v in runs["bf16-mixed"].values())
    assert any(not np.allclose(runs["32-true"][k], runs["bf16-mixed"][k], atol=1e-6) for k in runs["32-true"])


@pytest.mark.parametrize(("device", "expected"), [
    ("cpu", {"accelerator": "cpu", "devices": 1, "deterministic": True}),
    ("cuda", {"accelerator": "gpu", "devices": [0], "deterministic": "warn"}),
    ("cuda:3", {"accelerator": "gpu", "devices": [3], "deterministic": "warn"}),
    ("mps", {"accelerator": "mps", "devices": 1, "deterministic": "warn"}),
])
def test_trainer_device_is_exact_on_a_cpu_and_warns_on_a_gpu(device, expected):
    """Every training stage's Trainer keywords: bit-exact on a CPU; on a GPU a kernel without a deterministic
    version (the UNet's upsampling backward) warns instead of stopping the training."""
    from gesturegen.training import trainer_device

    assert trainer_device(device) == expected


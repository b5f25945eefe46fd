"""Helpers shared by the training stages (no params, no model code): the fingerprint that decides whether a resume
checkpoint belongs to this run, the Lightning accelerator of a compute.device, and DVCLive curves from a history."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path


def run_fingerprint(*parts) -> str:
    """blake2b-128 of the JSON of `parts` (params, seeds, input checksums): a resume checkpoint of another run differs."""
    return hashlib.blake2b(json.dumps(parts, sort_keys=True, default=str).encode(), digest_size=16).hexdigest()


def lightning_device(device: str) -> tuple[str, object]:
    """(accelerator, devices) of Lightning's Trainer for a compute.device: cpu, cuda[:N] or mps."""
    if device == "cpu":
        return "cpu", 1
    if device.startswith("cuda"):
        return "gpu", [int(device.partition(":")[2] or 0)]
    return "mps", 1


def write_dvclive(live_dir: Path, history: list[dict]) -> None:
    """A per-epoch history as DVCLive metrics (dvclive/plots/metrics/*.tsv, step = epoch - 1)."""
    from dvclive import Live

    with Live(dir=str(live_dir), save_dvc_exp=False, dvcyaml=None, report=None, monitor_system=False) as live:
        for row in history:
            for k, v in row.items():
                if k != "epoch" and v is not None:
                    live.log_metric(k, v)
            live.next_step()

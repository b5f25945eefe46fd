"""Loading saved weights into a module, with errors that name the file and the keys (shared by every model)."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


class CheckpointLayoutError(ValueError):
    """A checkpoint does not have the layout of the module it is loaded into; the message names file and keys."""


def load_strict(module: nn.Module, state: dict, path: Path, what: str,
                ignore_prefixes: tuple[str, ...] = ()) -> None:
    """load_state_dict with a readable error: missing / unexpected keys and shape mismatches, by name.

    BatchNorm `num_batches_tracked` may be absent (pre-0.4.1 checkpoints); it is not used in eval mode.
    """
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointLayoutError(f"{path}: {what} is not a state dict of tensors")
    state = {k: v for k, v in state.items() if not k.startswith(ignore_prefixes)}
    expected = module.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k}: {tuple(state[k].shape)} in the file, {tuple(v.shape)} expected"
              for k, v in expected.items() if k in state and state[k].shape != v.shape]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing keys {missing}")
        if unexpected:
            parts.append(f"unexpected keys {unexpected}")
        if shapes:
            parts.append("shape mismatch " + "; ".join(shapes))
        hint = ""
        if any(k.startswith("module.") for k in unexpected):
            hint = " (the 'module.' prefix means it was saved from nn.DataParallel; strip it)"
        raise CheckpointLayoutError(f"{path}: {what} does not have the {type(module).__name__} layout: "
                                    + "; ".join(parts) + hint)
    for k, v in expected.items():
        if k not in state:   # num_batches_tracked only
            state[k] = v
    module.load_state_dict(state, strict=True)

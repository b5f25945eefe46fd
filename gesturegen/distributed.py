"""The few collectives that make a DDP training equal to one process with the whole batch (no params, no files).

Under Lightning DDP each rank holds an equal, consecutive share of every batch (gesturegen.training.EpochSampler).
What a model computes over the batch as a whole (the quantizer's EMA statistics and reset rows, the contrastive
losses, the per-epoch history) gathers or sums across ranks with these helpers; outside DDP they return their
input unchanged.
"""
from __future__ import annotations

import torch


def rank_world() -> tuple[int, int]:
    """(rank, world size) of the initialised default process group; (0, 1) without one."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def sum_ranks(t: torch.Tensor) -> torch.Tensor:
    """`t` summed over the ranks (in place, also returned)."""
    if rank_world()[1] > 1:
        torch.distributed.all_reduce(t)
    return t


def gather_rows(x: torch.Tensor, grad: bool = False) -> torch.Tensor:
    """The rows of `x` of every rank, concatenated in rank order (ranks may hold different numbers of rows).

    grad=True keeps the autograd graph: the gradient reaching a rank's rows is the sum over the ranks of the
    gradients of their losses, so a loss that every rank computes on the gathered batch, averaged by DDP, gives
    each parameter the gradient of that loss on the whole batch."""
    world = rank_world()[1]
    if world == 1:
        return x
    import torch.distributed as dist

    n = torch.tensor([x.shape[0]], device=x.device)
    sizes = [torch.zeros_like(n) for _ in range(world)]
    dist.all_gather(sizes, n)
    sizes = [int(s) for s in sizes]
    pad = max(sizes) - x.shape[0]
    xp = torch.cat([x, x.new_zeros((pad, *x.shape[1:]))]) if pad else x
    if grad:
        import torch.distributed.nn.functional as dist_nn

        parts = dist_nn.all_gather(xp.contiguous())
    else:
        parts = [torch.empty_like(xp) for _ in range(world)]
        dist.all_gather(parts, xp.contiguous())
    return torch.cat([p[:s] for p, s in zip(parts, sizes)])

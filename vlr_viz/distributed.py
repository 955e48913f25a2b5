"""Data-parallel training across processes: global-batch losses and exact gradient sums.

Each rank holds a contiguous shard of every global batch (rank r: rows ``r·b .. (r+1)·b - 1``). Before the
losses, `gather_batch` concatenates the shards of all ranks in rank order; only the local shard keeps its
autograd graph, the other shards are constants. Every rank then computes the same global-batch loss ``L``,
whose negatives and relations span the global batch, and its backward pass yields ``∂L/∂θ`` through the local
shard only. `sync_gradients` sums those parts over the ranks (all-reduce SUM), which is exactly ``∂L/∂θ`` of
one process holding the whole global batch. (Averaging instead, as plain DDP does, would divide it by the
world size.) Parameters that act on the gathered batch as a whole (1/τ, λ, τ2, the teacher projections, which
only see gathered constants) already get the full gradient on every rank: those are averaged, not summed.
Without an initialised process group every function here is the identity.
"""
from __future__ import annotations

import datetime
import os

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    return rank() == 0


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` of all ranks along dim 0 (rank order); the local part keeps its gradient."""
    if not is_distributed():
        return x
    parts = [torch.empty_like(x) for _ in range(world_size())]
    dist.all_gather(parts, x.detach().contiguous())
    parts[rank()] = x
    return torch.cat(parts, dim=0)


def gather_batch(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """`gather_with_grad` for each tensor (embeddings, teacher features, image ids)."""
    return tuple(gather_with_grad(t) for t in tensors)


def shard(indices: torch.Tensor) -> torch.Tensor:
    """This rank's contiguous share of a global batch of indices (its size must divide by the world size)."""
    w = world_size()
    if indices.shape[0] % w:
        raise ValueError(f"global batch of {indices.shape[0]} does not split over {w} processes")
    b = indices.shape[0] // w
    return indices[rank() * b:(rank() + 1) * b]


def all_reduce_sum_(tensors) -> None:
    """In-place sum over ranks of each tensor (one flat buffer per dtype)."""
    if not is_distributed():
        return
    tensors = [t for t in tensors if t is not None]
    if not tensors:
        return
    flat = torch.cat([t.reshape(-1) for t in tensors])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    offset = 0
    for t in tensors:
        t.copy_(flat[offset:offset + t.numel()].view_as(t))
        offset += t.numel()


def sync_gradients(sharded, replicated=()) -> None:
    """Make every rank hold the gradient of the global-batch loss.

    Args:
        sharded: parameters that see the batch only through the local shard (the encoder): summed.
        replicated: parameters that see the whole gathered batch on every rank: averaged.
    """
    if not is_distributed():
        return
    sharded = [p.grad for p in sharded if p.grad is not None]
    replicated = [p.grad for p in replicated if p.grad is not None]
    for g in replicated:
        g.div_(world_size())
    all_reduce_sum_(sharded + replicated)


def broadcast_parameters(module: torch.nn.Module) -> None:
    """Copy rank 0's parameters and buffers to every rank."""
    if not is_distributed():
        return
    for t in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(t.data, src=0)


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def init_from_env(backend: str | None = None) -> bool:
    """Initialise the process group from torchrun's environment (``WORLD_SIZE`` > 1); returns whether it did.

    The backend defaults to NCCL when CUDA is available and gloo otherwise.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or is_distributed():
        return is_distributed()
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend, timeout=datetime.timedelta(minutes=30))
    return True

"""Data-parallel training: the ranks of a run, their process group, and what they agree on.

A run on N ranks (``nproc=N``, or started by ``torchrun``) is N processes, each with the whole
network wrapped in DistributedDataParallel (gloo on the CPU, NCCL on GPUs), each drawing its own
shard of every step's global batch (:class:`stylize.training.data.Shard`). Gradients are averaged by
DDP, so with losses that are means over a batch's items the update equals one process's on the
whole ``N * batch``, up to the order of float additions.

What the ranks share goes through this module: :func:`ranks` (who am I), :func:`leader_first` (rank
0 does something, such as preparing the style's folder, and every rank gets its result or its
error), :func:`global_mean` (a batch-wide normaliser of a loss term, the same on every rank as in one
process), :func:`mean_across` and :func:`any_rank` (the logged losses and the decision to stop).
With one process every function is the identity, so the single-process path is unchanged.

:func:`data_parallel` makes a training function take ``nproc=``: it starts the local ranks
(:mod:`stylize.training.launch`), or, inside a rank, joins the process group ``torchrun`` or the
launcher set up in the environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``,
``MASTER_PORT``).
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from stylize.config import PARAMETERS
from stylize.errors import SettingError, StylizeError
from stylize.training.data import Shard
from stylize.values import check_setting

ENV_KEYS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
GROUP_TIMEOUT = timedelta(minutes=10)  # a rank stuck this long in a collective: the others give up

T = TypeVar("T")


@dataclass(frozen=True)
class Ranks:
    """This process's place in a run: rank ``rank`` of ``world_size``, ``local_rank`` on its machine."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def leader(self) -> bool:
        """Rank 0: the one that writes checkpoints, model files, progress bars and logs."""
        return self.rank == 0

    @property
    def shard(self) -> Shard:
        return Shard(self.rank, self.world_size)


def ranks() -> Ranks:
    """This process's ranks: those of the process group when one is set up, else one process."""
    if not (dist.is_available() and dist.is_initialized()):
        return Ranks()
    rank = dist.get_rank()
    return Ranks(rank, dist.get_world_size(), int(os.environ.get("LOCAL_RANK", rank)))


def ranks_from_env(env: Mapping[str, str]) -> Ranks | None:
    """The ranks ``torchrun`` (or :mod:`stylize.training.launch`) gives a process in ``env``; None
    when ``env`` names none. A malformed value is refused with one line."""
    if "RANK" not in env and "WORLD_SIZE" not in env:
        return None
    try:
        rank, world = int(env.get("RANK", "")), int(env.get("WORLD_SIZE", ""))
        local = int(env.get("LOCAL_RANK", rank))
    except ValueError:
        raise StylizeError(
            f"the environment's RANK={env.get('RANK')!r} WORLD_SIZE={env.get('WORLD_SIZE')!r} are not a rank of a "
            "run; start with torchrun, or unset them and pass nproc=N"
        ) from None
    if not (world >= 1 and 0 <= rank < world and local >= 0):
        raise StylizeError(
            f"the environment's RANK={rank} WORLD_SIZE={world} LOCAL_RANK={local} are not a rank of a run; "
            "start with torchrun, or unset them and pass nproc=N"
        )
    return Ranks(rank, world, local)


def check_nproc(nproc: int | None) -> int | None:
    """``nproc`` as the parameter's kind allows it (None: not given), else one line naming it."""
    check_setting("nproc", nproc, PARAMETERS["nproc"].kind, what="setting")
    return nproc


def rank_device(choice: str, world_size: int, local_rank: int) -> tuple[str, str]:
    """(device, backend) for a rank of a run with ``world_size`` ranks on this machine, on device
    ``choice`` (auto, cpu, cuda): CUDA with NCCL when every rank has a GPU of its own (``auto``: only
    then), else the CPU with gloo. Asking for CUDA without enough GPUs is refused with one line."""
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if choice == "cuda" and gpus < world_size:
        have = "torch sees no CUDA GPU" if gpus == 0 else f"torch sees {gpus}"
        raise StylizeError(
            f"nproc={world_size} ranks on device=cuda need {world_size} GPUs, one a rank; {have}: "
            "use device=cpu, or fewer ranks",
            params=("nproc", "device"),
        )
    if choice == "cuda" or (choice == "auto" and gpus >= world_size):
        return f"cuda:{local_rank}", "nccl"
    return "cpu", "gloo"


def check_backend(backend: str, device: torch.device) -> None:
    """Refuse a process group whose backend cannot carry ``device``'s tensors (NCCL is GPUs only)."""
    if backend == "nccl" and device.type != "cuda":
        raise StylizeError(
            "the process group uses NCCL, which carries only CUDA tensors, but this run is on the CPU; "
            "set it up with gloo, or pass device=cuda",
            params=("device",),
        )


@contextmanager
def process_group(env_ranks: Ranks, device_choice: str) -> Iterator[str]:
    """Join the process group of the run ``env_ranks`` belongs to (the environment's ``MASTER_ADDR``
    and ``MASTER_PORT``); yields the device this rank trains on ("cpu" or "cuda:I"). The group is
    left on the way out."""
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", env_ranks.world_size))  # torchrun's ranks on this machine
    device, backend = rank_device(device_choice, local_world, env_ranks.local_rank)
    if device.startswith("cuda"):
        torch.cuda.set_device(torch.device(device))
    missing = [key for key in ("MASTER_ADDR", "MASTER_PORT") if not os.environ.get(key)]
    if missing:
        raise StylizeError(
            f"the environment names rank {env_ranks.rank} of {env_ranks.world_size} but not {' or '.join(missing)}; "
            "start the run with torchrun, or pass nproc=N"
        )
    dist.init_process_group(
        backend, rank=env_ranks.rank, world_size=env_ranks.world_size, init_method="env://", timeout=GROUP_TIMEOUT
    )
    try:
        yield device
    finally:
        dist.destroy_process_group()


def leader_first(action: Callable[[], T]) -> T:
    """Run ``action`` on rank 0 alone; every rank returns its result, or raises the StylizeError it
    raised (other errors stay rank 0's; the others then fail in their next collective)."""
    here = ranks()
    if here.world_size == 1:
        return action()
    box: list[Any] = [None]
    if here.leader:
        try:
            box[0] = ("ok", action())
        except StylizeError as err:
            box[0] = ("error", err)
    dist.broadcast_object_list(box, src=0)
    outcome, value = box[0]
    if outcome == "error":
        raise value
    return value  # type: ignore[no-any-return]


@contextmanager
def held_by_leader(context: AbstractContextManager[Any]) -> Iterator[None]:
    """``context`` (a folder's lock) entered and left on rank 0 alone; a ``StylizeError`` it raises on
    entering (the folder is held by another run) is raised on every rank."""
    if ranks().world_size == 1:
        with context:
            yield
        return
    leader_first(lambda: context.__enter__() and None)
    try:
        yield
    except BaseException as err:
        if ranks().leader:
            context.__exit__(type(err), err, err.__traceback__)
        raise
    if ranks().leader:
        context.__exit__(None, None, None)


def barrier() -> None:
    if ranks().world_size > 1:
        dist.barrier()


def global_mean(value: torch.Tensor) -> torch.Tensor:
    """The mean over ranks of ``value`` (a constant: no gradient flows through it). A loss normalised
    by a batch-wide quantity (the batch's face area, its features' energy) uses the global batch's, so
    each rank's term averages to the one process's term."""
    value = value.detach()
    if ranks().world_size == 1:
        return value
    total = value.clone()
    dist.all_reduce(total)
    return total / dist.get_world_size()


def mean_across(values: Mapping[str, float], device: torch.device) -> dict[str, float]:
    """``values`` (the same keys on every rank) averaged over the ranks: the losses of the global batch."""
    if ranks().world_size == 1:
        return dict(values)
    keys = list(values)
    stacked = torch.tensor([values[key] for key in keys], dtype=torch.float64, device=device)
    dist.all_reduce(stacked)
    stacked /= dist.get_world_size()
    return dict(zip(keys, stacked.tolist(), strict=True))


def any_rank(flags: tuple[bool, ...], device: torch.device) -> tuple[bool, ...]:
    """Each of ``flags`` true when it is on any rank: how every rank stops at the same step (rank 0
    passes its budget's verdict, every rank its Ctrl-C)."""
    if ranks().world_size == 1:
        return flags
    stacked = torch.tensor([float(flag) for flag in flags], device=device)
    dist.all_reduce(stacked, op=dist.ReduceOp.MAX)
    return tuple(bool(value) for value in stacked.tolist())


def data_parallel(function: Callable[..., T]) -> Callable[..., T]:
    """``function`` (a training entry point with a ``device`` parameter) with an ``nproc=`` parameter:

    * in a rank started by torchrun or the launcher (the environment names its rank), it joins the
      run's process group and runs ``function`` on this rank's device; a ``nproc`` other than the
      run's world size is refused;
    * else with ``nproc`` > 1, it starts ``nproc`` local ranks that do the above and returns rank 0's
      result (or raises its error);
    * else it is ``function`` itself.
    """
    signature = inspect.signature(function)

    @functools.wraps(function)
    def wrapper(*args: Any, nproc: int | None = None, **kwargs: Any) -> T:
        check_nproc(nproc)
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        device = str(bound.arguments.get("device", "auto"))
        if dist.is_available() and dist.is_initialized():  # the caller set up the group itself
            here = ranks()
            if nproc not in (None, here.world_size):
                raise _world_mismatch(nproc, here.world_size, "the process group already set up")
            check_backend(dist.get_backend(), torch.device(rank_device(device, here.world_size, here.local_rank)[0]))
            return function(*args, **kwargs)
        env_ranks = ranks_from_env(os.environ)
        if env_ranks is not None and env_ranks.world_size > 1:
            if nproc not in (None, env_ranks.world_size):
                raise _world_mismatch(nproc, env_ranks.world_size, "torchrun's WORLD_SIZE")
            with process_group(env_ranks, device) as rank_device_name:
                bound.arguments["device"] = "cuda" if rank_device_name.startswith("cuda") else "cpu"
                return function(*bound.args, **bound.kwargs)
        if nproc is None or nproc == 1:
            return function(*args, **kwargs)
        rank_device(device, nproc, 0)  # refuse cuda without a GPU a rank before starting anything
        from stylize.training.launch import launch

        return launch(wrapper, bound.args, bound.kwargs, nproc)

    wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[
            *signature.parameters.values(),
            inspect.Parameter("nproc", inspect.Parameter.KEYWORD_ONLY, default=None, annotation="int | None"),
        ]
    )
    return wrapper


def _world_mismatch(nproc: int, world: int, where: str) -> SettingError:
    return SettingError(
        f"nproc={nproc} differs from the {world} ranks of {where}; leave nproc out (the run's ranks are set "
        "where it was started)",
        params=("nproc",),
    )

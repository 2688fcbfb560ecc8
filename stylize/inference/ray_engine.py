"""``apply(..., engine="ray")``: the network calls of bulk apply on the actors of a Ray cluster.

Everything but the stylizing stays in :mod:`stylize.inference.bulk`, in the process that runs
``apply`` (the driver): the plan, the output folder's lock, the manifest and the writing. The
driver reads each input's bytes and sends them, with the outputs it needs, to an actor; the actor
decodes, stylizes and encodes the PNGs and sends them back; the driver writes each one atomically
and only then appends its record to the manifest. So the cluster's nodes need no shared file
system, and a worker killed at any point leaves neither a half-written file nor a record without
its file: the dead actor is replaced by a new one, its calls are sent again, and after
:data:`RETRIES` more deaths their inputs fail alone, one line each, like a bad input, for a rerun
to redo (the rerun makes exactly the outputs the manifest lacks).

Why actors and not Ray Data's ``map_batches``: the driver streams the inputs (a few calls ahead
of each actor, so an archive of any size needs no more memory), sends the local engine's exact
network batches (hence its bytes), and sees each worker's death itself (hence the one-line
per-file failures). Ray Data would need the inputs on storage every node reads.

Each actor loads the styles once (their networks travel once through Ray's object store) and runs
``actor_cpus`` torch threads. The inputs go out in the local engine's chunks (``batch`` same-size
portraits per network call), several chunks to a call, so each output is the local engine's byte
for byte at the same torch thread count.

Ray is imported only here, and only when the engine is asked for: ``pip install 'stylize[ray]'``.
"""

from __future__ import annotations

import logging
import os
import socket
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from stylize.errors import ImageReadError, StylizeError
from stylize.imageio import atomic_write_bytes
from stylize.inference.chunk_work import ApplyTask, Outcome, Worker, chunks, read_input, stylize_chunk
from stylize.inference.image import ApplySettings, default_batch
from stylize.inference.model_file import StyleModel
from stylize.nets.device import check_precision, place, resolve_device

RETRIES = 2  # a call whose actor died is sent again this many times before its inputs fail
CALL_IMAGES = 8  # at most this many inputs in one call to an actor (it may hold several network batches)
CALLS_PER_ACTOR = 4  # calls are made small enough that each actor gets at least this many
IN_FLIGHT = 2  # calls sent to each actor ahead: one runs while the next one's inputs travel
CONNECT_SECONDS = 5.0  # how long a given address may take to answer before it is refused


def import_ray() -> Any:
    """The ``ray`` module, or a one-line error saying how to install it."""
    try:
        import ray
    except ImportError as err:
        raise StylizeError(
            f"engine=ray needs Ray, which is not installed here ({err}); pip install 'stylize[ray]'",
            params=("engine",),
        ) from None
    return ray


def _first_line(err: BaseException) -> str:
    """The line of an error worth showing: the last ``SomethingError: ...`` line of a Ray traceback."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    errors = [line for line in lines if line.split(":", 1)[0].endswith(("Error", "Exception", "Exit"))]
    return (errors[-1] if errors else lines[0] if lines else type(err).__name__)[:300].rstrip(".")


def _check_reachable(address: str) -> None:
    """Refuse, in seconds and in one line, an address where nothing listens (``ray.init`` would wait)."""
    if address == "auto":
        return
    host, port = address.removeprefix("ray://").rsplit(":", 1)
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_SECONDS).close()
    except OSError as err:
        reason = err.strerror or str(err) or type(err).__name__
        raise StylizeError(
            f"address={address}: no Ray cluster answers there ({reason}); start one with 'ray start --head' and "
            "give the address it prints, or give no address to start Ray on this machine",
            params=("address",),
        ) from None


class _Stylist:
    """A Ray actor: the styles' networks, loaded once, and the local engine's chunk work."""

    def __init__(
        self,
        networks: dict[str, torch.nn.Module],
        hashes: dict[str, str],
        style_hashes: dict[str, str],
        settings: ApplySettings,
        device: str,
        threads: int,
    ) -> None:
        from stylize.messages import show_warnings_as_lines

        show_warnings_as_lines()  # a damaged file's warning reads as the command's own line
        torch.set_num_threads(threads)
        chosen = resolve_device(device)
        check_precision(settings.precision, chosen)
        self.worker = Worker(
            {name: place(network, chosen).eval() for name, network in networks.items()},
            hashes,
            style_hashes,
            settings,
            chosen,
            None,
        )

    def ready(self) -> int:
        return os.getpid()

    def process(self, batches: list[list[tuple[ApplyTask, bytes]]]) -> tuple[list[Outcome], dict[str, bytes]]:
        """The outcomes of each chunk's inputs and their PNGs by output path (written by the driver)."""
        outcomes: list[Outcome] = []
        pngs: dict[str, bytes] = {}
        for chunk in batches:
            tasks = [task for task, _ in chunk]
            outcomes += stylize_chunk(self.worker, tasks, pngs.__setitem__, [data for _, data in chunk])
        return outcomes, pngs


@dataclass
class _Call:
    """Chunks sent to an actor together, with their inputs' bytes (kept to send again if it dies)."""

    chunks: list[list[tuple[ApplyTask, bytes]]]
    deaths: int = 0

    @property
    def tasks(self) -> list[ApplyTask]:
        return [task for chunk in self.chunks for task, _ in chunk]


@dataclass
class RayRun:
    """How ``apply`` runs on Ray: checked before any work, connected only when there are outputs to make."""

    address: str | None
    actors: int | None
    actor_cpus: int
    device: str
    _started: bool = field(default=False, repr=False)

    @classmethod
    def prepare(cls, address: str | None, actors: int | None, actor_cpus: int, workers: int, device: str) -> RayRun:
        ray = import_ray()
        if workers != 1:
            raise StylizeError(
                f"workers={workers} is for the local engine; with engine=ray give actors=N",
                params=("workers", "engine", "actors"),
            )
        if device not in ("auto", "cpu", "cuda"):
            resolve_device(device)  # its one-line refusal
        if address is not None:  # refused before the output folder is touched; Ray starts only for work
            if ray.is_initialized():
                raise StylizeError(
                    f"address={address} was given, but this process is already connected to Ray; give no "
                    "address to use that connection",
                    params=("address",),
                )
            _check_reachable(address)
        return cls(address, actors, actor_cpus, device)

    # --- the cluster ----------------------------------------------------------------------------------------

    def _connect(self, ray: Any) -> None:
        if ray.is_initialized():  # the caller's own ray.init() (an address was refused by prepare)
            return
        # A Ray started here runs its workers from this machine's files: they import the same stylize.
        package_root = str(Path(__file__).resolve().parents[2])
        python_path = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH", "")) if p)
        options: dict[str, Any] = dict(address=self.address, logging_level=logging.ERROR, log_to_driver=True)
        if self.address is None and not os.environ.get("RAY_ADDRESS"):
            # "local": a fresh instance, even where 'ray start' made one (address=auto is for that one)
            options.update(
                address="local", include_dashboard=False, runtime_env={"env_vars": {"PYTHONPATH": python_path}}
            )
        try:
            ray.init(**options)
        except Exception as err:  # Ray raises ConnectionError, ValueError, RuntimeError, ... for a bad address
            where = self.address or os.environ.get("RAY_ADDRESS") or "this machine"
            raise StylizeError(
                f"cannot start or reach a Ray cluster at {where}: {_first_line(err)}; check address=ADDR "
                "(ray status on the head node prints it)",
                params=("address",),
            ) from None
        self._started = True

    def _actor_count(self, ray: Any, cuda: bool, calls: int) -> int:
        resources = ray.cluster_resources()
        if cuda:
            fits = int(resources.get("GPU", 0))
            what = f"{fits} GPUs"
        else:
            fits = int(resources.get("CPU", 0)) // self.actor_cpus
            what = f"{int(resources.get('CPU', 0))} CPUs"
        if self.actors is not None and self.actors > fits:
            need = f"actors={self.actors}" + ("" if cuda else f" x actor_cpus={self.actor_cpus}")
            raise StylizeError(
                f"the Ray cluster has {what}, fewer than {need} needs; give fewer actors",
                params=("actors", "actor_cpus"),
            )
        if fits < 1:
            raise StylizeError(
                f"the Ray cluster has {what}, not enough for one actor of actor_cpus={self.actor_cpus}",
                params=("actor_cpus",),
            )
        return max(1, min(self.actors or fits, calls))

    # --- the run --------------------------------------------------------------------------------------------

    def run(
        self,
        tasks: list[ApplyTask],
        batch: int | None,
        models: dict[str, StyleModel],
        settings: ApplySettings,
        out_dir: Path,
    ) -> Iterator[Outcome]:
        """The outcome of every task, its outputs written (atomically) before it is yielded."""
        ray = import_ray()
        self._connect(ray)
        pool: _Actors | None = None
        try:
            cuda = self.device == "cuda" or (self.device == "auto" and int(ray.cluster_resources().get("GPU", 0)) > 0)
            batch = batch or default_batch(torch.device("cuda" if cuda else "cpu"))
            batches = list(chunks(tasks, batch))
            count = self._actor_count(ray, cuda, len(batches))
            per_call = max(1, min(CALL_IMAGES // batch, len(batches) // (count * CALLS_PER_ACTOR)))
            groups = deque(batches[start : start + per_call] for start in range(0, len(batches), per_call))
            pool = _Actors(ray, self.actor_cpus, cuda, models, settings)
            pool.start(count)
            yield from self._drive(ray, pool, groups, out_dir)
        finally:
            if pool is not None:
                pool.stop()
            if self._started:
                ray.shutdown()
                self._started = False

    def _drive(self, ray: Any, pool: _Actors, groups: deque, out_dir: Path) -> Iterator[Outcome]:
        """Send the calls, at most IN_FLIGHT to each actor; write and yield each result as it comes."""
        waiting: deque[_Call] = deque()  # calls whose actor died, to send again
        in_flight: dict[Any, tuple[_Call, int, Any]] = {}  # result -> call, actor slot, actor handle
        load = [0] * len(pool.actors)
        while groups or waiting or in_flight:
            while (groups or waiting) and min(load) < IN_FLIGHT:
                if waiting:
                    call = waiting.popleft()
                else:
                    call, failed = self._read(groups.popleft())
                    yield from failed
                    if not call.chunks:
                        continue
                slot = load.index(min(load))
                actor = pool.actors[slot]
                in_flight[actor.process.remote(call.chunks)] = (call, slot, actor)
                load[slot] += 1
            if not in_flight:
                continue
            [ref], _ = ray.wait(list(in_flight), num_returns=1)
            call, slot, actor = in_flight.pop(ref)
            load[slot] -= 1
            try:
                outcomes, pngs = ray.get(ref)
            except (ray.exceptions.RayActorError, ray.exceptions.ObjectLostError) as err:
                # the actor was killed or ran out of memory, or its node was lost (before or after the call)
                pool.replace(slot, actor)
                call.deaths += 1
                if call.deaths <= RETRIES:
                    waiting.append(call)
                    continue
                line = _first_line(err)
                for task in call.tasks:
                    yield Outcome(
                        [],
                        f"{task.source}: the Ray worker stylizing it stopped {call.deaths} times ({line}); "
                        "rerun to redo it, with a scale above 1 or more memory a worker if it runs out of memory",
                    )
                continue
            for outcome in outcomes:
                for record in outcome.records:
                    atomic_write_bytes(out_dir / record["output"], pngs[record["output"]])
                yield outcome

    @staticmethod
    def _read(group: Sequence[list[ApplyTask]]) -> tuple[_Call, list[Outcome]]:
        """The call for these chunks with their inputs' bytes; the inputs that cannot be read fail here."""
        chunks: list[list[tuple[ApplyTask, bytes]]] = []
        failed: list[Outcome] = []
        for chunk in group:
            read: list[tuple[ApplyTask, bytes]] = []
            for task in chunk:
                try:
                    read.append((task, read_input(task.source)))
                except ImageReadError as err:
                    failed.append(Outcome([], str(err)))
            if read:
                chunks.append(read)
        return _Call(chunks), failed


class _Actors:
    """The run's actors, one slot each. An actor that died is replaced in its slot by a new one (which
    loads the styles again) rather than restarted by Ray, so the driver knows every death and keeps
    the styles' object alive for the new ones."""

    def __init__(self, ray: Any, cpus: int, cuda: bool, models: dict[str, StyleModel], settings: ApplySettings) -> None:
        self.ray = ray
        self.networks = ray.put({name: model.network.cpu() for name, model in models.items()})
        self.hashes = {name: model.weights_sha256 for name, model in models.items()}
        self.style_hashes = {name: model.style_sha256 for name, model in models.items()}
        self.settings = settings
        self.device = "cuda" if cuda else "cpu"
        self.cpus = cpus
        self.remote = ray.remote(_Stylist).options(num_cpus=cpus, num_gpus=1 if cuda else 0, max_restarts=0)
        self.actors: list[Any] = []
        self.pids: list[int] = []  # the actors' processes as started (tests kill one)

    def _new(self) -> Any:
        return self.remote.remote(self.networks, self.hashes, self.style_hashes, self.settings, self.device, self.cpus)

    def start(self, count: int) -> None:
        """``count`` actors, each with the styles loaded; a one-line error if they cannot start."""
        self.actors = [self._new() for _ in range(count)]
        try:
            self.pids = self.ray.get([actor.ready.remote() for actor in self.actors])
        except self.ray.exceptions.RayError as err:
            raise StylizeError(
                f"the Ray actors could not start: {_first_line(err)}; every node needs this stylize and its "
                "dependencies (pip install 'stylize[ray]')"
            ) from None

    def replace(self, slot: int, dead: Any) -> None:
        """A new actor in ``slot`` if ``dead`` still holds it (several calls may report one death)."""
        if self.actors[slot] is dead:
            self.ray.kill(dead, no_restart=True)
            self.actors[slot] = self._new()

    def stop(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor, no_restart=True)
        self.actors = []

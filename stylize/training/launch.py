"""Starting the local ranks of a data-parallel training (``nproc=N``) and waiting for them.

The launcher is the process the user started. It picks a free port, starts N fresh Python
processes (``python -m stylize.training.launch``; no state is inherited) with the ``torchrun`` environment (``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``) and each rank's share of the
machine's threads, and each calls the same training function, which joins the process group
(:func:`stylize.training.distributed.data_parallel`). The launcher then

* passes on Ctrl-C and SIGTERM: a SIGINT or SIGTERM it receives goes to every rank (which count a
  Ctrl-C the terminal also sent them as the same one), so they stop at the same step and rank 0 saves
  a whole checkpoint; ranks that have not ended :data:`STOP_GRACE` seconds after another one did
  (stuck in a collective whose peer has gone) are killed;
* passes on rank 0's progress events to the launcher's listeners (:mod:`stylize.progress`),
  with the network as it stands, when anyone listens;
* returns rank 0's result, or raises the error that stopped the run (a StylizeError as it was
  raised); a rank that dies takes the others down with it, its checkpoint kept. No rank outlives
  the launcher's return: whatever stops it (an error, a second Ctrl-C) kills the ranks still running.
"""

from __future__ import annotations

import importlib
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields
from multiprocessing.connection import Connection, wait
from typing import Any

from stylize import signals
from stylize.errors import StylizeError
from stylize.progress import PhaseEvent, StepEvent, listen, listening, notify

POLL_SECONDS = 0.2
REPORT_FD_ENV = "STYLIZE_REPORT_FD"  # the pipe a rank reports its events and outcome on
GRACE_SECONDS = 30.0  # after one rank failed, how long the others get to fail or finish on their own
STOP_GRACE = 3.0  # the same after a Ctrl-C or SIGTERM: the stop is due within seconds


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rank_environment(rank: int, nproc: int, port: int) -> dict[str, str]:
    """The environment torchrun gives rank ``rank`` of ``nproc`` on one machine."""
    return {
        "RANK": str(rank),
        "WORLD_SIZE": str(nproc),
        "LOCAL_RANK": str(rank),
        "LOCAL_WORLD_SIZE": str(nproc),
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(port),
    }


def threads_per_rank(nproc: int, threads: int | None = None) -> int:
    """The machine's torch threads (``threads``, default this process's) shared out among ``nproc`` ranks."""
    import torch

    return max(1, (threads or torch.get_num_threads()) // nproc)


def launch(function: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any], nproc: int) -> Any:
    """Run ``function(*args, **kwargs)`` on ``nproc`` local ranks; rank 0's result (see the module).

    The ranks are fresh interpreters (``python -m stylize.training.launch``) that read their job on
    their standard input and report on a pipe of their own: nothing of the caller's ``__main__`` is
    imported again, so a script needs no ``if __name__ == "__main__"`` guard."""
    port, threads = free_port(), threads_per_rank(nproc)
    job = pickle.dumps(((function.__module__, function.__qualname__), tuple(args), dict(kwargs), threads, listening()))
    processes: list[subprocess.Popen[bytes]] = []
    connections = {}
    with _passing_on_signals(processes) as passing:
        try:
            for rank in range(nproc):
                read_end, write_end = os.pipe()
                process = subprocess.Popen(
                    [sys.executable, "-m", "stylize.training.launch"],
                    stdin=subprocess.PIPE,
                    pass_fds=(write_end,),
                    env={**os.environ, **rank_environment(rank, nproc, port), REPORT_FD_ENV: str(write_end)},
                )
                os.close(write_end)
                connections[rank] = Connection(read_end, writable=False)
                processes.append(process)
            passing.catch_up()  # a signal that came while they were starting reaches every rank
            for process in processes:
                assert process.stdin is not None
                try:
                    process.stdin.write(job)
                    process.stdin.close()
                except BrokenPipeError:  # it ended at once; _wait reports it
                    pass
            outcomes = _wait(processes, connections, passing)
        finally:
            _kill_running(processes)  # none left when the wait was cut short (a second Ctrl-C, an error)
    return _result(outcomes, processes, stopped=passing.signalled is not None)


def _kill_running(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.kill()
    for process in processes:
        process.wait()


def _wait(
    processes: list[subprocess.Popen[bytes]], connections: dict[int, Any], passing: _passing_on_signals
) -> dict[int, tuple[str, Any]]:
    """Each rank's ("ok", result) or ("error", exception), as they report them, passing events on;
    when a rank fails or dies, the others are given GRACE_SECONDS (STOP_GRACE after a Ctrl-C or
    SIGTERM), then killed."""
    outcomes: dict[int, tuple[str, Any]] = {}
    network: list[Any] = [None]
    failed_at: float | None = None
    open_connections = dict(connections)
    while True:
        for connection in wait(list(open_connections.values()), timeout=POLL_SECONDS):
            rank = next(r for r, c in open_connections.items() if c is connection)
            try:
                kind, payload = connection.recv()
            except (EOFError, OSError):
                del open_connections[rank]
                continue
            if kind == "event":
                notify(_event(payload, network))
            elif kind == "phase":
                notify(PhaseEvent(str(payload)))
            else:
                outcomes[rank] = (kind, payload)
        for rank, process in enumerate(processes):
            if process.poll() is not None and rank not in open_connections and rank not in outcomes:
                outcomes[rank] = ("died", process.returncode)
        if failed_at is None and any(outcome[0] != "ok" for outcome in outcomes.values()):
            failed_at = time.monotonic()
        if all(process.poll() is not None for process in processes) and not open_connections:
            break
        grace = STOP_GRACE if passing.signalled else GRACE_SECONDS
        if failed_at is not None and time.monotonic() - failed_at > grace:
            for process in processes:
                if process.poll() is None:
                    process.kill()  # SIGTERM would ask it to stop, which a rank stuck in a collective cannot
    for connection in connections.values():
        connection.close()
    return outcomes


def _result(outcomes: dict[int, tuple[str, Any]], processes: list[Any], stopped: bool = False) -> Any:
    """Rank 0's result; else the error to raise: a StylizeError first (rank 0's before the others'),
    then a Ctrl-C (also any failure after the launcher passed on a signal: a rank stopped before its
    handlers were set dies of it), a rank that died, a bug's traceback."""
    if all(outcomes.get(rank, ("", None))[0] == "ok" for rank in range(len(processes))):
        return outcomes[0][1]
    order = sorted(outcomes, key=lambda rank: (rank != 0, rank))
    for rank in order:
        kind, payload = outcomes[rank]
        if kind == "error" and isinstance(payload, StylizeError):
            raise payload
    for rank in order:
        kind, payload = outcomes[rank]
        if (kind == "error" and isinstance(payload, KeyboardInterrupt)) or stopped:
            raise KeyboardInterrupt  # the exit status follows the signal the launcher got (stylize.signals)
    for rank in order:  # a rank that died (killed, out of memory) before the errors it caused in the others
        kind, payload = outcomes[rank]
        if kind == "died":
            raise StylizeError(
                f"rank {rank} of {len(processes)} died (exit status {payload}); the last whole checkpoint is "
                "kept: rerun with resume=True to continue",
                params=("resume",),
            )
    for rank in order:
        kind, payload = outcomes[rank]
        if kind == "error":
            raise RuntimeError(f"rank {rank} of {len(processes)} failed:\n{payload}")
    missing = [rank for rank in range(len(processes)) if rank not in outcomes]
    raise RuntimeError(f"ranks {missing} ended without a result")


class _passing_on_signals:
    """While the ranks run, a SIGINT or SIGTERM to the launcher goes to each rank instead (main thread
    only); the first one is noted as what stopped the launcher (:func:`stylize.signals.note`)."""

    def __init__(self, processes: list[Any]) -> None:
        self.processes = processes  # filled while the ranks start
        self.previous: dict[int, Any] = {}
        self.signalled: int | None = None
        self.told: set[int] = set()  # the ranks (their pids) a signal was passed to

    def _handle(self, signum: int, frame: Any) -> None:
        signals.note(signum)
        self.signalled = self.signalled or signum
        self._pass_on(signum, self.processes)

    def _pass_on(self, signum: int, processes: list[Any]) -> None:
        for process in processes:
            if process.poll() is None:
                try:
                    process.send_signal(signum)
                except ProcessLookupError:
                    pass
                self.told.add(process.pid)

    def catch_up(self) -> None:
        """Pass the signal that came while the ranks were starting to those started after it."""
        if self.signalled is not None:
            self._pass_on(self.signalled, [p for p in self.processes if p.pid not in self.told])

    def __enter__(self) -> _passing_on_signals:
        if threading.current_thread() is threading.main_thread():
            self.previous = {signum: signal.signal(signum, self._handle) for signum in signals.STOP_SIGNALS}
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self.previous.items():
            if previous is not None:
                signal.signal(signum, previous)


def _event(payload: dict[str, Any], network: list[Any]) -> StepEvent:
    """A rank's step event with its network rebuilt here (kept in ``network`` between events)."""
    from safetensors.torch import load as load_tensors

    from stylize.nets.transformer import build_network

    arch, weights = payload.pop("arch"), payload.pop("weights")
    if network[0] is None or network[0].spec.name != arch:
        network[0] = build_network(arch).train()
    network[0].load_state_dict(load_tensors(weights))
    return StepEvent(**payload, network=network[0])


def _forwarder(messages: Any) -> Callable[[Any], None]:
    """A listener in rank 0 that sends each event, the network as safetensors bytes, to the launcher."""
    from safetensors.torch import save as save_tensors

    def send(event: Any) -> None:
        if isinstance(event, PhaseEvent):  # a named phase: its name is all there is to pass on
            messages.send(("phase", event.name))
            return
        if not isinstance(event, StepEvent):  # a progress bar's count inside a rank: the launcher shows steps
            return
        state = {key: value.detach().cpu().contiguous() for key, value in event.network.state_dict().items()}
        values = {field.name: getattr(event, field.name) for field in fields(event) if field.name != "network"}
        messages.send(("event", {**values, "arch": event.network.spec.name, "weights": save_tensors(state)}))

    return send


def _rank_main() -> None:
    """One rank (``python -m stylize.training.launch``): its job from the launcher, its threads, the
    function; its result or error goes back to the launcher. SIGINT and SIGTERM stop it like the
    command line (the training loop's own handler asks for a stop after the step)."""
    signals.install()  # whatever the launcher's caller ignored
    rank = int(os.environ["RANK"])
    with Connection(int(os.environ[REPORT_FD_ENV]), readable=False) as connection:
        try:  # torch is imported in here: a rank stopped while it loads says so, with no traceback
            import torch

            where, args, kwargs, threads, forward = pickle.load(sys.stdin.buffer)
            torch.set_num_threads(threads)
            function: Any = importlib.import_module(where[0])
            for part in where[1].split("."):
                function = getattr(function, part)
            if forward and rank == 0:
                with listen(_forwarder(connection)):
                    result = function(*args, **kwargs)
            else:
                result = function(*args, **kwargs)
        except StylizeError as err:
            connection.send(("error", err))
        except KeyboardInterrupt:
            connection.send(("error", KeyboardInterrupt()))
        except BaseException:  # a bug: its traceback, as text, for the launcher's message
            connection.send(("error", traceback.format_exc()))
        else:
            connection.send(("ok", result))


if __name__ == "__main__":
    _rank_main()

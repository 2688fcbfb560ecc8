"""Ctrl-C (SIGINT) and SIGTERM: one way to stop every long command.

A process started in the background by a non-interactive shell (``cmd &``), or by a parent that
ignores SIGINT (CI harnesses, a test runner in the background), inherits SIGINT *ignored*, and Python
then raises no ``KeyboardInterrupt`` at all; SIGTERM, left alone, kills at once without a word.
:func:`stopping_on_signals` (the command line enters it first) and :func:`install` (stylize's own
worker processes call it first) make both raise ``KeyboardInterrupt`` in the main thread whatever was
inherited, and :func:`received` remembers which came first: the command line exits with
:func:`exit_status`, 128 + its number (130 for SIGINT, 143 for SIGTERM).

Code that asks to stop rather than be interrupted (the training loop finishes its step and saves a
whole checkpoint) installs its own handler for both :data:`STOP_SIGNALS` and calls :func:`note`;
code that must not be torn halfway (writing a checkpoint's two files) runs under :func:`held`.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["STOP_SIGNALS", "exit_status", "held", "install", "note", "received", "signal_name", "stopping_on_signals"]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

_received: list[int] = []  # the first stop signal this process got (empty: none)


def note(signum: int) -> None:
    """Remember ``signum`` as the signal that stopped this process, unless one came before it."""
    if not _received:
        _received.append(int(signum))


def received() -> int | None:
    """The first stop signal this process got since :func:`stopping_on_signals` began (None: none)."""
    return _received[0] if _received else None


def exit_status() -> int:
    """The exit status of a command a signal stopped: 128 + the signal's number (130 when none was noted:
    a ``KeyboardInterrupt`` raised some other way counts as Ctrl-C)."""
    return 128 + (received() or int(signal.SIGINT))


def signal_name(signum: int | None) -> str:
    return signal.Signals(signum).name if signum else "SIGINT"


def _interrupt(signum: int, frame: Any) -> None:
    note(signum)
    raise KeyboardInterrupt


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def install() -> None:
    """SIGINT and SIGTERM raise ``KeyboardInterrupt`` in this process from now on, whatever it inherited
    (main thread only; elsewhere nothing changes). For a process of stylize's own: a worker, a rank."""
    if _main_thread():
        for signum in STOP_SIGNALS:
            signal.signal(signum, _interrupt)


@contextmanager
def stopping_on_signals() -> Iterator[None]:
    """:func:`install` for the block, the handlers there before put back after it (the command line's
    ``main`` may run inside a test's process); :func:`received` starts afresh."""
    if not _main_thread():
        yield
        return
    _received.clear()
    previous = {signum: signal.signal(signum, _interrupt) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            if handler is not None:  # None: a handler not set from Python, which cannot be put back
                signal.signal(signum, handler)


@contextmanager
def held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM while the block runs (a checkpoint's two files are being written): one
    that comes meanwhile goes, when the block ends, to the handler that was there before."""
    if not _main_thread():
        yield
        return
    caught: list[int] = []

    def hold(signum: int, frame: Any) -> None:
        caught.append(signum)

    previous = {signum: signal.signal(signum, hold) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        for signum in caught:
            signal.raise_signal(signum)

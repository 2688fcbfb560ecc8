"""Listening to a training run step by step, for callers that show progress themselves (the studio).

The loop (:func:`stylize.training.loop.run_training_loop`) calls :func:`notify` after every step;
:func:`listen` adds a callback for the code run inside it. With no listener the loop does nothing
more than before, so the command line and the API are unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StepEvent:
    """One finished step: where the run stands against its budget, and the network as it is now."""

    description: str  # "training of NAME", "distillation of ..."
    step: int
    steps: int | None  # the step budget, None when there is none
    elapsed: float  # seconds counted against the time budget (all sessions of a resumed run)
    budget_seconds: float | None
    losses: dict[str, float]  # running means of the loss terms ("total" among them)
    network: Any  # the torch module being trained (in training mode): a listener must not change it

    @property
    def fraction(self) -> float:
        """How far through its budget the run is, 0..1 (whichever budget ends it first)."""
        parts = []
        if self.steps:
            parts.append(self.step / self.steps)
        if self.budget_seconds:
            parts.append(self.elapsed / self.budget_seconds)
        return min(1.0, max(parts)) if parts else 0.0


Listener = Callable[[StepEvent], None]
_LISTENERS: ContextVar[tuple[Listener, ...]] = ContextVar("stylize_training_listeners", default=())


@contextmanager
def listen(callback: Listener) -> Iterator[None]:
    """Call ``callback(StepEvent)`` after every training step run inside the ``with`` block."""
    token = _LISTENERS.set((*_LISTENERS.get(), callback))
    try:
        yield
    finally:
        _LISTENERS.reset(token)


def listening() -> bool:
    return bool(_LISTENERS.get())


def notify(event: StepEvent) -> None:
    for callback in _LISTENERS.get():
        callback(event)

"""Listening to long work as it goes, for callers that show progress themselves (the studio).

The training loop (:func:`stylize.training.loop.run_training_loop`) sends a :class:`StepEvent` after
every step; a :class:`ProgressBar` (tqdm, as the command line shows it) sends a :class:`CountEvent`
each time it moves; :func:`phase` sends a :class:`PhaseEvent` where work without steps begins (the
preparation of a training, its saving, an export's checks). :func:`listen` adds a callback for the code run inside it. With no listener
nothing more happens than before, so the command line and the API are unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from tqdm import tqdm


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


@dataclass(frozen=True)
class CountEvent:
    """A progress bar moved: ``done`` of ``total`` items (faces, parts, files)."""

    description: str
    done: int
    total: int

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0


@dataclass(frozen=True)
class PhaseEvent:
    """Long work entered a named phase ("reading the references", "saving the style"): what a listener
    shows between steps, where there is no step to count."""

    name: str


Listener = Callable[[Any], None]  # gets StepEvent, CountEvent and PhaseEvent
_LISTENERS: ContextVar[tuple[Listener, ...]] = ContextVar("stylize_training_listeners", default=())


@contextmanager
def listen(callback: Listener) -> Iterator[None]:
    """Call ``callback(event)`` for every event (a training step, a bar's move) inside the ``with`` block."""
    token = _LISTENERS.set((*_LISTENERS.get(), callback))
    try:
        yield
    finally:
        _LISTENERS.reset(token)


def listening() -> bool:
    return bool(_LISTENERS.get())


def notify(event: Any) -> None:
    for callback in _LISTENERS.get():
        callback(event)


def phase(name: str) -> None:
    """Tell the listeners that the work entered phase ``name`` (nothing happens without one)."""
    if listening():
        notify(PhaseEvent(name))


class ProgressBar(tqdm):  # type: ignore[misc]
    """A tqdm bar that also tells the listeners (:class:`CountEvent`), shown or not."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # a disabled tqdm keeps none of its arguments: keep what the listeners are told
        self.label = str(kwargs.get("desc") or "")
        self.counted = int(kwargs.get("initial", 0) or 0)

    def update(self, n: float | None = 1) -> bool | None:
        shown = super().update(n)
        self.counted += int(n or 0)
        if listening():
            notify(CountEvent(self.label, self.counted, int(getattr(self, "total", 0) or 0)))
        return shown

"""How the library's warnings reach a user: one ``stylize: warning: ...`` line each on stderr.

The ``stylize`` logger's warnings print as one line; Python warnings of other libraries (torch,
kornia, onnx, numpy, Pillow: notes for their developers, printed raw with a source line) go to that
logger at debug level, which is not shown; what a user must know, stylize says itself. Asked for with
``python -W ...`` or ``PYTHONWARNINGS``, they print as Python prints them. The command line sets this up
first, and so does every worker process a command starts (apply's pool, Ray actors), so their lines
read the same.
"""

from __future__ import annotations

import logging
import sys
import warnings
from typing import TextIO

__all__ = ["show_warnings_as_lines"]


class _WarningLine(logging.Handler):
    """The library's warnings (``logging.getLogger("stylize")``) as ``stylize: warning: ...`` lines on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = " ".join(record.getMessage().split())
            print(f"stylize: {record.levelname.lower()}: {message}", file=sys.stderr, flush=True)
        except Exception:  # pragma: no cover - logging must never break the command
            self.handleError(record)


def _warning_to_log(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    logging.getLogger("stylize").debug("%s: %s (%s:%d)", category.__name__, message, filename, lineno)


def show_warnings_as_lines() -> None:
    """The ``stylize`` logger's warnings as one line each on stderr; other Python warnings hidden unless
    asked for (``python -W``, ``PYTHONWARNINGS``)."""
    logger = logging.getLogger("stylize")
    if not any(isinstance(handler, _WarningLine) for handler in logger.handlers):
        logger.addHandler(_WarningLine(logging.WARNING))
    logger.setLevel(logging.WARNING)
    if not sys.warnoptions:
        warnings.showwarning = _warning_to_log

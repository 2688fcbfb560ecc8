"""Draw the bundled style references: ``python tools/make_references.py [OUT_DIR]``.

Writes ``pencil.png``, ``ink_wash.png`` and ``paint.png`` (512x512 RGB), drawn procedurally by
:mod:`tools.reference_art`, into OUT_DIR (default: ``stylize/assets/references``, package data).
The output is deterministic: rerunning it reproduces the files byte for byte.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if importlib.util.find_spec("stylize") is None:  # run from a checkout without the package installed
    sys.path.insert(0, str(HERE.parent))

from tools.reference_art import write_references  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Write the references and print each path written; returns the exit status."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) > 1 or (args and args[0] in ("-h", "--help")):
        print(__doc__.strip())
        return 0 if args and args[0] in ("-h", "--help") else 2
    out_dir = Path(args[0]) if args else HERE.parent / "stylize" / "assets" / "references"
    start = time.perf_counter()
    for path in write_references(out_dir):
        print(f"wrote {path}")
    print(f"done in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

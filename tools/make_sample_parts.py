"""Regenerate the bundled sample face-part tree.

Usage (from the repository root)::

    python tools/make_sample_parts.py [OUT_DIR]

OUT_DIR defaults to ``stylize/assets/facegen`` (the bundled tree, package data). Only files inside OUT_DIR are
written; nothing is deleted.
"""

from __future__ import annotations

import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent

try:
    from tools.sample_parts import draw_sample_tree
except ImportError:  # run as a plain script from a checkout: make the repo root importable
    sys.path.insert(0, str(HERE.parent))
    from tools.sample_parts import draw_sample_tree


def main(argv: list[str]) -> int:
    """Write the tree into ``argv[0]`` (or the default folder) and report the file count."""
    if len(argv) > 1:
        print("usage: python tools/make_sample_parts.py [OUT_DIR]", file=sys.stderr)
        return 2
    out_dir = pathlib.Path(argv[0]) if argv else HERE.parent / "stylize" / "assets" / "facegen"
    paths = draw_sample_tree(out_dir)
    print(f"wrote {len(paths)} files under {out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

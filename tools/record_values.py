"""Record each bundled style's tonal key in its model.json (``values``, :mod:`stylize.inference.tone`), as
``stylize train`` and ``stylize distill`` do for every style they make: the styles bundled before the key
existed would otherwise measure it at their first use in every process, at whatever torch thread count that
process runs, which may round a pixel of the output differently.

Usage (from the repository root; a few seconds)::

    python tools/record_values.py [NAME ...]

The key is measured at one torch thread; the weights are not touched.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
STYLES_DIR = ROOT / "stylize" / "assets" / "styles"
try:
    import stylize  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))


def main(argv: list[str]) -> int:
    import torch

    from stylize.files import write_json
    from stylize.inference.model_file import METADATA_NAME, load_model
    from stylize.inference.tone import calibrate

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    names = sorted(p.name for p in STYLES_DIR.iterdir() if (p / METADATA_NAME).is_file())
    parser.add_argument("names", nargs="*", help=f"bundled styles (default: all of {', '.join(names)})")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(names))
    if unknown:
        parser.error(f"not a bundled style: {', '.join(unknown)}; choose from {', '.join(names)}")
    args.names = args.names or names
    torch.set_num_threads(1)
    for name in args.names:
        folder = STYLES_DIR / name
        text = (folder / METADATA_NAME).read_text(encoding="utf-8")
        metadata = json.loads(text)
        metadata.pop("values", None)
        model = load_model(folder)
        model.network.eval()
        record = calibrate(model.network).record()
        metadata["values"] = record
        write_json(folder / METADATA_NAME, metadata)
        print(f"{name}: values {record['method']}, paper {record['paper']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

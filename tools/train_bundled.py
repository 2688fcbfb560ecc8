"""Retrain everything bundled in stylize/assets/: the references, the three styles and their distilled
game networks (and, with --with-base, the warm-start base of the older "small" architecture).

Usage (from the repository root; about 30 minutes on a 2-core laptop CPU)::

    python tools/train_bundled.py [--steps 177] [--distill-steps 600] [--with-base] [--parts DIR]

Steps: draw the references (stylize/assets/references/, by tools.reference_art), train each style from
its reference with the defaults of pipeline.toml [train] (arch magenta: from its zero-training style,
docs/training.md) and no per-style setting, then distill each into a "nano" student for the game
(stylize/assets/styles/NAME-nano). Both use step budgets, so the result does not depend on how busy the
machine is. Every step is the public CLI, so this is exactly what a user would run.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
ASSETS = ROOT / "stylize" / "assets"
STYLES_DIR = ASSETS / "styles"
try:
    from stylize.cli import main as stylize_main
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))
    from stylize.cli import main as stylize_main

# The bundled styles; each is trained with the defaults only (no per-style setting).
STYLES: tuple[str, ...] = ("pencil", "ink_wash", "paint")


def run(*args: str) -> None:
    print("+ stylize", " ".join(args), flush=True)
    code = stylize_main(list(args))
    if code:
        raise SystemExit(code)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", default="177", help="training steps of each style (5 idle minutes here: 177)")
    parser.add_argument(
        "--base-minutes", help="training budget of the base network (default: pipeline.toml [base] minutes)"
    )
    parser.add_argument("--with-base", action="store_true", help="also retrain the small architecture's base")
    parser.add_argument(
        "--parts",
        help="part tree of the training faces (default: pipeline.toml [parts] root; the bundled styles "
        "were trained on ../shared/facegen, the game's own tree)",
    )
    parser.add_argument("--only", nargs="+", choices=list(STYLES), help="retrain only these styles")
    parser.add_argument("--distill-steps", type=int, default=600, help="distillation steps of each nano student")
    parser.add_argument("--distill-only", action="store_true", help="keep the styles, redo only their students")
    parser.add_argument("--no-distill", action="store_true", help="train the styles only, keep the students")
    args = parser.parse_args(argv)
    config = str(ROOT / "pipeline.toml")
    from tools.reference_art import write_references

    for path in write_references(ASSETS / "references"):
        print(f"reference {path}")
    if args.with_base and not args.distill_only:
        run(
            "train-base",
            "--config",
            config,
            "--arch",
            "small",
            *(["--minutes", args.base_minutes] if args.base_minutes else []),
            "--styles-dir",
            str(STYLES_DIR),
        )
        # train-base writes STYLES_DIR/_base/small; the package ships it as bases/small
        import shutil

        shutil.rmtree(ASSETS / "bases" / "small", ignore_errors=True)
        (STYLES_DIR / "_base" / "small").rename(ASSETS / "bases" / "small")
        (STYLES_DIR / "_base").rmdir()
    for name in STYLES:
        if args.only and name not in args.only:
            continue
        if not args.distill_only:
            run(
                "train",
                "--config",
                config,
                "--name",
                name,
                "--refs",
                str(ASSETS / "references" / f"{name}.png"),
                "--steps",
                args.steps,
                *(["--parts", args.parts] if args.parts else []),
                "--styles-dir",
                str(STYLES_DIR),
                "--overwrite",
            )
        if args.no_distill:
            continue
        run(
            "distill",
            "--config",
            config,
            "--style",
            name,
            "--steps",
            str(args.distill_steps),
            *(["--parts", args.parts] if args.parts else []),
            "--styles-dir",
            str(STYLES_DIR),
            "--overwrite",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

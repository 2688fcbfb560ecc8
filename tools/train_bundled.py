"""Retrain everything bundled in stylize/assets/: the references, the warm-start base, the three styles and
their distilled game networks.

Usage (from the repository root; about 35 minutes on a 2-core laptop CPU)::

    python tools/train_bundled.py [--minutes M] [--base-minutes M] [--distill-steps 300]

Steps: draw the references (stylize/assets/references/, by tools.reference_art), train the base network
of the "small" architecture on composited faces of the bundled part tree (stylize/assets/bases/small), then
train each style from its reference with the defaults of pipeline.toml [train], warm-started from
that base, and distill each into a "nano" student for the game (stylize/assets/styles/NAME-nano; a step budget, so
the result does not depend on how busy the machine is). Every step is the public CLI, so this is
exactly what a user would run.
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

# Per-style settings on top of pipeline.toml [train], chosen by eye on the preview grid: the pencil and
# paint references have large strokes and a lot of flat paper or sky, so they get a lighter style
# weight (the faces stay readable) and smaller strokes.
# They were trained before the feature term existed, hence --feature-weight 0.
STYLES: dict[str, tuple[str, ...]] = {
    "pencil": ("--style-weight", "3", "--style-scale", "0.6", "--feature-weight", "0"),
    "ink_wash": ("--feature-weight", "0"),
    "paint": ("--style-weight", "3", "--style-scale", "0.6", "--feature-weight", "0"),
}


def run(*args: str) -> None:
    print("+ stylize", " ".join(args), flush=True)
    code = stylize_main(list(args))
    if code:
        raise SystemExit(code)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", help="training budget of each style (default: pipeline.toml [train] minutes)")
    parser.add_argument(
        "--base-minutes", help="training budget of the base network (default: pipeline.toml [base] minutes)"
    )
    parser.add_argument("--skip-base", action="store_true", help="keep the existing base network")
    parser.add_argument("--only", nargs="+", choices=list(STYLES), help="retrain only these styles")
    parser.add_argument("--distill-steps", type=int, default=300, help="distillation steps of each nano student")
    parser.add_argument("--distill-only", action="store_true", help="keep the styles, redo only their students")
    args = parser.parse_args(argv)
    config = str(ROOT / "pipeline.toml")
    from tools.reference_art import write_references

    for path in write_references(ASSETS / "references"):
        print(f"reference {path}")
    if not args.skip_base and not args.distill_only:
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
    for name, extra in STYLES.items():
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
                *(["--minutes", args.minutes] if args.minutes else []),
                "--styles-dir",
                str(STYLES_DIR),
                "--overwrite",
                *extra,
            )
        run(
            "distill",
            "--config",
            config,
            "--style",
            name,
            "--steps",
            str(args.distill_steps),
            "--styles-dir",
            str(STYLES_DIR),
            "--overwrite",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

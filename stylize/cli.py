"""The ``stylize`` command: a thin shell over the Python API.

Each sub-command parses its arguments, calls one API function and prints a short summary. A
``StylizeError`` becomes one line on stderr and exit status 1; Ctrl-C exits 130 with a hint that
rerunning resumes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from stylize import __version__
from stylize.config import PipelineConfig, describe_schema, load_config
from stylize.errors import StylizeError


def _config(args: argparse.Namespace) -> PipelineConfig:
    return load_config(args.config)


def cmd_compose(args: argparse.Namespace) -> int:
    from stylize.compose import compose

    config = _config(args)
    seeds = args.seeds if args.seeds is not None else config.content.seeds_spec
    armoured = args.armoured or config.content.armoured
    out_dir = Path(args.out) if args.out else config.output.dir / "faces"
    result = compose(seeds, out_dir, parts=args.parts, armoured=armoured, config=config, progress=not args.quiet)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"composed {len(result.written)} faces, {len(result.skipped)} already up to date -> {result.out_dir} "
          f"(manifest: {result.manifest.name})")
    return 0


def cmd_parts(args: argparse.Namespace) -> int:
    from stylize.compose import open_part_tree
    from stylize.facegen.tree import CATEGORIES

    config = _config(args)
    generator = open_part_tree(args.parts, config)
    tree = generator.tree
    print(f"part tree {tree.root}")
    for species_index, species in enumerate(tree.species):
        print(f"species {species_index} ({species.name}): {species.num_races} races, {species.num_genders} genders")
        for race in range(species.num_races):
            for gender in range(species.num_genders):
                counts = ", ".join(
                    f"{category} {len(tree.candidates(category, species_index, race, gender))}" for category in CATEGORIES
                )
                print(f"  race {race} gender {gender}: {counts}")
    for note in tree.notes:
        print(f"note: {note}")
    return 0


def cmd_content(args: argparse.Namespace) -> int:
    from stylize.content import ContentFailures, check_sources, iter_content

    config = _config(args)
    check_sources(args.sources)
    failures = ContentFailures()
    rows = []
    for portrait in iter_content(args.sources, parts=args.parts, config=config, failures=failures):
        height, width = portrait.rgb.shape[:2]
        rows.append({"name": portrait.name, "source": portrait.source, "width": width, "height": height,
                     "mode": portrait.source_mode, "alpha": portrait.alpha is not None})
        if not args.json:
            alpha = "alpha" if portrait.alpha is not None else "opaque"
            print(f"{portrait.name}\t{width}x{height}\t{portrait.source_mode}\t{alpha}")
    if args.json:
        print(json.dumps({"portraits": rows, "failed": [str(err) for err in failures.items]}, indent=2))
    for err in failures.items:
        print(f"stylize: error: {err}", file=sys.stderr)
    print(f"{len(rows)} portraits readable, {len(failures.items)} failed", file=sys.stderr)
    return 1 if failures else 0


def cmd_config(args: argparse.Namespace) -> int:
    if args.schema:
        print(describe_schema(), end="")
        return 0
    config = _config(args)
    print(f"config: {config.path or 'built-in defaults (no pipeline.toml here)'}")
    print(f"[parts] root = {config.parts.root}  unreadable = {config.parts.unreadable}")
    print(f"[content] seeds = {config.content.seeds_spec} ({len(config.content.seeds)} faces)  "
          f"armoured = {str(config.content.armoured).lower()}  legacy = {[str(p) for p in config.content.legacy]}")
    print(f"[output] dir = {config.output.dir}")
    print(f"[run] device = {config.run.device}  seed = {config.run.seed}")
    print(f"[styles] dir = {config.styles.dir}  use = {config.styles.use}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from stylize.pipeline import run_pipeline

    summary = run_pipeline(_config(args), progress=not args.quiet)
    for line in summary.lines:
        print(line)
    return 1 if summary.failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stylize",
        description="Neural style transfer post-processing for Pioneer's face portraits.",
    )
    parser.add_argument("--version", action="version", version=f"stylize {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="FILE", help="pipeline config (default: ./pipeline.toml if present)")
    common.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    compose_parser = sub.add_parser("compose", parents=[common], help="composite game faces from a part tree",
                                    description="Composite faces exactly as the game does, one PNG a seed, "
                                                "plus manifest.jsonl. Reruns skip faces already written.")
    compose_parser.add_argument("--parts", metavar="DIR", help="data/facegen part tree (default: [parts] root)")
    compose_parser.add_argument("--seeds", metavar="SPEC", help="e.g. 0-999 or 3,7,12 (default: [content] seeds)")
    compose_parser.add_argument("--armoured", action="store_true", help="armour instead of clothes, accessory and hair")
    compose_parser.add_argument("--out", metavar="DIR", help="output folder (default: [output] dir/faces)")
    compose_parser.set_defaults(func=cmd_compose)

    parts_parser = sub.add_parser("parts", parents=[common], help="summarise a part tree as the game reads it")
    parts_parser.add_argument("--parts", metavar="DIR", help="data/facegen part tree (default: [parts] root)")
    parts_parser.set_defaults(func=cmd_parts)

    content_parser = sub.add_parser("content", parents=[common], help="list the portraits a content source yields",
                                    description="Read content sources (compose:SEEDS or image files/folders) "
                                                "and list each portrait's size, mode and alpha; unreadable "
                                                "files are reported and make the exit status non-zero.")
    content_parser.add_argument("sources", nargs="+", metavar="SOURCE", help="compose:0-15, a folder or an image")
    content_parser.add_argument("--parts", metavar="DIR", help="part tree for compose: sources")
    content_parser.add_argument("--json", action="store_true", help="print JSON")
    content_parser.set_defaults(func=cmd_content)

    config_parser = sub.add_parser("config", parents=[common], help="check pipeline.toml and show the values in force")
    config_parser.add_argument("--schema", action="store_true", help="print every key with its default and meaning")
    config_parser.set_defaults(func=cmd_config)

    run_parser = sub.add_parser("run", parents=[common], help="run the whole job pipeline.toml describes")
    run_parser.set_defaults(func=cmd_run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except StylizeError as err:
        print(f"stylize: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stylize: interrupted; finished work is kept, rerun the same command to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `stylize parts | head`: the reader left, which is not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())

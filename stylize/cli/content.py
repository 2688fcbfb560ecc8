"""Content commands: ``compose`` (faces from the part tree), ``parts`` (the tree as the game reads it)
and ``content`` (what a content source yields)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from stylize.cli.options import config_of, path_type, setting


def cmd_compose(args: argparse.Namespace) -> int:
    from stylize.content.compose import compose

    config = config_of(args)
    seeds = args.seeds if args.seeds is not None else config.content.seeds_spec
    armoured = args.armoured if args.armoured is not None else config.content.armoured
    out_dir = Path(args.out_dir) if args.out_dir else config.output.dir / "faces"
    result = compose(seeds, out_dir, parts=args.parts, armoured=armoured, config=config, progress=not args.quiet)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    print(
        f"composed {len(result.written)} faces, {len(result.skipped)} already up to date -> {result.out_dir} "
        f"(manifest: {result.manifest.name})"
    )
    return 0


def cmd_parts(args: argparse.Namespace) -> int:
    from stylize.content.compose import open_part_tree
    from stylize.content.tree import CATEGORIES

    config = config_of(args)
    generator = open_part_tree(args.parts, config)
    tree = generator.tree
    print(f"part tree {tree.root}")
    for species_index, species in enumerate(tree.species):
        print(f"species {species_index} ({species.name}): {species.num_races} races, {species.num_genders} genders")
        for race in range(species.num_races):
            for gender in range(species.num_genders):
                counts = ", ".join(
                    f"{category} {len(tree.candidates(category, species_index, race, gender))}"
                    for category in CATEGORIES
                )
                print(f"  race {race} gender {gender}: {counts}")
    for note in tree.notes:
        print(f"note: {note}")
    return 0


def cmd_content(args: argparse.Namespace) -> int:
    from stylize.content.sources import ContentFailures, check_sources, iter_content

    config = config_of(args)
    check_sources(args.sources)
    failures = ContentFailures()
    rows = []
    for portrait in iter_content(args.sources, parts=args.parts, config=config, failures=failures):
        height, width = portrait.rgb.shape[:2]
        rows.append(
            {
                "name": portrait.name,
                "source": portrait.source,
                "width": width,
                "height": height,
                "mode": portrait.source_mode,
                "alpha": portrait.alpha is not None,
            }
        )
        if not args.json:
            alpha = "alpha" if portrait.alpha is not None else "opaque"
            print(f"{portrait.name}\t{width}x{height}\t{portrait.source_mode}\t{alpha}")
    if args.json:
        print(json.dumps({"portraits": rows, "failed": [str(err) for err in failures.items]}, indent=2))
    for err in failures.items:
        print(f"stylize: error: {err}", file=sys.stderr)
    print(f"{len(rows)} portraits readable, {len(failures.items)} failed", file=sys.stderr)
    return 1 if failures else 0


def _parts_option(parser: argparse.ArgumentParser) -> None:
    setting(parser, "parts", "root", dest="parts", metavar="DIR")


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    compose_parser = sub.add_parser(
        "compose",
        parents=[common],
        help="composite game faces from a part tree",
        description="Composite faces exactly as the game does, one PNG a seed, "
        "plus manifest.jsonl. Reruns skip faces already written.",
    )
    _parts_option(compose_parser)
    setting(compose_parser, "content", "seeds", metavar="SPEC")
    setting(compose_parser, "content", "armoured", help="armour instead of clothes, accessory and hair")
    compose_parser.add_argument(
        "--out",
        dest="out_dir",
        type=path_type("--out"),
        metavar="DIR",
        help="output folder (default: [output] dir/faces)",
    )
    compose_parser.set_defaults(func=cmd_compose, command_parser=compose_parser)

    parts_parser = sub.add_parser("parts", parents=[common], help="summarise a part tree as the game reads it")
    _parts_option(parts_parser)
    parts_parser.set_defaults(func=cmd_parts, command_parser=parts_parser)

    content_parser = sub.add_parser(
        "content",
        parents=[common],
        help="list the portraits a content source yields",
        description="Read content sources (compose:SEEDS or image files/folders) "
        "and list each portrait's size, mode and alpha; unreadable "
        "files are reported and make the exit status non-zero.",
    )
    content_parser.add_argument("sources", nargs="+", metavar="SOURCE", help="compose:0-15, a folder or an image")
    setting(content_parser, "parts", "root", dest="parts", metavar="DIR", help="part tree for compose: sources")
    content_parser.add_argument("--json", action="store_true", help="print JSON")
    content_parser.set_defaults(func=cmd_content, command_parser=content_parser)

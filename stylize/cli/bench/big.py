"""``stylize bench big SIDE``: a big portrait against a game portrait (:mod:`stylize.bench.big`)."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from stylize.bench.big import STYLES
from stylize.cli.bench.options import json_option, progress_lines
from stylize.cli.options import kind_type, locations
from stylize.files import write_json
from stylize.values import COUNT

NAME = "big"


def run(args: argparse.Namespace) -> int:
    from stylize.bench.big import bench_big_images, format_big_images

    rows = bench_big_images(
        args.styles, args.side, parts=args.parts, styles_dir=args.styles_dir, progress=progress_lines(args)
    )
    print(format_big_images(rows))
    if args.json:
        write_json(args.json, {"big_images": [asdict(r) for r in rows]})
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        NAME,
        parents=[common],
        help="a SIDE x SIDE portrait against a 295x285 one: s per megapixel, apply's peak memory",
        description="Time a SIDE x SIDE portrait against a 295x285 one (s per megapixel) and measure the peak "
        "memory of stylize apply on it, per style of --styles.",
    )
    parser.add_argument("side", type=kind_type(COUNT, "SIDE"), metavar="SIDE", help="the big portrait's side in pixels")
    parser.add_argument(
        "--styles",
        nargs="+",
        default=list(STYLES),
        metavar="STYLE",
        help="the styles (default: pencil and pencil-nano, a magenta and a nano network)",
    )
    json_option(parser)
    locations(parser, device=False)
    parser.set_defaults(func=run, command_parser=parser)
    return parser

"""``stylize bench studio REF...``: the studio over HTTP (:mod:`stylize.bench.studio`)."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from stylize.cli.bench.options import json_option, progress_lines
from stylize.cli.options import locations
from stylize.files import write_json

NAME = "studio"


def run(args: argparse.Namespace) -> int:
    from stylize.bench.studio import bench_studio, format_studio

    bench = bench_studio(args.refs, parts=args.parts, config=args.config, progress=progress_lines(args))
    print(format_studio(bench))
    if args.json:
        write_json(args.json, asdict(bench))
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        NAME,
        parents=[common],
        help="time stylize studio over HTTP",
        description="Start stylize studio as a user does (a fresh process and folder) and time over HTTP: drop "
        "each reference -> 16 faces styled, and the page's requests' latency while idle and while a training "
        "job runs (--config shapes that training).",
    )
    parser.add_argument("refs", nargs="+", metavar="REF", help="reference images to drop")
    json_option(parser)
    locations(parser, device=False, styles=False)
    parser.set_defaults(func=run, command_parser=parser)
    return parser

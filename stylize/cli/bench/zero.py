"""``stylize bench zero REF...``: the zero-training styles' figures (:mod:`stylize.bench.zero`)."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from stylize.cli.bench.options import json_option, progress_lines, timing_options
from stylize.cli.options import locations
from stylize.files import write_json

NAME = "zero"


def run(args: argparse.Namespace) -> int:
    from stylize.bench.zero import bench_zero_training, format_zero_training

    rows, sharing = bench_zero_training(
        args.refs,
        parts=args.parts,
        preview=not args.no_preview,
        min_runs=args.min_runs,
        min_seconds=args.min_seconds,
        progress=progress_lines(args),
    )
    print(format_zero_training(rows, sharing))
    if args.json:
        report = {"zero_training": [asdict(r) for r in rows], "sharing": [asdict(s) for s in sharing]}
        write_json(args.json, report, nan_as_null=True)  # a NaN figure as null
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        NAME,
        parents=[common],
        help="time zero-training styles of references and judge their faces",
        description="For each reference: the time to make its zero-training style, to paint a portrait on one "
        "thread (with and without the face guard) beside the johnson network, and a 16-face preview from the "
        "command line; what N styles cost in one network; and the face judge's figures on those 16 faces "
        "(same person, value spread, rank-1, value order).",
    )
    parser.add_argument("refs", nargs="+", metavar="REF", help="reference images, one style each")
    parser.add_argument("--no-preview", action="store_true", help="skip the end-to-end preview timing")
    timing_options(parser)
    json_option(parser)
    locations(parser, device=False, styles=False)
    parser.set_defaults(func=run, command_parser=parser)
    return parser

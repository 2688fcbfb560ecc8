"""``stylize bench device``: the GPU path's figures beside the CPU's (:mod:`stylize.bench.device`)."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from stylize.bench.device import DEVICES, SECONDS
from stylize.cli.bench.options import json_option, progress_lines, seconds_option
from stylize.files import write_json

NAME = "device"


def run(args: argparse.Namespace) -> int:
    from stylize.bench.device import bench_device, format_device

    rows = bench_device([args.device], seconds=args.min_seconds, progress=progress_lines(args))
    print(format_device(rows))
    if args.json:
        write_json(args.json, [asdict(r) for r in rows])
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        NAME,
        parents=[common],
        help="the GPU path: apply portraits/s and training ms/step per precision, beside the CPU",
        description="Apply portraits/s at 295x285 and 1024 px (pencil and pencil-nano) and training ms/step, "
        "per precision, on the CPU and, with --device cuda, on the GPU in the same run (its figures as ratios "
        "to the CPU's).",
    )
    parser.add_argument(
        "--device",
        choices=DEVICES,
        default=DEVICES[0],
        help="cuda: also the GPU's figures (default cpu: the CPU's alone; the CPU is always measured)",
    )
    seconds_option(parser, SECONDS, "apply figure")
    json_option(parser)
    parser.set_defaults(func=run, command_parser=parser)
    return parser

"""``stylize bench runtimes``: every network on one thread in each runtime, per thread count in PyTorch,
bulk apply throughput, and kill/resume (:mod:`stylize.bench.runtimes`)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path

from stylize.bench.runtimes import APPLY_IMAGES, APPLY_STYLE, THREADS, WORKERS
from stylize.cli.bench.options import json_option, progress_lines, timing_options
from stylize.cli.options import config_of, kind_type, locations, path_type
from stylize.config import WORKERS as WORKER_COUNT
from stylize.files import write_json
from stylize.nets.archs import ARCH_NAMES
from stylize.values import FACES_OR_ZERO, Int

NAME = "runtimes"
THREAD_COUNT = Int(1, 1024)


def run(args: argparse.Namespace) -> int:
    from stylize.bench.runtimes import (
        bench_apply,
        bench_kill_resume,
        bench_networks,
        bench_report,
        bench_runtimes,
        format_apply_table,
        format_network_table,
        format_runtime_table,
    )

    config = config_of(args)
    log = progress_lines(args)
    cpp_binary = None
    if not args.no_cpp:
        from stylize.shipping.cpp import build_cpp_example, find_cpp_tools

        missing = find_cpp_tools()
        if missing:
            print(f"note: no C++ column ({missing})", file=sys.stderr)
        else:
            cpp_binary = build_cpp_example(Path(args.cpp_build))
    runtime_rows = bench_runtimes(
        args.archs, min_runs=args.min_runs, min_seconds=args.min_seconds, cpp_binary=cpp_binary, progress=log
    )
    print(format_runtime_table(runtime_rows))
    print()
    network_rows = bench_networks(
        args.archs, args.threads, min_runs=args.min_runs, min_seconds=args.min_seconds, progress=log
    )
    print("eager PyTorch per thread count, with batch-4 throughput:")
    print(format_network_table(network_rows))
    apply_rows = []
    if args.apply_images > 0:
        apply_rows = bench_apply(
            args.apply_style,
            args.workers,
            images=args.apply_images,
            parts=args.parts,
            styles_dir=args.styles_dir,
            config=config,
        )
        print()
        print(format_apply_table(apply_rows))
    report = bench_report(network_rows, apply_rows, runtime_rows)
    if args.kill_resume:
        row = bench_kill_resume(
            args.apply_style, images=args.kill_resume, parts=args.parts, styles_dir=args.styles_dir, config=config
        )
        print(
            f"\nkill/resume: {row.images} images with {row.style}; SIGKILL after {row.killed_after} outputs, the "
            f"rerun wrote {row.resumed_wrote}; outputs identical to an uninterrupted run: "
            f"{'yes' if row.identical else 'NO'} ({row.uninterrupted_s:.1f} s uninterrupted, "
            f"{row.killed_plus_resumed_s:.1f} s killed + resumed)"
        )
        report["kill_resume"] = asdict(row)
    if args.json:
        write_json(args.json, report)
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        NAME,
        parents=[common],
        help="ms per portrait of every network in each runtime; thread counts; apply throughput",
        description="ms per 295x285 portrait and 74x72 thumbnail per network: on one "
        "thread in eager PyTorch, ONNX Runtime, OpenCV DNN and the C++ example, "
        "then per thread count in PyTorch, as ratios to the Johnson-size "
        "network in the same run; and end-to-end apply throughput per worker "
        "count.",
    )
    parser.add_argument(
        "--archs",
        nargs="+",
        default=list(ARCH_NAMES),
        choices=ARCH_NAMES,
        metavar="ARCH",
        help=f"networks to time: {', '.join(ARCH_NAMES)} (default: all; johnson, the baseline, is always timed)",
    )
    parser.add_argument(
        "--no-cpp",
        action="store_true",
        help="skip the column of the C++ example (stylize/assets/cpp, built with the system OpenCV)",
    )
    parser.add_argument(
        "--cpp-build",
        default="build/cpp",
        type=path_type("--cpp-build"),
        metavar="DIR",
        help="where the C++ example is built (default build/cpp)",
    )
    parser.add_argument(
        "--threads",
        nargs="+",
        type=kind_type(THREAD_COUNT, "--threads"),
        default=list(THREADS),
        metavar="N",
        help=f"torch thread counts of the PyTorch table (default {' '.join(map(str, THREADS))})",
    )
    timing_options(parser)
    parser.add_argument(
        "--apply-style", default=APPLY_STYLE, help=f"style for the apply throughput (default {APPLY_STYLE})"
    )
    parser.add_argument(
        "--apply-images",
        type=kind_type(FACES_OR_ZERO, "--apply-images"),
        default=APPLY_IMAGES,
        help=f"faces for the apply throughput (default {APPLY_IMAGES}; 0: skip)",
    )
    parser.add_argument(
        "--workers",
        nargs="+",
        type=kind_type(WORKER_COUNT, "--workers"),
        default=list(WORKERS),
        metavar="N",
        help=f"apply worker counts of the throughput (default {' '.join(map(str, WORKERS))})",
    )
    parser.add_argument(
        "--kill-resume",
        type=kind_type(FACES_OR_ZERO, "--kill-resume"),
        default=0,
        metavar="N",
        help="also kill an apply run of N faces half-way, resume it and compare the bytes",
    )
    json_option(parser)
    locations(parser, device=False)
    parser.set_defaults(func=run, command_parser=parser)
    return parser

"""Shipping commands: ``export`` (a style as ONNX), ``export-parts`` (a pre-stylized part tree for the
game) and ``bench`` (runtimes of the networks and of bulk apply)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stylize.cli.options import apply_settings, config_of, controls, kind_type, locations, parameter, path_type, setting
from stylize.config import PARAMETERS, WORKERS
from stylize.errors import StylizeError
from stylize.files import write_json
from stylize.nets.archs import ARCH_NAMES
from stylize.values import COUNT, COUNT_OR_ZERO, FACES_OR_ZERO, SECONDS, Int

THREADS = Int(1, 1024)

if TYPE_CHECKING:
    from stylize.config import PipelineConfig
    from stylize.inference.model_file import StyleModel


def _export_model(args: argparse.Namespace, config: PipelineConfig) -> StyleModel:
    """One style (today's export), or several zero-training styles in one network: ``--style A --style B``
    (equal weights by default) or ``--mix A:0.7,B:0.3`` (those weights by default)."""
    from stylize.inference.reference_style import mix_styles, parse_mix
    from stylize.inference.styles import load_style

    styles = args.style or []
    if args.mix and styles:
        raise StylizeError(
            "--style and --mix exclude each other; give the styles as --style A --style B (equal weights) "
            "or as --mix A:0.7,B:0.3"
        )
    if args.mix:
        items = parse_mix(args.mix)
        models = [load_style(name, args.styles_dir, config) for name, _ in items]
        return mix_styles(models, [weight for _, weight in items])
    if not styles:
        raise StylizeError(
            "give the style: --style NAME (or zero-training styles to choose from at run time: "
            "--style A --style B, or --mix A:0.7,B:0.3)"
        )
    if len(styles) == 1:
        return load_style(styles[0], args.styles_dir, config)
    if len(set(styles)) != len(styles):
        raise StylizeError(f"--style {' --style '.join(styles)}: name each style once")
    models = [load_style(name, args.styles_dir, config) for name in styles]
    return mix_styles(models, [1.0] * len(models), name="+".join(m.name for m in models))


def cmd_export(args: argparse.Namespace) -> int:
    from stylize.shipping.onnx_export import export_onnx

    config = config_of(args)
    if args.fp16 and args.int8:
        raise StylizeError("--fp16 and --int8 exclude each other; choose one (or neither for float32)")
    precision = "fp16" if args.fp16 else "int8" if args.int8 else "fp32"
    model = _export_model(args, config)
    out = Path(args.out) if args.out else config.output.dir / "export" / f"{model.name}.onnx"
    keep = config.styles.keep_values if args.keep_values is None else args.keep_values
    result = export_onnx(
        model, out, precision=precision, check=not args.no_check, overwrite=args.overwrite, keep_values=keep
    )
    for check in result.checks:
        print(f"check: {check.line()}")
    print(
        f"exported {model.name} ({result.metadata['architecture']}, {precision}) -> {result.path} "
        f"({result.bytes / 1024:.0f} KiB); input: {result.metadata['input_contract']}"
    )
    if "style_names" in result.metadata:
        print(
            f"styles: {result.metadata['style_names']} (input style_weights: one weight per style, in that order; "
            f"default {result.metadata['default_style_weights']}); the face guard is not in the graph"
        )
    return 0


def cmd_export_parts(args: argparse.Namespace) -> int:
    from stylize.shipping.part_sets import GAP_GRID, GAP_JSON, export_parts, format_gap, measure_part_set_gap, write_gap

    config = config_of(args)
    settings = apply_settings(args, config)
    out_dir = Path(args.out_dir) if args.out_dir else config.output.dir / "parts" / Path(args.style).name
    result = export_parts(
        args.style,
        out_dir,
        parts=args.parts,
        contexts=args.contexts,
        settings=settings,
        overwrite=args.overwrite,
        styles_dir=args.styles_dir,
        config=config,
        device=args.device or config.run.device,
        progress=not args.quiet,
    )
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    print(result.summary())
    if args.measure:
        gap = measure_part_set_gap(
            args.style,
            out_dir,
            seeds=f"{args.measure_from}-{args.measure_from + args.measure - 1}",
            grid=out_dir / GAP_GRID,
            styles_dir=args.styles_dir,
            config=config,
            device=args.device or config.run.device,
            progress=not args.quiet,
        )
        write_gap(gap, out_dir / GAP_JSON)
        print(format_gap(gap))
        print(f"-> {out_dir / GAP_JSON}, {out_dir / GAP_GRID}")
    return 0


def _bench_zero_training(args: argparse.Namespace, log: Any) -> int:
    from stylize.shipping.bench_zero import bench_zero_training, format_zero_training

    rows, sharing = bench_zero_training(
        args.zero_training,
        parts=args.parts,
        preview=not args.no_preview,
        min_runs=args.min_runs,
        min_seconds=args.min_seconds,
        progress=log,
    )
    print(format_zero_training(rows, sharing))
    if args.json:
        report = {"zero_training": [asdict(r) for r in rows], "sharing": [asdict(s) for s in sharing]}
        write_json(args.json, report, nan_as_null=True)  # a NaN figure as null
    return 0


def _bench_studio(args: argparse.Namespace, log: Any) -> int:
    from stylize.shipping.bench_studio import bench_studio, format_studio

    bench = bench_studio(args.studio, parts=args.parts, config=args.config, progress=log)
    print(format_studio(bench))
    if args.json:
        write_json(args.json, asdict(bench))
    return 0


def _bench_device(args: argparse.Namespace, log: Any) -> int:
    from stylize.shipping.bench_device import bench_device, format_device

    rows = bench_device([args.device], seconds=args.min_seconds, progress=log)
    print(format_device(rows))
    if args.json:
        write_json(args.json, [asdict(r) for r in rows])
    return 0


def _bench_big_image(args: argparse.Namespace, log: Any) -> int:
    from stylize.shipping.bench_big import bench_big_images, format_big_images

    rows = bench_big_images(args.big_styles, args.big_image, parts=args.parts, styles_dir=args.styles_dir, progress=log)
    print(format_big_images(rows))
    if args.json:
        write_json(args.json, {"big_images": [asdict(r) for r in rows]})
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from stylize.shipping.bench import (
        bench_apply,
        bench_networks,
        bench_report,
        bench_runtimes,
        format_apply_table,
        format_network_table,
        format_runtime_table,
    )

    config = config_of(args)
    log = None if args.quiet else (lambda line: print(line, file=sys.stderr))
    if args.zero_training:
        return _bench_zero_training(args, log)
    if args.studio:
        return _bench_studio(args, log)
    if args.device:
        return _bench_device(args, log)
    if args.big_image:
        return _bench_big_image(args, log)
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
        from stylize.shipping.bench import bench_kill_resume

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


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    export_parser = sub.add_parser(
        "export",
        parents=[common],
        help="export a style as ONNX for a C++ runtime",
        description="Write a style network as an ONNX file (dynamic height and width, "
        "metadata properties saying how to call it) and check it against "
        "PyTorch in ONNX Runtime and OpenCV's DNN module. Zero-training styles (several --style, or "
        "--mix) go into one graph with a second input, style_weights, that picks the style or mix at "
        "run time; their face guard stays in Python.",
    )
    export_parser.add_argument(
        "--style",
        action="append",
        metavar="NAME",
        help="style name or folder; give it several times for zero-training styles, which then share one "
        "graph whose input style_weights chooses the style and mix at run time",
    )
    export_parser.add_argument(
        "--mix",
        metavar="A:W,B:W",
        help="zero-training styles in one graph as --style several times, with these weights as its default "
        "mix (e.g. pencil_ref:0.7,ink_ref:0.3)",
    )
    export_parser.add_argument("--format", default="onnx", choices=("onnx",), help="onnx (the only format)")
    export_parser.add_argument(
        "--fp16", action="store_true", help="half-precision weights (ONNX Runtime; not OpenCV 4.6)"
    )
    export_parser.add_argument("--int8", action="store_true", help="8-bit conv weights (ONNX Runtime; not OpenCV 4.6)")
    export_parser.add_argument(
        "--out",
        type=path_type("--out"),
        metavar="FILE",
        help="output .onnx file (default [output] dir/export/STYLE.onnx)",
    )
    export_parser.add_argument("--no-check", action="store_true", help="skip the round-trip check against PyTorch")
    export_parser.add_argument("--overwrite", action="store_true", help="replace an existing file")
    spec = PARAMETERS["keep_values"]
    parameter(
        export_parser,
        "keep_values",
        default=None,
        help=f"{spec.help}; in the graph (default [styles] keep_values, {spec.default})",
    )
    locations(export_parser, device=False, parts=False)
    export_parser.set_defaults(func=cmd_export, command_parser=export_parser)

    parts_export_parser = sub.add_parser(
        "export-parts",
        parents=[common],
        help="a pre-stylized copy of a part tree for the game",
        description="Write a complete data/facegen tree (same files, sizes and alpha) whose parts are stylized in "
        "context: each part is cut out of whole stylized faces it appears in, so the game composites "
        "styled faces at no run-time cost. OUT/export_parts.json records the inputs; a rerun with the "
        "same inputs does nothing, other inputs need --overwrite. --measure N compares N faces from "
        "the tree with stylize apply on the original faces (OUT/gap.json, OUT/gap_grid.png).",
    )
    parts_export_parser.add_argument("--style", required=True, help="style name or folder")
    setting(parts_export_parser, "parts", "root", dest="parts", metavar="DIR")
    parts_export_parser.add_argument(
        "--out",
        dest="out_dir",
        type=path_type("--out"),
        metavar="DIR",
        help="output tree (default [output] dir/parts/STYLE)",
    )
    parameter(parts_export_parser, "contexts", metavar="K")
    parts_export_parser.add_argument("--overwrite", action="store_true", help="replace an earlier export in --out")
    parameter(
        parts_export_parser,
        "measure",
        metavar="N",
        help="also measure N faces' gap to stylize apply and judge both routes' values and identity, e.g. 16 "
        "(default 0: no measurement)",
    )
    parameter(parts_export_parser, "measure_from", metavar="SEED")
    controls(parts_export_parser)
    locations(parts_export_parser, parts=False)
    parts_export_parser.set_defaults(func=cmd_export_parts, command_parser=parts_export_parser)

    bench_parser = sub.add_parser(
        "bench",
        parents=[common],
        help="time the networks and bulk apply",
        description="ms per 295x285 portrait and 74x72 thumbnail per network: on one "
        "thread in eager PyTorch, ONNX Runtime, OpenCV DNN and the C++ example, "
        "then per thread count in PyTorch, as ratios to the Johnson-size "
        "network in the same run; and end-to-end apply throughput per worker "
        "count.",
    )
    bench_parser.add_argument(
        "--archs",
        nargs="+",
        default=list(ARCH_NAMES),
        choices=ARCH_NAMES,
        metavar="ARCH",
        help=f"networks to time: {', '.join(ARCH_NAMES)} (default: all; johnson, the baseline, is always timed)",
    )
    bench_parser.add_argument(
        "--no-cpp",
        action="store_true",
        help="skip the column of the C++ example (stylize/assets/cpp, built with the system OpenCV)",
    )
    bench_parser.add_argument(
        "--cpp-build",
        default="build/cpp",
        type=path_type("--cpp-build"),
        metavar="DIR",
        help="where the C++ example is built (default build/cpp)",
    )
    bench_parser.add_argument("--threads", nargs="+", type=kind_type(THREADS, "--threads"), default=[1, 2], metavar="N")
    bench_parser.add_argument(
        "--min-runs", type=kind_type(COUNT, "--min-runs"), default=5, help="timed runs per figure (median; default 5)"
    )
    bench_parser.add_argument(
        "--min-seconds",
        type=kind_type(SECONDS, "--min-seconds"),
        default=1.0,
        help="time each figure at least this long (default 1)",
    )
    bench_parser.add_argument("--apply-style", default="pencil", help="style for the apply throughput (default pencil)")
    bench_parser.add_argument(
        "--apply-images",
        type=kind_type(FACES_OR_ZERO, "--apply-images"),
        default=48,
        help="faces for the apply throughput (default 48; 0: skip)",
    )
    bench_parser.add_argument("--workers", nargs="+", type=kind_type(WORKERS, "--workers"), default=[1, 2], metavar="N")
    bench_parser.add_argument(
        "--kill-resume",
        type=kind_type(FACES_OR_ZERO, "--kill-resume"),
        default=0,
        metavar="N",
        help="also kill an apply run of N faces half-way, resume it and compare the bytes",
    )
    bench_parser.add_argument(
        "--zero-training",
        nargs="+",
        metavar="REF",
        help="instead, time zero-training styles of these references: make, 1-thread portrait, 16-face preview; "
        "and judge those 16 faces (same person, value spread, rank-1, value order)",
    )
    bench_parser.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        help="instead, the GPU path's figures: apply portraits/s at 295x285 and 1024 px and training ms/step, "
        "per precision, on this device beside the CPU in the same run",
    )
    bench_parser.add_argument(
        "--studio",
        nargs="+",
        metavar="REF",
        help="instead, time stylize studio over HTTP: drop each reference -> 16 faces styled, and its "
        "requests' latency while idle and while a training job runs",
    )
    bench_parser.add_argument(
        "--no-preview", action="store_true", help="with --zero-training: skip the end-to-end preview timing"
    )
    bench_parser.add_argument(
        "--big-image",
        type=kind_type(COUNT_OR_ZERO, "--big-image"),
        default=0,
        metavar="SIDE",
        help="instead, time a SIDE x SIDE portrait against a 295x285 one (s per megapixel) and measure the peak "
        "memory of stylize apply on it, per style of --big-styles",
    )
    bench_parser.add_argument(
        "--big-styles",
        nargs="+",
        default=["pencil", "pencil-nano"],
        metavar="STYLE",
        help="with --big-image: the styles (default: pencil and pencil-nano, a magenta and a nano network)",
    )
    bench_parser.add_argument("--json", type=path_type("--json"), metavar="FILE", help="also write the figures as JSON")
    locations(bench_parser, device=False)
    bench_parser.set_defaults(func=cmd_bench, command_parser=bench_parser)

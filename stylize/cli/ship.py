"""Shipping commands: ``export`` (a style as ONNX) and ``export-parts`` (a pre-stylized part tree for the
game, and with ``--measure`` its gap to whole faces). ``stylize bench`` is :mod:`stylize.cli.bench`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from stylize.cli.options import apply_settings, config_of, controls, locations, parameter, path_type, setting
from stylize.config import PARAMETERS
from stylize.errors import StylizeError

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
    from stylize.evaluation.part_set_gap import GAP_GRID, GAP_JSON, format_gap, measure_part_set_gap, write_gap
    from stylize.shipping.part_sets import export_parts

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

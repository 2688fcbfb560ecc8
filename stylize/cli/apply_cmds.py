"""Stylizing commands: ``apply`` (files and folders in bulk) and ``preview`` (a style x content grid)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stylize.cli.options import apply_settings, config_of, controls, locations, parameter, path_type
from stylize.errors import StylizeError


def cmd_apply(args: argparse.Namespace) -> int:
    from stylize.inference.bulk import apply
    from stylize.inference.styles import parse_style_names

    config = config_of(args)
    if bool(args.styles) == bool(args.mix):
        raise StylizeError("give --style NAME or --mix NAME:W,NAME:W (one of the two)")
    if args.mix:
        from stylize.inference.reference_style import mix_name, parse_mix

        folder = mix_name(parse_mix(args.mix))
        styles: list[str] = []
    else:
        styles = parse_style_names(args.styles)
        folder = "+".join(styles) if len(styles) > 1 else styles[0]
    out_dir = Path(args.out_dir) if args.out_dir else config.output.dir / "stylized" / folder
    result = apply(
        styles,
        args.inputs,
        out_dir,
        mix=args.mix,
        strength=args.strength,
        preserve_color=args.preserve_color,
        scale=args.scale,
        keep_values=args.keep_values,
        device=args.device or config.run.device,
        precision=args.precision,
        workers=args.workers,
        batch=args.batch,
        styles_dir=args.styles_dir,
        config=config,
        progress=not args.quiet,
        engine=args.engine,
        address=args.address,
        actors=args.actors,
        actor_cpus=args.actor_cpus,
    )
    for message in result.failed:  # one line each on stderr; the count and the hint go with the summary
        print(f"stylize: error: {message}", file=sys.stderr)
    print(result.summary())
    if result.failed:
        print("fix or remove the failed inputs (listed on stderr) and rerun: finished outputs are kept")
    return 1 if result.failed else 0


def cmd_preview(args: argparse.Namespace) -> int:
    from stylize.evaluation.preview import preview

    config = config_of(args)
    extra = bool(args.refs or args.mix or args.interpolate)
    styles = args.styles or ([] if extra else list(config.styles.use))
    out_dir = Path(args.out_dir) if args.out_dir else config.output.dir / "preview"
    result = preview(
        styles,
        args.content or [f"compose:{config.content.seeds_spec}"],
        out_dir,
        limit=args.limit,
        refs=args.refs or (),
        mix=args.mix,
        interpolate=args.interpolate,
        settings=apply_settings(args, config),
        parts=args.parts,
        styles_dir=args.styles_dir,
        config=config,
        device=args.device or config.run.device,
        progress=not args.quiet,
    )
    for message in result.failed:
        print(f"stylize: error: {message}", file=sys.stderr)
    print(f"preview of {len(result.styles)} styles x {len(result.rows)} portraits -> {result.grid} and {result.html}")
    return 1 if result.failed else 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    apply_parser = sub.add_parser(
        "apply",
        parents=[common],
        help="stylize images with trained styles",
        description="Stylize image files and folders (recursive) with one or several "
        "styles. Output mirrors the input's relative paths as PNG (one "
        "subfolder a style when several are given), with size and alpha "
        "kept. DIR/manifest.jsonl makes reruns skip up-to-date outputs; "
        "bad inputs are reported and skipped (exit status 1 at the end).",
    )
    apply_parser.add_argument("inputs", nargs="+", metavar="INPUT")
    apply_parser.add_argument(
        "--style",
        dest="styles",
        action="append",
        metavar="NAME",
        help="style name or folder; repeat (or comma-separate) for several",
    )
    apply_parser.add_argument(
        "--mix",
        metavar="NAME:W,NAME:W",
        help="one network mixing zero-training styles (weights normalised); outputs go to a folder named after the mix",
    )
    apply_parser.add_argument(
        "--out",
        dest="out_dir",
        type=path_type("--out"),
        metavar="DIR",
        help="output folder (default [output] dir/stylized/STYLE)",
    )
    controls(apply_parser)
    parameter(apply_parser, "precision")
    parameter(apply_parser, "workers")
    parameter(apply_parser, "batch")
    parameter(apply_parser, "engine")
    parameter(apply_parser, "address", metavar="ADDR")
    parameter(apply_parser, "actors")
    parameter(apply_parser, "actor_cpus", metavar="N")
    locations(apply_parser, parts=False)
    apply_parser.set_defaults(func=cmd_apply, command_parser=apply_parser)

    preview_parser = sub.add_parser(
        "preview",
        parents=[common],
        help="style x content grid (PNG and HTML)",
        description="Stylize portraits with several styles and write grid.png and a "
        "self-contained index.html contact sheet (images beside it).",
    )
    preview_parser.add_argument(
        "--styles", nargs="+", default=[], metavar="A,B,C", help="styles to compare (default [styles] use)"
    )
    preview_parser.add_argument(
        "--refs", nargs="+", metavar="IMAGE", help="reference images to show as zero-training styles (no style folder)"
    )
    preview_parser.add_argument("--mix", metavar="NAME:W,NAME:W", help="a column for this mix of zero-training styles")
    preview_parser.add_argument(
        "--interpolate",
        metavar="A[,B]",
        help="an interpolation row: A to B in steps of 0.25 (zero-training styles), or the unstyled face to A",
    )
    preview_parser.add_argument(
        "--content", nargs="+", metavar="SOURCE", help="compose:0-15 and/or folders (default compose:[content] seeds)"
    )
    preview_parser.add_argument(
        "--out",
        dest="out_dir",
        type=path_type("--out"),
        metavar="DIR",
        help="output folder (default [output] dir/preview)",
    )
    parameter(preview_parser, "limit")
    controls(preview_parser)
    locations(preview_parser)
    preview_parser.set_defaults(func=cmd_preview, command_parser=preview_parser)

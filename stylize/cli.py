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
from dataclasses import asdict, replace
from pathlib import Path

from stylize import __version__
from stylize.config import DEVICES, PipelineConfig, describe_schema, load_config
from stylize.errors import StylizeError


def _config(args: argparse.Namespace) -> PipelineConfig:
    return load_config(args.config)


def cmd_compose(args: argparse.Namespace) -> int:
    from stylize.content.compose import compose

    config = _config(args)
    seeds = args.seeds if args.seeds is not None else config.content.seeds_spec
    armoured = args.armoured or config.content.armoured
    out_dir = Path(args.out) if args.out else config.output.dir / "faces"
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

    config = _config(args)
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

    config = _config(args)
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


def cmd_config(args: argparse.Namespace) -> int:
    if args.schema:
        print(describe_schema(), end="")
        return 0
    config = _config(args)
    print(f"config: {config.path or 'built-in defaults (no pipeline.toml here)'}")
    print(f"[parts] root = {config.parts.root}  unreadable = {config.parts.unreadable}")
    print(
        f"[content] seeds = {config.content.seeds_spec} ({len(config.content.seeds)} faces)  "
        f"armoured = {str(config.content.armoured).lower()}  legacy = {[str(p) for p in config.content.legacy]}"
    )
    print(f"[output] dir = {config.output.dir}")
    print(f"[run] device = {config.run.device}  seed = {config.run.seed}")
    print(f"[styles] dir = {config.styles.dir}  use = {config.styles.use}")
    return 0


def _train_settings(args: argparse.Namespace, config: PipelineConfig):
    from stylize.training.settings import TrainSettings

    settings = TrainSettings.from_config(
        config,
        arch=args.arch,
        size=args.size,
        batch=args.batch,
        minutes=args.minutes,
        style_weight=args.style_weight,
        content_weight=args.content_weight,
        tv_weight=args.tv_weight,
        feature_weight=args.feature_weight,
        style_scale=args.style_scale,
        learning_rate=args.lr,
        seed=args.seed,
        content=tuple(args.content) if args.content else None,
    )
    if args.steps is not None and args.minutes is None:  # --steps alone: a step budget only
        settings = replace(settings, minutes=None)
    return replace(settings, steps=args.steps, warm_start=settings.warm_start and not args.no_warm_start)


def cmd_train(args: argparse.Namespace) -> int:
    from stylize.training.style import train

    config = _config(args)
    settings = _train_settings(args, config)
    result = train(
        args.name,
        args.refs,
        settings=settings,
        styles_dir=args.styles_dir,
        parts=args.parts,
        config=config,
        device=args.device or config.run.device,
        resume=args.resume,
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    losses = ", ".join(f"{k} {v:.4g}" for k, v in result.final_losses.items())
    print(
        f"trained {args.name}: {result.steps} steps in {result.wall_seconds / 60:.1f} min ({losses}) -> {result.directory}"
    )
    return 0


def cmd_train_base(args: argparse.Namespace) -> int:
    from stylize.training.base import train_base

    config = _config(args)
    minutes = None if args.steps is not None and args.minutes is None else (args.minutes or 3.0)
    result = train_base(
        args.arch,
        minutes=minutes,
        steps=args.steps,
        content=args.content or config.train.content,
        styles_dir=args.styles_dir,
        parts=args.parts,
        config=config,
        seed=args.seed,
        device=args.device or config.run.device,
        resume=args.resume,
        progress=not args.quiet,
    )
    print(
        f"base {args.arch}: {result.steps} steps in {result.wall_seconds / 60:.1f} min "
        f"(L1 {result.final_losses.get('l1', float('nan')):.4f}) -> {result.directory}"
    )
    return 0


def cmd_distill(args: argparse.Namespace) -> int:
    from stylize.training.distill import DistillSettings, distill

    config = _config(args)
    defaults = DistillSettings()
    minutes = None if args.steps is not None and args.minutes is None else (args.minutes or defaults.minutes)
    settings = DistillSettings(
        arch=args.arch,
        minutes=minutes,
        steps=args.steps,
        size=args.size or defaults.size,
        batch=args.batch or defaults.batch,
        seed=args.seed if args.seed is not None else config.run.seed,
        pixel_weight=defaults.pixel_weight if args.pixel_weight is None else args.pixel_weight,
        perceptual_weight=defaults.perceptual_weight if args.perceptual_weight is None else args.perceptual_weight,
        learning_rate=args.lr or defaults.learning_rate,
        content=tuple(args.content) if args.content else tuple(config.train.content),
    )
    result = distill(
        args.style,
        name=args.name,
        settings=settings,
        styles_dir=args.styles_dir,
        parts=args.parts,
        config=config,
        device=args.device or config.run.device,
        resume=args.resume,
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    losses = ", ".join(f"{k} {v:.4g}" for k, v in result.final_losses.items())
    print(
        f"distilled {args.style} -> {result.directory.name} ({args.arch}): {result.steps} steps in "
        f"{result.wall_seconds / 60:.1f} min ({losses}) -> {result.directory}"
    )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from stylize.inference.styles import load_style
    from stylize.shipping.onnx_export import export_onnx

    config = _config(args)
    if args.fp16 and args.int8:
        raise StylizeError("--fp16 and --int8 exclude each other; choose one (or neither for float32)")
    precision = "fp16" if args.fp16 else "int8" if args.int8 else "fp32"
    model = load_style(args.style, args.styles_dir, config)
    out = Path(args.out) if args.out else config.output.dir / "export" / f"{model.name}.onnx"
    result = export_onnx(model, out, precision=precision, check=not args.no_check, overwrite=args.overwrite)
    for check in result.checks:
        print(f"check: {check.line()}")
    print(
        f"exported {model.name} ({result.metadata['architecture']}, {precision}) -> {result.path} "
        f"({result.bytes / 1024:.0f} KiB); input: {result.metadata['input_contract']}"
    )
    return 0


def cmd_apply(args: argparse.Namespace) -> int:
    from stylize.inference.bulk import apply
    from stylize.inference.styles import parse_style_names

    config = _config(args)
    styles = parse_style_names(args.style)
    out_dir = (
        Path(args.out)
        if args.out
        else config.output.dir / "stylized" / ("+".join(styles) if len(styles) > 1 else styles[0])
    )
    result = apply(
        styles,
        args.inputs,
        out_dir,
        strength=args.strength,
        preserve_color=args.preserve_color,
        scale=args.scale,
        device=args.device or config.run.device,
        workers=args.workers,
        batch=args.batch,
        styles_dir=args.styles_dir,
        config=config,
        progress=not args.quiet,
    )
    for message in result.failed:
        print(f"stylize: error: {message}", file=sys.stderr)
    print(result.summary())
    if result.failed:
        print(
            f"stylize: {len(result.failed)} inputs failed (listed above); fix or remove them and rerun: "
            "finished outputs are kept",
            file=sys.stderr,
        )
    return 1 if result.failed else 0


def cmd_eval(args: argparse.Namespace) -> int:
    from stylize.evaluation.report import format_text_table, write_json, write_report
    from stylize.evaluation.scores import HELD_OUT_DEFAULT, evaluate

    config = _config(args)
    content = args.content or [HELD_OUT_DEFAULT]
    folders = ([Path(args.report)] if args.report else []) + ([Path(args.json).parent] if args.json else [])
    for folder in folders:  # an unwritable destination fails now, not after minutes of scoring
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StylizeError(
                f"{folder}: cannot create the output folder ({err.strerror}); choose a writable one"
            ) from err
    log = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    ceiling = {
        key: value
        for key, value in (("ceiling_faces", args.ceiling_faces), ("ceiling_steps", args.ceiling_steps))
        if value is not None
    }
    scores = evaluate(
        args.style, content, styles_dir=args.styles_dir, parts=args.parts, config=config, log=log, **ceiling
    )
    for score in scores:
        for note in score.notes:
            print(f"note: {score.style}: {note}", file=sys.stderr)
    print(format_text_table(scores))
    if args.json:
        write_json(scores, args.json, content=content)
    if args.report:
        paths = write_report(scores, args.report, content=content)
        print(f"report: {paths['report']} ({', '.join(p.name for key, p in paths.items() if key != 'report')})")
    return 0


def cmd_train_report(args: argparse.Namespace) -> int:
    from stylize.evaluation.train_report import format_table, train_report, write_report

    config = _config(args)
    args.steps = None
    settings = _train_settings(args, config)
    rows = train_report(
        args.refs,
        minutes=args.minutes_list,
        starts=args.starts,
        settings=settings,
        held_out=args.held_out,
        parts=args.parts,
        config=config,
        work_dir=args.work_dir,
        device=args.device or config.run.device,
        progress=not args.quiet,
    )
    print(format_table(rows))
    if args.json:
        write_report(rows, args.json)
    return 0


def cmd_preview(args: argparse.Namespace) -> int:
    from stylize.evaluation.preview import preview
    from stylize.inference.image import ApplySettings

    config = _config(args)
    styles = args.styles or list(config.styles.use)
    out_dir = Path(args.out) if args.out else config.output.dir / "preview"
    settings = ApplySettings(strength=args.strength, preserve_color=args.preserve_color, scale=args.scale)
    result = preview(
        styles,
        args.content or [f"compose:{config.content.seeds_spec}"],
        out_dir,
        limit=args.limit,
        settings=settings,
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

    config = _config(args)
    if any(count < 1 for count in args.threads + args.workers):
        raise StylizeError("--threads and --workers take counts of 1 or more")
    log = None if args.quiet else (lambda line: print(line, file=sys.stderr))
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
        from stylize.imageio import atomic_write_text

        atomic_write_text(args.json, json.dumps(report, indent=2) + "\n")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from stylize.pipeline import run_pipeline

    summary = run_pipeline(_config(args), progress=not args.quiet)
    for line in summary.lines:
        print(line)
    return 1 if summary.failed else 0


def cmd_export_parts(args: argparse.Namespace) -> int:
    from stylize.inference.image import ApplySettings
    from stylize.shipping.part_sets import (
        CONTEXTS_DEFAULT,
        GAP_GRID,
        GAP_JSON,
        export_parts,
        format_gap,
        measure_part_set_gap,
        write_gap,
    )

    config = _config(args)
    if args.measure < 0:
        raise StylizeError(f"--measure {args.measure}: give a number of faces (0: no measurement)")
    settings = ApplySettings(strength=args.strength, preserve_color=args.preserve_color, scale=args.scale)
    out_dir = Path(args.out) if args.out else config.output.dir / "parts" / Path(args.style).name
    contexts = CONTEXTS_DEFAULT if args.contexts is None else args.contexts
    result = export_parts(
        args.style,
        out_dir,
        parts=args.parts,
        contexts=contexts,
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
            seeds=f"0-{args.measure - 1}",
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


def _add_locations(
    parser: argparse.ArgumentParser, *, device: bool = True, styles: bool = True, parts: bool = True
) -> None:
    """The options several commands share: where to run, where styles live, which part tree."""
    if device:
        parser.add_argument("--device", choices=DEVICES, help="default [run] device")
    if styles:
        parser.add_argument("--styles-dir", metavar="DIR", help="styles folder (default [styles] dir)")
    if parts:
        parser.add_argument("--parts", metavar="DIR", help="part tree for compose: content (default [parts] root)")


def _add_controls(parser: argparse.ArgumentParser) -> None:
    """How a style is applied (apply and preview)."""
    parser.add_argument("--strength", type=float, default=1.0, help="0 (the content) .. 1 (full style); default 1")
    parser.add_argument(
        "--preserve-color", action="store_true", help="keep the input's colours, take only the style's lightness (Lab)"
    )
    parser.add_argument(
        "--scale", type=float, default=1.0, help="stroke size: 2 draws strokes twice as large, 0.5 half (default 1)"
    )


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

    compose_parser = sub.add_parser(
        "compose",
        parents=[common],
        help="composite game faces from a part tree",
        description="Composite faces exactly as the game does, one PNG a seed, "
        "plus manifest.jsonl. Reruns skip faces already written.",
    )
    compose_parser.add_argument("--parts", metavar="DIR", help="data/facegen part tree (default: [parts] root)")
    compose_parser.add_argument("--seeds", metavar="SPEC", help="e.g. 0-999 or 3,7,12 (default: [content] seeds)")
    compose_parser.add_argument("--armoured", action="store_true", help="armour instead of clothes, accessory and hair")
    compose_parser.add_argument("--out", metavar="DIR", help="output folder (default: [output] dir/faces)")
    compose_parser.set_defaults(func=cmd_compose)

    parts_parser = sub.add_parser("parts", parents=[common], help="summarise a part tree as the game reads it")
    parts_parser.add_argument("--parts", metavar="DIR", help="data/facegen part tree (default: [parts] root)")
    parts_parser.set_defaults(func=cmd_parts)

    content_parser = sub.add_parser(
        "content",
        parents=[common],
        help="list the portraits a content source yields",
        description="Read content sources (compose:SEEDS or image files/folders) "
        "and list each portrait's size, mode and alpha; unreadable "
        "files are reported and make the exit status non-zero.",
    )
    content_parser.add_argument("sources", nargs="+", metavar="SOURCE", help="compose:0-15, a folder or an image")
    content_parser.add_argument("--parts", metavar="DIR", help="part tree for compose: sources")
    content_parser.add_argument("--json", action="store_true", help="print JSON")
    content_parser.set_defaults(func=cmd_content)

    config_parser = sub.add_parser("config", parents=[common], help="check pipeline.toml and show the values in force")
    config_parser.add_argument("--schema", action="store_true", help="print every key with its default and meaning")
    config_parser.set_defaults(func=cmd_config)

    train_parser = sub.add_parser(
        "train",
        parents=[common],
        help="train a style from reference images",
        description="Train a feed-forward style network from an artist's references "
        "into styles/NAME/ (model.safetensors, model.json, refs/). "
        "Defaults come from [train] in pipeline.toml.",
    )
    train_parser.add_argument("--name", required=True, help="style name (folder under the styles folder)")
    train_parser.add_argument("--refs", required=True, nargs="+", metavar="IMAGE", help="reference images or folders")
    train_parser.add_argument("--content", nargs="+", metavar="SOURCE", help="compose:0-1999 and/or portrait folders")
    train_parser.add_argument("--minutes", type=float, help="wall-clock budget (default [train] minutes)")
    train_parser.add_argument("--steps", type=int, help="step budget (with no --minutes: steps only)")
    train_parser.add_argument("--arch", help="johnson, small, tiny or nano")
    train_parser.add_argument("--size", type=int, help="training crop side in pixels")
    train_parser.add_argument("--batch", type=int, help="portraits per step")
    train_parser.add_argument("--style-weight", type=float)
    train_parser.add_argument("--content-weight", type=float)
    train_parser.add_argument("--tv-weight", type=float)
    train_parser.add_argument(
        "--feature-weight",
        type=float,
        help="weight of the term keeping the light and dark of composited faces' eyes, nose "
        "and mouth (default 0.25; 0: off)",
    )
    train_parser.add_argument("--style-scale", type=float, help="stroke size: references scaled to 512*scale px")
    train_parser.add_argument("--lr", type=float, help="Adam learning rate")
    train_parser.add_argument("--seed", type=int)
    train_parser.add_argument("--no-warm-start", action="store_true", help="start from random weights")
    train_parser.add_argument("--resume", action="store_true", help="continue an interrupted training")
    train_parser.add_argument("--overwrite", action="store_true", help="replace an existing style of this name")
    _add_locations(train_parser)
    train_parser.set_defaults(func=cmd_train)

    base_parser = sub.add_parser(
        "train-base",
        parents=[common],
        help="train the warm-start base network of an arch",
        description="Train a network to reproduce composited faces; styles start from it.",
    )
    base_parser.add_argument("--arch", default="small", help="johnson, small, tiny or nano")
    base_parser.add_argument("--minutes", type=float)
    base_parser.add_argument("--steps", type=int)
    base_parser.add_argument("--content", nargs="+", metavar="SOURCE")
    base_parser.add_argument("--seed", type=int, default=0)
    base_parser.add_argument("--resume", action="store_true")
    _add_locations(base_parser)
    base_parser.set_defaults(func=cmd_train_base)

    report_parser = sub.add_parser(
        "train-report",
        parents=[common],
        help="train and score styles under budgets",
        description="Train a style per reference, budget and start (warm/cold) in a "
        "scratch folder and score each on held-out faces.",
    )
    report_parser.add_argument("--refs", required=True, nargs="+", metavar="IMAGE")
    report_parser.add_argument("--minutes-list", type=float, nargs="+", default=[5.0], metavar="M")
    report_parser.add_argument("--starts", nargs="+", choices=("warm", "cold"), default=["warm"])
    report_parser.add_argument("--held-out", nargs="+", default=["compose:100000-100015"], metavar="SOURCE")
    report_parser.add_argument("--content", nargs="+", metavar="SOURCE")
    report_parser.add_argument("--json", metavar="FILE")
    report_parser.add_argument("--work-dir", metavar="DIR", help="where the trained styles go (default: a temp folder)")
    for option in (
        "--arch",
        "--style-weight",
        "--content-weight",
        "--tv-weight",
        "--feature-weight",
        "--style-scale",
        "--lr",
    ):
        report_parser.add_argument(option, type=str if option == "--arch" else float)
    for option in ("--size", "--batch", "--seed"):
        report_parser.add_argument(option, type=int)
    _add_locations(report_parser, styles=False)
    report_parser.set_defaults(func=cmd_train_report, minutes=None, no_warm_start=False)

    distill_parser = sub.add_parser(
        "distill",
        parents=[common],
        help="distill a style into a tiny network for the game",
        description="Train a small student network (default: nano) to reproduce a trained "
        "style's output on composited faces (L1 to the teacher plus its own "
        "perceptual objective); written as style STYLE-ARCH beside it.",
    )
    distill_parser.add_argument("--style", required=True, help="the trained style to distill (the teacher)")
    distill_parser.add_argument("--name", help="the student's style name (default STYLE-ARCH)")
    distill_parser.add_argument("--arch", default="nano", help="student architecture (default nano)")
    distill_parser.add_argument("--minutes", type=float, help="wall-clock budget (default 5)")
    distill_parser.add_argument("--steps", type=int, help="step budget (with no --minutes: steps only)")
    distill_parser.add_argument("--content", nargs="+", metavar="SOURCE", help="default [train] content")
    distill_parser.add_argument("--size", type=int, help="training crop side in pixels (default 160)")
    distill_parser.add_argument("--batch", type=int, help="portraits per step (default 4)")
    distill_parser.add_argument("--pixel-weight", type=float, help="weight of L1 to the teacher's output (default 1)")
    distill_parser.add_argument(
        "--perceptual-weight",
        type=float,
        help="weight of the teacher's own style+content objective (default 0.1; 0: pixels only)",
    )
    distill_parser.add_argument("--lr", type=float, help="Adam learning rate (default 0.002)")
    distill_parser.add_argument("--seed", type=int)
    distill_parser.add_argument("--resume", action="store_true", help="continue an interrupted distillation")
    distill_parser.add_argument("--overwrite", action="store_true", help="replace an existing style of that name")
    _add_locations(distill_parser)
    distill_parser.set_defaults(func=cmd_distill)

    export_parser = sub.add_parser(
        "export",
        parents=[common],
        help="export a style as ONNX for a C++ runtime",
        description="Write a style network as an ONNX file (dynamic height and width, "
        "metadata properties saying how to call it) and check it against "
        "PyTorch in ONNX Runtime and OpenCV's DNN module.",
    )
    export_parser.add_argument("--style", required=True, help="style name or folder")
    export_parser.add_argument("--format", default="onnx", choices=("onnx",), help="onnx (the only format)")
    export_parser.add_argument(
        "--fp16", action="store_true", help="half-precision weights (ONNX Runtime; not OpenCV 4.6)"
    )
    export_parser.add_argument("--int8", action="store_true", help="8-bit conv weights (ONNX Runtime; not OpenCV 4.6)")
    export_parser.add_argument(
        "--out", metavar="FILE", help="output .onnx file (default [output] dir/export/STYLE.onnx)"
    )
    export_parser.add_argument("--no-check", action="store_true", help="skip the round-trip check against PyTorch")
    export_parser.add_argument("--overwrite", action="store_true", help="replace an existing file")
    _add_locations(export_parser, device=False, parts=False)
    export_parser.set_defaults(func=cmd_export)

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
        "--style", required=True, action="append", help="style name or folder; repeat (or comma-separate) for several"
    )
    apply_parser.add_argument("--out", metavar="DIR", help="output folder (default [output] dir/stylized/STYLE)")
    _add_controls(apply_parser)
    apply_parser.add_argument("--workers", type=int, default=1, help="processes for CPU runs (default 1)")
    apply_parser.add_argument(
        "--batch", type=int, help="same-size portraits per network call (default 1 on CPU, 8 on GPU)"
    )
    _add_locations(apply_parser, parts=False)
    apply_parser.set_defaults(func=cmd_apply)

    eval_parser = sub.add_parser(
        "eval",
        parents=[common],
        help="score styles on held-out portraits",
        description="Per style, on portraits no training used: style ratio (Gram loss "
        "of outputs / of inputs to the style's references), content "
        "distance, edge SSIM, faces and eyes kept, Lab colour distance, ms "
        "per portrait on one thread, and the ratios to a Gatys-style L-BFGS "
        "optimisation of a few portraits (the ceiling).",
    )
    eval_parser.add_argument("--style", required=True, action="append", help="style name (repeatable)")
    eval_parser.add_argument("--content", nargs="+", metavar="SOURCE", help="default compose:100000-100015")
    eval_parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    eval_parser.add_argument("--report", metavar="DIR", help="write report.md, eval.json and PNG plots there")
    # Defaults live in stylize.evaluation.ceiling (which imports torch, so not here); None means "those".
    eval_parser.add_argument(
        "--ceiling-faces",
        type=int,
        metavar="N",
        help="portraits optimised per style for the ceiling (default 4; 0: no ceiling)",
    )
    eval_parser.add_argument(
        "--ceiling-steps",
        type=int,
        metavar="N",
        help="L-BFGS iterations per ceiling portrait (default 100, under a minute a portrait on an idle 2-core CPU)",
    )
    _add_locations(eval_parser, device=False)
    eval_parser.set_defaults(func=cmd_eval)

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
        "--content", nargs="+", metavar="SOURCE", help="compose:0-15 and/or folders (default compose:[content] seeds)"
    )
    preview_parser.add_argument("--out", metavar="DIR", help="output folder (default [output] dir/preview)")
    preview_parser.add_argument("--limit", type=int, default=16, help="at most this many portraits (default 16)")
    _add_controls(preview_parser)
    _add_locations(preview_parser)
    preview_parser.set_defaults(func=cmd_preview)

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
        default=["johnson", "small", "tiny", "nano"],
        metavar="ARCH",
        help="networks to time (default: all; johnson, the baseline, is always timed)",
    )
    bench_parser.add_argument(
        "--no-cpp",
        action="store_true",
        help="skip the column of the C++ example (examples/cpp, built with the system OpenCV)",
    )
    bench_parser.add_argument(
        "--cpp-build", default="build/cpp", metavar="DIR", help="where the C++ example is built (default build/cpp)"
    )
    bench_parser.add_argument("--threads", nargs="+", type=int, default=[1, 2], metavar="N")
    bench_parser.add_argument("--min-runs", type=int, default=5, help="timed runs per figure (median)")
    bench_parser.add_argument("--min-seconds", type=float, default=1.0, help="time each figure at least this long")
    bench_parser.add_argument("--apply-style", default="pencil", help="style for the apply throughput (default pencil)")
    bench_parser.add_argument("--apply-images", type=int, default=48, help="faces for the apply throughput (0: skip)")
    bench_parser.add_argument("--workers", nargs="+", type=int, default=[1, 2], metavar="N")
    bench_parser.add_argument(
        "--kill-resume",
        type=int,
        default=0,
        metavar="N",
        help="also kill an apply run of N faces half-way, resume it and compare the bytes",
    )
    bench_parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    _add_locations(bench_parser, device=False)
    bench_parser.set_defaults(func=cmd_bench)

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
    parts_export_parser.add_argument("--parts", metavar="DIR", help="data/facegen part tree (default: [parts] root)")
    parts_export_parser.add_argument("--out", metavar="DIR", help="output tree (default [output] dir/parts/STYLE)")
    parts_export_parser.add_argument(
        "--contexts",
        type=int,
        metavar="K",
        help="faces each part is stylized in, averaged (default 4; 0: each part alone "
        "on a grey canvas, for comparison)",
    )
    parts_export_parser.add_argument("--overwrite", action="store_true", help="replace an earlier export in --out")
    parts_export_parser.add_argument(
        "--measure",
        type=int,
        default=0,
        metavar="N",
        help="also measure the gap to stylize apply on seeds 0..N-1 (e.g. 200)",
    )
    _add_controls(parts_export_parser)
    _add_locations(parts_export_parser, parts=False)
    parts_export_parser.set_defaults(func=cmd_export_parts)

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

"""Training commands: ``train`` (a style), ``train-base`` (the warm-start base network), ``distill``
(a small student for the game) and ``train-report`` (styles trained and scored under budgets).

Every setting's option comes from its config key (``[train]``, ``[base]``, ``[distill]``); a value not
given on the command line is the config's.
"""

from __future__ import annotations

import argparse
from typing import Any

from stylize.cli.options import config_of, given, kind_type, locations, parameter, path_type, setting
from stylize.config import PipelineConfig
from stylize.values import COUNT, MINUTES, Int

EVAL_FACES = 8  # distill: held-out faces the student is scored on beside its teacher
EVAL_FACES_KIND = Int(0, 64)
EVAL_FIRST_SEED = 100000  # the held-out faces' first seed ([eval] held_out's)

# The [train] keys `stylize train` and `train-report` override, in the order --help lists them.
_STYLE_KEYS = (
    "style_weight",
    "teacher_weight",
    "teacher_portraits",
    "content_weight",
    "tv_weight",
    "feature_weight",
    "style_scale",
)


# The [distill] keys that are command-line options of the same name (set and read alike).
_DISTILL_KEYS = (
    "size",
    "batch",
    "pixel_weight",
    "perceptual_weight",
    "texture_weight",
    "texture_start",
    "detail_weight",
    "painted_portraits",
    "min_steps",
)


def _learning_rate(parser: argparse.ArgumentParser, section: str) -> None:
    setting(parser, section, "learning_rate", flag="--lr")


def _train_settings(args: argparse.Namespace, config: PipelineConfig) -> Any:
    from stylize.training.settings import TrainSettings

    return TrainSettings.from_config(
        config,
        **given(args, "arch", "size", "batch", "minutes", "steps", *_STYLE_KEYS, "learning_rate", "seed", "precision"),
        warm_start=args.warm_start,
        content=args.content,
    )


def _run_options(args: argparse.Namespace, config: PipelineConfig) -> dict[str, Any]:
    """Where a style-writing run reads and writes, and how it runs (train and distill alike)."""
    return {
        "styles_dir": args.styles_dir,
        "parts": args.parts,
        "config": config,
        "device": args.device or config.run.device,
        "resume": args.resume,
        "overwrite": args.overwrite,
        "progress": not args.quiet,
        "nproc": args.nproc,
    }


def _losses(final: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in final.items())


def cmd_style(args: argparse.Namespace) -> int:
    import time

    from stylize.inference.reference_style import make_style

    config = config_of(args)
    started = time.perf_counter()
    directory = make_style(args.name, args.refs, styles_dir=args.styles_dir, config=config, overwrite=args.overwrite)
    print(f"zero-training style {args.name} -> {directory} ({time.perf_counter() - started:.2f} s)")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from stylize.training.style import train

    config = config_of(args)
    result = train(
        args.name,
        args.refs,
        settings=_train_settings(args, config),
        **_run_options(args, config),
    )
    losses = _losses(result.final_losses)
    print(f"trained {args.name}: {result.time_line()} ({losses}) -> {result.directory}")
    return 0


def cmd_train_base(args: argparse.Namespace) -> int:
    from stylize.training.base import train_base

    config = config_of(args)
    arch = args.arch or config.base.arch
    result = train_base(
        arch,
        **given(args, "minutes", "steps", "content", "seed", "size", "batch", "learning_rate", "precision"),
        styles_dir=args.styles_dir,
        parts=args.parts,
        config=config,
        device=args.device or config.run.device,
        resume=args.resume,
        progress=not args.quiet,
        nproc=args.nproc,
    )
    print(
        f"base {arch}: {result.time_line()} "
        f"(L1 {result.final_losses.get('l1', float('nan')):.4f}) -> {result.directory}"
    )
    return 0


def cmd_distill(args: argparse.Namespace) -> int:
    from stylize.training.distill import DistillSettings, distill

    config = config_of(args)
    settings = DistillSettings.from_config(
        config,
        **given(args, "arch", "minutes", "steps", *_DISTILL_KEYS, "learning_rate", "precision"),
        texture_layers=tuple(args.texture_layers) if args.texture_layers else None,
        seed=args.seed,
        content=args.content,
    )
    result = distill(
        args.style,
        name=args.name,
        settings=settings,
        **_run_options(args, config),
    )
    losses = _losses(result.final_losses)
    print(
        f"distilled {args.style} -> {result.directory.name} ({settings.arch}): {result.time_line()} "
        f"({losses}) -> {result.directory}"
    )
    if args.eval_faces:
        for line in _beside_teacher(result.directory.name, args.style, result, args, config):
            print(line)
    return 0


def _beside_teacher(
    student: str, teacher: str, result: Any, args: argparse.Namespace, config: PipelineConfig
) -> list[str]:
    """The student's stylize eval figures beside its teacher's on ``--eval-faces`` held-out game faces."""
    from stylize.evaluation.report import format_text_table
    from stylize.evaluation.scores import evaluate

    faces = int(args.eval_faces)
    content = f"compose:{EVAL_FIRST_SEED}-{EVAL_FIRST_SEED + faces - 1}"
    scores = evaluate(
        [student, teacher], [content], styles_dir=result.directory.parent, parts=args.parts, config=config
    )
    mine, theirs = scores
    return [
        f"beside its teacher on {faces} held-out faces ({content}; stylize eval for more):",
        *format_text_table(scores).splitlines()[:3],
        f"style score {mine.style_score:.3f} against the teacher's {theirs.style_score:.3f} "
        f"({mine.style_score - theirs.style_score:+.3f}; lower is closer to the style), value spread "
        f"{mine.value_spread:.2f} against {theirs.value_spread:.2f}, same person {mine.same_person}/"
        f"{mine.faces_judged} against {theirs.same_person}/{theirs.faces_judged}",
    ]


def cmd_train_report(args: argparse.Namespace) -> int:
    from stylize.evaluation.train_report import format_table, train_report, write_report

    config = config_of(args)
    rows = train_report(
        args.refs,
        minutes=args.minutes_list if args.minutes_list or args.steps_list else [config.train.minutes],
        steps=args.steps_list,
        settings=_train_settings(args, config),
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


def _content(parser: argparse.ArgumentParser) -> None:
    setting(parser, "train", "content", nargs="+", metavar="SOURCE")


def _name_and_refs(parser: argparse.ArgumentParser) -> None:
    """The new style's name and its references (style and train)."""
    parser.add_argument("--name", required=True, help="style name (folder under the styles folder)")
    parser.add_argument("--refs", required=True, nargs="+", metavar="IMAGE", help="reference images or folders")


def _seed(parser: argparse.ArgumentParser) -> None:
    setting(parser, "run", "seed")


def _nproc(parser: argparse.ArgumentParser) -> None:
    """Data-parallel training on this machine (train, train-base, distill)."""
    parameter(parser, "nproc")


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    style_parser = sub.add_parser(
        "style",
        parents=[common],
        help="make a style from references at once (zero training)",
        description="Make a zero-training style from reference images in about a second: a pretrained "
        "arbitrary-style network (Ghiasi et al. 2017) reads the references' style; every command (apply, "
        "preview, eval, export, export-parts, run) then takes the style by name, and --mix combines "
        "several such styles in one network.",
    )
    _name_and_refs(style_parser)
    style_parser.add_argument("--overwrite", action="store_true", help="replace a style of that name")
    locations(style_parser, device=False, parts=False)
    style_parser.set_defaults(func=cmd_style, command_parser=style_parser)

    train_parser = sub.add_parser(
        "train",
        parents=[common],
        help="train a style from reference images",
        description="Train a feed-forward style network from an artist's references "
        "into styles/NAME/ (model.safetensors, model.json, refs/). "
        "Defaults come from [train] in pipeline.toml.",
    )
    _name_and_refs(train_parser)
    _content(train_parser)
    setting(train_parser, "train", "minutes")
    parameter(train_parser, "steps")
    for key in ("arch", "size", "batch", *_STYLE_KEYS):
        setting(train_parser, "train", key)
    _learning_rate(train_parser, "train")
    _seed(train_parser)
    setting(train_parser, "train", "warm_start", help="start from random weights, not the base network")
    setting(train_parser, "train", "precision")
    train_parser.add_argument("--resume", action="store_true", help="continue an interrupted training")
    train_parser.add_argument("--overwrite", action="store_true", help="replace an existing style of this name")
    _nproc(train_parser)
    locations(train_parser)
    train_parser.set_defaults(func=cmd_train, command_parser=train_parser)

    base_parser = sub.add_parser(
        "train-base",
        parents=[common],
        help="train the warm-start base network of an arch",
        description="Train a network to reproduce composited faces; styles start from it. "
        "Defaults come from [base] in pipeline.toml.",
    )
    setting(base_parser, "base", "arch")
    setting(base_parser, "base", "minutes")
    parameter(base_parser, "steps")
    _content(base_parser)
    _seed(base_parser)
    setting(base_parser, "base", "size")
    setting(base_parser, "base", "batch")
    _learning_rate(base_parser, "base")
    setting(base_parser, "base", "precision")
    base_parser.add_argument("--resume", action="store_true", help="continue an interrupted training")
    _nproc(base_parser)
    locations(base_parser)
    base_parser.set_defaults(func=cmd_train_base, command_parser=base_parser)

    distill_parser = sub.add_parser(
        "distill",
        parents=[common],
        help="distill a style into a tiny network for the game",
        description="Train a small student network (default: nano) to reproduce a trained "
        "style's output on composited faces (L1 to the teacher's output, L1 on its fine detail and a "
        "Gram texture term against it, on crops of whole portraits the teacher painted); written as "
        "style STYLE-ARCH beside it, then scored beside its teacher on held-out faces. "
        "Defaults come from [distill] in pipeline.toml.",
    )
    distill_parser.add_argument("--style", required=True, help="the trained style to distill (the teacher)")
    distill_parser.add_argument("--name", help="the student's style name (default STYLE-ARCH)")
    setting(distill_parser, "distill", "arch")
    setting(distill_parser, "distill", "minutes")
    parameter(distill_parser, "steps")
    _content(distill_parser)
    for key in _DISTILL_KEYS:
        setting(distill_parser, "distill", key)
    setting(distill_parser, "distill", "texture_layers", nargs="+", metavar="LAYER")
    _learning_rate(distill_parser, "distill")
    setting(distill_parser, "distill", "precision")
    _seed(distill_parser)
    distill_parser.add_argument("--resume", action="store_true", help="continue an interrupted distillation")
    distill_parser.add_argument("--overwrite", action="store_true", help="replace an existing style of that name")
    distill_parser.add_argument(
        "--eval-faces",
        type=kind_type(EVAL_FACES_KIND, "--eval-faces"),
        default=EVAL_FACES,
        metavar="N",
        help=f"held-out game faces (compose:{EVAL_FIRST_SEED}-...) the student and its teacher are scored on "
        f"at the end, style score, value spread and same person side by side (default {EVAL_FACES}; 0: none)",
    )
    _nproc(distill_parser)
    locations(distill_parser)
    distill_parser.set_defaults(func=cmd_distill, command_parser=distill_parser)

    report_parser = sub.add_parser(
        "train-report",
        parents=[common],
        help="train and score styles under budgets",
        description="Train one style per reference in a scratch folder and score it on held-out "
        "faces at each budget (one run per reference, resumed from budget to budget): steps, time, "
        "style score, the face judge's same person, value spread, rank-1 and value order, content, then the "
        "median and worst per budget.",
    )
    report_parser.add_argument("--refs", required=True, nargs="+", metavar="IMAGE")
    budgets = report_parser.add_mutually_exclusive_group()
    budgets.add_argument(
        "--minutes-list",
        type=kind_type(MINUTES, "--minutes-list"),
        nargs="+",
        metavar="M",
        help="training budgets in minutes (default: [train] minutes)",
    )
    budgets.add_argument(
        "--steps-list",
        type=kind_type(COUNT, "--steps-list"),
        nargs="+",
        metavar="N",
        help="training budgets in steps (the same weights on any machine)",
    )
    parameter(report_parser, "held_out", nargs="+", metavar="SOURCE")
    _content(report_parser)
    report_parser.add_argument("--json", type=path_type("--json"), metavar="FILE")
    report_parser.add_argument(
        "--work-dir",
        type=path_type("--work-dir"),
        metavar="DIR",
        help="where the trained styles go (default: a temp folder)",
    )
    for key in ("arch", *_STYLE_KEYS):
        setting(report_parser, "train", key)
    _learning_rate(report_parser, "train")
    setting(report_parser, "train", "size")
    setting(report_parser, "train", "batch")
    _seed(report_parser)
    locations(report_parser, styles=False)
    setting(report_parser, "train", "warm_start", help="start from random weights, not the base network")
    # No --precision: train-report trains in [train] precision (None: the config's).
    report_parser.set_defaults(
        func=cmd_train_report, command_parser=report_parser, minutes=None, steps=None, precision=None
    )

"""The ``eval`` command: score styles on held-out portraits (the L-BFGS ceiling only with ``--ceiling``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stylize.cli.options import config_of, locations, parameter, path_type, with_flags
from stylize.config import parameter_default
from stylize.nets.device_names import DEVICES
from stylize.output_folder import make_folder

NOTE_PARAMS = ("ceiling_steps", "ceiling_faces")  # what the notes of evaluate() may name


def ceiling_settings(args: argparse.Namespace) -> tuple[int, int]:
    """``ceiling_faces`` and ``ceiling_steps`` for :func:`stylize.evaluate`: no ceiling unless ``--ceiling``
    or one of its settings is given."""
    wanted = args.ceiling or args.ceiling_faces is not None or args.ceiling_steps is not None
    faces = args.ceiling_faces if args.ceiling_faces is not None else parameter_default("ceiling_faces")
    steps = args.ceiling_steps if args.ceiling_steps is not None else parameter_default("ceiling_steps")
    return (faces if wanted else 0), steps


def cmd_eval(args: argparse.Namespace) -> int:
    from stylize.evaluation.report import format_text_table, write_eval_json, write_report
    from stylize.evaluation.scores import evaluate

    config = config_of(args)
    content = args.content or parameter_default("held_out")
    folders = ([Path(args.report)] if args.report else []) + ([Path(args.json).parent] if args.json else [])
    for folder in folders:  # an unwritable destination fails now, not after minutes of scoring
        make_folder(folder, param="report" if args.report and folder == Path(args.report) else "json", value="PATH")
    ceiling_faces, ceiling_steps = ceiling_settings(args)
    log = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    scores = evaluate(
        args.styles,
        content,
        styles_dir=args.styles_dir,
        parts=args.parts,
        config=config,
        log=log,
        ceiling_faces=ceiling_faces,
        ceiling_steps=ceiling_steps,
        device=args.device,
    )
    for score in scores:
        for note in score.notes:
            print(f"note: {score.style}: {with_flags(note, NOTE_PARAMS, args.command_parser)}", file=sys.stderr)
    print(format_text_table(scores))
    if args.json:
        write_eval_json(scores, args.json, content=content)
    if args.report:
        paths = write_report(scores, args.report, content=content)
        print(f"report: {paths['report']} ({', '.join(p.name for key, p in paths.items() if key != 'report')})")
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    faces, steps = parameter_default("ceiling_faces"), parameter_default("ceiling_steps")
    eval_parser = sub.add_parser(
        "eval",
        parents=[common],
        help="score styles on held-out portraits",
        description="Per style, on portraits no training used: the style score (per VGG19 layer relu1_1..relu5_1, "
        "the Gram distance of the outputs to the style's references at 256 px over that of the unstylized "
        "portraits, averaged over the five layers: 0 = the references' statistics, 1 = no change), the face "
        "judge's same person, value spread, rank-1, value order and faces detected (dlib's face models, which no "
        "style steers by), content distance, edge SSIM, eyes kept, Lab colour distance and ms per portrait on one thread, and, "
        "labelled, the old Gram ratio (512 px, summed) for older figures; with --ceiling also the ratios to a "
        "Gatys-style L-BFGS optimisation of a few portraits (the ceiling, minutes per style).",
    )
    eval_parser.add_argument(
        "--style", dest="styles", required=True, action="append", metavar="NAME", help="style name (repeatable)"
    )
    parameter(
        eval_parser,
        "held_out",
        flag="--content",
        dest="content",
        default=None,
        nargs="+",
        metavar="SOURCE",
        help=f"portraits to score on (default {' '.join(parameter_default('held_out'))}: faces no training uses)",
    )
    eval_parser.add_argument("--json", type=path_type("--json"), metavar="FILE", help="also write the figures as JSON")
    eval_parser.add_argument(
        "--report", type=path_type("--report"), metavar="DIR", help="write report.md, eval.json and PNG plots there"
    )
    eval_parser.add_argument(
        "--ceiling",
        action="store_true",
        help=f"also optimise {faces} portraits per style with {steps} L-BFGS steps each as the ceiling the "
        "network is measured against: about 0.5 s a step, so several minutes per style on 2 cores (off by default)",
    )
    parameter(
        eval_parser,
        "ceiling_faces",
        default=None,
        metavar="N",
        help=f"portraits optimised per style for the ceiling, implies --ceiling (default {faces}; 0: no ceiling)",
    )
    parameter(
        eval_parser,
        "ceiling_steps",
        default=None,
        metavar="N",
        help=f"L-BFGS iterations per ceiling portrait, implies --ceiling (default {steps}, about 0.5 s each on "
        "an idle 2-core CPU)",
    )
    eval_parser.add_argument(
        "--device",
        choices=DEVICES,
        default="cpu",
        help="where the loss network measures and the ceiling optimises (default cpu; ms a portrait is "
        "always timed on one CPU thread, the game's budget)",
    )
    locations(eval_parser, device=False)
    eval_parser.set_defaults(func=cmd_eval, command_parser=eval_parser)

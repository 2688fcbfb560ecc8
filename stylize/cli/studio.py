"""``stylize studio``: the local web app (:mod:`stylize.studio`)."""

from __future__ import annotations

import argparse

from stylize.cli.options import config_of, kind_type, locations, path_type
from stylize.values import Int

PORT = Int(0, 65535)  # 0: the system picks a free port
EVAL_FACES_KIND = Int(0, 64)


def cmd_studio(args: argparse.Namespace) -> int:
    from stylize.studio import serve

    serve(
        args.dir,
        host=args.host,
        port=args.port,
        open_browser=args.open,
        config=config_of(args),
        styles_dir=args.styles_dir,
        parts=args.parts,
        legacy=args.legacy or (),
        eval_faces=args.eval_faces,
    )
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    from stylize.studio import DEFAULT_FOLDER, DEFAULT_PORT, EVAL_FACES

    parser = sub.add_parser(
        "studio",
        parents=[common],
        help="a local web app: try references on the faces, train, compare and export",
        description="Start the studio on this machine and print its address with an access token "
        "(open it in a browser). Styles it makes go to the styles folder, like stylize style and "
        "stylize train; uploads, renders and jobs go to --dir. Stop it with Ctrl-C.",
    )
    parser.add_argument(
        "--dir", type=path_type("--dir"), default=DEFAULT_FOLDER, metavar="DIR", help="the studio's own folder"
    )
    parser.add_argument(
        "--port",
        type=kind_type(PORT, "--port"),
        default=DEFAULT_PORT,
        help=f"port (default {DEFAULT_PORT}; 0: a free one)",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; another one is warned about)"
    )
    parser.add_argument("--open", action="store_true", help="open the page in the default browser")
    parser.add_argument(
        "--faces",
        dest="legacy",
        action="append",
        type=path_type("--faces"),
        metavar="DIR",
        help="a folder of legacy portraits to judge styles on (repeatable; [content] legacy is added too)",
    )
    parser.add_argument(
        "--eval-faces",
        type=kind_type(EVAL_FACES_KIND, "--eval-faces"),
        default=EVAL_FACES,
        metavar="N",
        help=f"held-out faces the stylize eval figures of a result use (default {EVAL_FACES}; 0: none)",
    )
    locations(parser, device=False)
    parser.set_defaults(func=cmd_studio, command_parser=parser)

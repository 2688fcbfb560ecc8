"""``stylize studio``: the local web app (:mod:`stylize.studio`)."""

from __future__ import annotations

import argparse

from stylize.cli.options import config_of, locations, path_type


def _port(word: str) -> int:
    if not word.isascii() or not word.isdigit() or len(word) > 5 or int(word) > 65535:
        raise argparse.ArgumentTypeError(f"--port {word!r}: give a port number from 0 to 65535 (0 picks a free one)")
    return int(word)


def _faces_count(word: str) -> int:
    if not word.isascii() or not word.isdigit() or len(word) > 3 or int(word) > 64:
        raise argparse.ArgumentTypeError(f"--eval-faces {word!r}: give a whole number from 0 to 64")
    return int(word)


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
        "--port", type=_port, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: a free one)"
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
        type=_faces_count,
        default=EVAL_FACES,
        metavar="N",
        help=f"held-out faces the stylize eval figures of a result use (default {EVAL_FACES}; 0: none)",
    )
    locations(parser, device=False)
    parser.set_defaults(func=cmd_studio, command_parser=parser)

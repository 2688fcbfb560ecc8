"""Project commands: ``run`` (the whole job pipeline.toml describes) and ``config`` (the values in force,
the schema, and docs/config.md)."""

from __future__ import annotations

import argparse

from stylize.cli.options import FLAGS, config_of
from stylize.config import SCHEMA, describe_schema, schema_markdown, toml_value


def cmd_run(args: argparse.Namespace) -> int:
    from stylize.pipeline import run_pipeline

    summary = run_pipeline(config_of(args), progress=not args.quiet)
    for line in summary.lines:
        print(line)
    return 1 if summary.failed else 0


def flags_markdown() -> str:
    """docs/config.md: the schema, with the options of every command that set each key (as registered in
    FLAGS while the parser was built: see :func:`stylize.cli.config_markdown`)."""
    flags = {
        ident: [f"`{flag}` ({', '.join(commands)})" for flag, commands in options.items()]
        for ident, options in FLAGS.items()
    }
    return schema_markdown(flags)


def cmd_config(args: argparse.Namespace) -> int:
    if args.markdown and not args.schema:
        parser: argparse.ArgumentParser = args.command_parser
        parser.error("--markdown goes with --schema: stylize config --schema --markdown")
    if args.schema:
        print(flags_markdown() if args.markdown else describe_schema(), end="")  # main built the parser
        return 0
    config = config_of(args)
    print(f"config: {config.path or 'built-in defaults (no pipeline.toml here)'}")
    print(f"[parts] root = {config.parts.root}  unreadable = {config.parts.unreadable}")
    print(
        f"[content] seeds = {config.content.seeds_spec} ({len(config.content.seeds)} faces)  "
        f"armoured = {str(config.content.armoured).lower()}  legacy = {[str(p) for p in config.content.legacy]}"
    )
    print(f"[output] dir = {config.output.dir}")
    print(f"[run] device = {config.run.device}  seed = {config.run.seed}")
    print(f"[styles] dir = {config.styles.dir}  use = {config.styles.use}  keep_values = {config.styles.keep_values:g}")
    for section in ("train", "base", "distill"):
        values = getattr(config, section)
        shown = {key: getattr(values, key) for key in SCHEMA[section]}
        print(
            f"[{section}] "
            + "  ".join(f"{key} = {toml_value(v)}" if v is not None else f"{key} not set" for key, v in shown.items())
        )
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    run_parser = sub.add_parser("run", parents=[common], help="run the whole job pipeline.toml describes")
    run_parser.set_defaults(func=cmd_run, command_parser=run_parser)

    config_parser = sub.add_parser("config", parents=[common], help="check pipeline.toml and show the values in force")
    config_parser.add_argument(
        "--schema", action="store_true", help="print every key with its default, allowed values and meaning (TOML)"
    )
    config_parser.add_argument(
        "--markdown", action="store_true", help="with --schema: print it as docs/config.md (Markdown)"
    )
    config_parser.set_defaults(func=cmd_config, command_parser=config_parser)

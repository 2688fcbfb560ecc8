"""Command-line options made from the config schema, and what the command modules share.

An option that sets a ``pipeline.toml`` key (:func:`setting`) or a parameter outside the file
(:func:`parameter`) takes its flag, value check, choices and help (with the default) from
:mod:`stylize.config`, so a value is refused on the command line exactly as in the file and in the
Python API. :func:`as_flags` rewrites the parameters a library error names (``resume=True``) to
the running command's flags (``--resume``).
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Callable
from typing import Any

from stylize.config import PARAMETERS, SCHEMA, Key, PipelineConfig, load_config, toml_value
from stylize.errors import SettingError, StylizeError, shown_word
from stylize.values import BadValue, Bool, Choice, Float, Int, Kind, Optional

# "section.key" (or a parameter's name) -> {flag: [commands]}: which options set it, for docs/config.md.
FLAGS: dict[str, dict[str, list[str]]] = {}


def kind_type(kind: Kind, flag: str) -> Callable[[str], Any]:
    """An argparse ``type`` that checks the word given to ``flag`` as ``kind``. A refusal is the line the
    library gives for the same value, with the flag for the parameter (``--minutes 0 is not allowed; use
    a finite number > 0``); it is raised as a :class:`SettingError`, which argparse lets through, so
    :func:`stylize.cli.main` prints it as one line and exits 1 like any other error."""

    def parse(word: str) -> Any:
        try:
            return kind.parse(word)
        except BadValue as err:
            raise SettingError(f"{flag} {shown_word(word)} is not allowed; {err}") from None

    parse.__name__ = kind.type_name  # argparse names the type in some of its own messages
    return parse


def path_type(flag: str) -> Callable[[str], str]:
    """An argparse ``type`` for a file or folder option: an empty word (``--out "$UNSET"``) is refused as
    one line instead of meaning "not given"."""

    def parse(word: str) -> str:
        if not word.strip():
            raise SettingError(f"{flag} {word!r} is not allowed; give a file or folder path")
        return word

    parse.__name__ = "path"
    return parse


def _add(
    parser: argparse.ArgumentParser,
    ident: str,
    spec: Key,
    flag: str | None,
    dest: str,
    help_text: str,
    default: Any,
    extra: dict[str, Any],
) -> argparse.Action:
    kind = spec.kind.kind if isinstance(spec.kind, Optional) else spec.kind
    if isinstance(kind, Bool):  # a switch that sets the opposite of the default
        flag = flag or ("--no-" if spec.default else "--") + dest.replace("_", "-")
        action = parser.add_argument(
            flag, dest=dest, action="store_const", const=not spec.default, default=default, help=help_text, **extra
        )
    else:
        flag = flag or "--" + dest.replace("_", "-")
        if isinstance(kind, (Int, Float, Choice)):  # paths, seeds and sources are checked where they are used
            extra.setdefault("type", kind_type(kind, flag))
        if isinstance(kind, Choice):
            extra.setdefault("choices", kind.choices)
        elif isinstance(kind, (Int, Float)):
            extra.setdefault("metavar", "N" if isinstance(kind, Int) else "X")
        action = parser.add_argument(flag, dest=dest, default=default, help=help_text, **extra)
    command = parser.prog.split(" ", 1)[-1]
    FLAGS.setdefault(ident, {}).setdefault(flag, [])
    if command not in FLAGS[ident][flag]:
        FLAGS[ident][flag].append(command)
    return action


def _help(text: str) -> str:
    return text.replace("%", "%%")  # argparse formats help with %


def setting(
    parser: argparse.ArgumentParser,
    section: str,
    key: str,
    *,
    flag: str | None = None,
    dest: str | None = None,
    help: str | None = None,
    **extra: Any,
) -> argparse.Action:
    """An option overriding ``[section] key`` for this command. Its value is ``None`` when not given:
    the command then takes the config's value. ``dest`` (default: the key) is the parameter of the
    library it sets; ``flag`` defaults to ``--dest-with-dashes`` (``--no-dest`` for a switch whose
    default is true); ``help`` replaces the schema's."""
    spec = SCHEMA[section][key]
    default = "not set" if spec.default is None else f"= {toml_value(spec.default)}"
    text = f"{help or spec.help} (default [{section}] {key} {default})"
    return _add(parser, f"{section}.{key}", spec, flag, dest or key, _help(text), None, extra)


def parameter(
    parser: argparse.ArgumentParser,
    name: str,
    *,
    flag: str | None = None,
    dest: str | None = None,
    help: str | None = None,
    default: Any = ...,
    **extra: Any,
) -> argparse.Action:
    """An option for a parameter of :data:`stylize.config.PARAMETERS`; its default is the parameter's
    (or ``default``). A ``help`` given here is used as it is; else the schema's, with the default."""
    spec = PARAMETERS[name]
    value = spec.default if default is ... else default
    if help is None:
        silent = spec.default is None or isinstance(spec.kind, Bool)  # a switch is off unless given
        help = spec.help if silent else f"{spec.help} (default {toml_value(spec.default)})"
    return _add(parser, name, spec, flag, dest or name, _help(help), value, extra)


def locations(parser: argparse.ArgumentParser, *, device: bool = True, styles: bool = True, parts: bool = True) -> None:
    """The options several commands share: where to run, where styles live, which part tree."""
    if device:
        setting(parser, "run", "device")
    if styles:
        setting(parser, "styles", "dir", dest="styles_dir", metavar="DIR")
    if parts:
        setting(parser, "parts", "root", dest="parts", metavar="DIR", help="part tree for compose: content")


def controls(parser: argparse.ArgumentParser) -> None:
    """How a style is applied (apply, preview, export-parts)."""
    parameter(parser, "strength")
    parameter(parser, "preserve_color")
    parameter(parser, "scale")
    spec = PARAMETERS["keep_values"]
    parameter(parser, "keep_values", default=None, help=f"{spec.help} (default [styles] keep_values, {spec.default})")


def apply_settings(args: argparse.Namespace, config: PipelineConfig) -> Any:
    """The :class:`ApplySettings` of ``controls``' options; keep_values not given: the config's."""
    from stylize.inference.image import ApplySettings

    keep = config.styles.keep_values if args.keep_values is None else args.keep_values
    return ApplySettings(strength=args.strength, preserve_color=args.preserve_color, scale=args.scale, keep_values=keep)


def config_of(args: argparse.Namespace) -> PipelineConfig:
    """The config in force: ``--config FILE``, else ``./pipeline.toml`` if present, else the defaults."""
    return load_config(args.config)


def given(args: argparse.Namespace, *names: str) -> dict[str, Any]:
    """``{name: value}`` of the options that set these names (``None`` when not given)."""
    return {name: getattr(args, name) for name in names}


def as_flags(err: StylizeError, parser: argparse.ArgumentParser | None) -> str:
    """``err``'s line with each parameter it names (``resume=True``, ``minutes=0.0``, ``parts=DIR``)
    written as the flag of ``parser``'s command that sets it (``--resume``, ``--minutes 0.0``,
    ``--parts DIR``); parameters the command has no option for stay as they are."""
    return with_flags(str(err), err.params, parser)


def with_flags(message: str, params: tuple[str, ...], parser: argparse.ArgumentParser | None) -> str:
    """``message`` with the parameters ``params`` (written ``NAME=VALUE``) as ``parser``'s flags; see :func:`as_flags`."""
    if parser is None or not params:
        return message
    actions = {action.dest: action for action in parser._actions if action.option_strings}
    for param in params:
        action = actions.get(param)
        if action is None:
            continue
        flag = max(action.option_strings, key=len)

        def repl(match: re.Match[str], action: argparse.Action = action, flag: str = flag) -> str:
            value = match.group("value")
            if action.nargs == 0:  # a switch: only the value it sets reads as the flag
                return flag if value == str(action.const) else match.group(0)
            return f"{flag} {value}" if value else flag

        message = re.sub(rf"(?<![\w.-]){re.escape(param)}=(?P<value>'[^']*'|\"[^\"]*\"|[^\s,;)]*)", repl, message)
    return message


def place_fault(err: StylizeError, args: argparse.Namespace) -> StylizeError:
    """A fault of the machine (:class:`~stylize.faults.MachineError`) whose file lies in a folder an option
    of this command chose, its fix naming that option (``choose another --styles-dir DIR``); any other
    error as it is. The option is the one whose path holds the file most closely."""
    from stylize.faults import MachineError

    parser = getattr(args, "command_parser", None)
    if not isinstance(err, MachineError) or err.path is None or parser is None:
        return err
    where = os.path.abspath(err.path)
    best: tuple[int, argparse.Action] | None = None
    for action in parser._actions:
        if not action.option_strings or action.metavar not in ("DIR", "FILE"):
            continue
        values = getattr(args, action.dest, None)
        for value in values if isinstance(values, (list, tuple)) else [values]:
            if not isinstance(value, (str, os.PathLike)):
                continue
            root = os.path.abspath(value)
            if (where == root or where.startswith(root.rstrip(os.sep) + os.sep)) and (
                best is None or len(root) > best[0]
            ):
                best = (len(root), action)
    if best is None:
        return err
    return err.placed(best[1].dest, str(best[1].metavar))

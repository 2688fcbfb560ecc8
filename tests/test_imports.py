"""The package's import structure: layers that import only downward, no cycles, data flowing one way,
and top-level verbs that stay verbs.

The graph is read from the source with ``ast`` (every ``import`` and ``from`` statement, also those inside
functions and under ``if TYPE_CHECKING``), not from what happens to be imported at run time.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import stylize

PACKAGE = Path(stylize.__file__).parent
STAGES = ("content", "nets", "training", "inference", "shipping", "evaluation", "bench")

# The import layers, bottom first. Each name is a top-level module (``config`` is stylize/config.py;
# ``stylize`` is the package's __init__) or a stage (a sub-package, every module in it). A module imports
# from its own layer and the layers below it, never from a layer above (test_imports_go_down_the_layers);
# every module of the package has a layer (test_every_module_has_a_layer). docs/architecture.md explains them.
LAYERS: tuple[tuple[str, ...], ...] = (
    # 0. shared helpers: errors, files, images, folders, signals, progress, value kinds, package data; a
    #    style folder's name rule, references and lock. No stage, no torch.
    (
        "errors",
        "faults",
        "values",
        "imageio",
        "output_folder",
        "files",
        "bundled",
        "messages",
        "signals",
        "progress",
        "style_folder",
    ),
    # 1. the first stages: faces and portraits; the networks. They know nothing of each other
    #    (test_data_flows_one_way) nor of the config: a caller hands them what they need.
    ("content", "nets"),
    # 2. the settings: the schema and pipeline.toml, checked with the names of layers 0 and 1; the package's
    #    face (stylize/__init__.py: the config, the errors, the verbs loaded lazily by name).
    ("config", "stylize"),
    # 3. running styles: model files, applying them, zero-training styles.
    ("inference",),
    # 4. what training and evaluation both measure of a reference (the style score's Gram layers and side).
    ("reference_scoring",),
    # 5. fitting networks (writes model files with inference).
    ("training",),
    # 6. to the game: exports and part sets (with inference's networks).
    ("shipping",),
    # 7. judging styles, and part sets against whole faces (uses training's losses and VGG19).
    ("evaluation",),
    # 8. what runs the stages together: stylize run, the studio.
    ("pipeline", "studio"),
    # 9. the benches: timing the stages (shipping's exports, evaluation's judge; the studio as a process).
    ("bench",),
    # 10. the command line.
    ("cli", "__main__"),
)
LAYER = {name: index for index, names in enumerate(LAYERS) for name in names}


def _module_files() -> dict[str, Path]:
    """Every module of the package (``stylize.x.y`` -> its file), package data left out."""
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        if "assets" in relative.parts:
            continue
        parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
        modules[".".join(parts)] = path
    return modules


MODULES = _module_files()


def _is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def _resolve(module: str, node: ast.ImportFrom) -> str:
    """The absolute module named by a ``from`` statement (relative ones resolved against ``module``)."""
    if not node.level:
        return node.module or ""
    package = module if _is_package(module) else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def _owning_module(name: str) -> str | None:
    """The longest module of the package that ``name`` (a dotted import target) is or lies in."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def import_lines(module: str) -> list[tuple[int, str]]:
    """Each import of one of the package's modules anywhere in ``module``'s source, as (line, module
    imported). ``from stylize.x import y`` counts as importing ``stylize.x.y`` when that is a module, else
    ``stylize.x``."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"), filename=str(MODULES[module]))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, node)
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        for target in targets:
            owner = _owning_module(target)
            if owner is not None and owner != module:
                found.append((node.lineno, owner))
    return sorted(set(found))


IMPORTS = {module: import_lines(module) for module in MODULES}
GRAPH = {module: {target for _, target in lines} for module, lines in IMPORTS.items()}


def imports_of(module: str) -> set[str]:
    """The package's modules that ``module`` imports anywhere in its source."""
    return GRAPH[module]


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path (first module repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            cycle = visit(start)
            if cycle:
                return cycle
    return None


def test_the_walk_sees_the_package_and_its_lazy_imports():
    assert {"stylize", "stylize.files", "stylize.evaluation.scores", "stylize.nets.vgg"} <= set(MODULES)
    assert "stylize.evaluation.report" in GRAPH["stylize.evaluation.scores"]  # an import inside evaluate()
    assert "stylize.content.compose" in GRAPH["stylize.training.style"]  # from stylize.content.compose import ...


def test_the_cycle_finder_finds_a_cycle():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycles():
    cycle = _find_cycle(GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


# --- the layers -----------------------------------------------------------------------------------------


def layer_name(module: str) -> str:
    """The name ``module`` has in :data:`LAYERS`: its stage, or the top-level module itself."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _file_of(module: str) -> str:
    path = MODULES.get(module)
    return str(path.relative_to(PACKAGE.parent)) if path else module.replace(".", "/") + ".py"


def upward_imports(imports: dict[str, list[tuple[int, str]]], layer: dict[str, int]) -> list[str]:
    """Every import in ``imports`` (module -> (line, module imported)) that goes to a higher layer than its
    importer's, as "FILE:LINE imports TARGET (...)"."""
    wrong = []
    for module, lines in sorted(imports.items()):
        own = layer_name(module)
        for line, target in lines:
            theirs = layer_name(target)
            if layer[theirs] > layer[own]:
                wrong.append(
                    f"{_file_of(module)}:{line} imports {target} "
                    f"(layer {layer[theirs]}, {theirs}; this file: layer {layer[own]}, {own})"
                )
    return wrong


def test_the_layer_table_names_each_module_or_stage_once():
    names = [name for names in LAYERS for name in names]
    assert len(names) == len(set(names))
    assert set(STAGES) <= set(names)


def test_every_module_has_a_layer():
    missing = sorted(module for module in MODULES if layer_name(module) not in LAYER)
    assert not missing, f"give these modules a layer in LAYERS (tests/test_imports.py): {missing}"
    unused = sorted(set(LAYER) - {layer_name(module) for module in MODULES})
    assert not unused, f"LAYERS names what the package does not have: {unused}"


def test_the_layer_check_names_the_file_line_and_target_of_an_upward_import():
    imports = {"stylize.content.compose": [(3, "stylize.errors"), (21, "stylize.config")], "stylize.config": []}
    assert upward_imports(imports, LAYER) == [
        "stylize/content/compose.py:21 imports stylize.config (layer 2, config; this file: layer 1, content)"
    ]
    assert upward_imports({"stylize.training.teacher": [(9, "stylize.inference.image")]}, LAYER) == []


def test_imports_go_down_the_layers():
    wrong = upward_imports(IMPORTS, LAYER)
    assert not wrong, "imports that go up the layers (LAYERS in tests/test_imports.py):\n" + "\n".join(wrong)


def _in_stage(module: str, stage: str) -> bool:
    return module == f"stylize.{stage}" or module.startswith(f"stylize.{stage}.")


@pytest.mark.parametrize(
    ("stage", "forbidden"),
    [
        ("content", ("nets", "training", "inference", "shipping", "evaluation")),
        ("nets", ("content", "training", "inference", "shipping", "evaluation")),
    ],
)
def test_data_flows_one_way(stage, forbidden):
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if _in_stage(module, stage)
        for target in targets
        if any(_in_stage(target, other) for other in forbidden)
    )
    assert not wrong, "; ".join(wrong)


def private_imports(module: str) -> list[str]:
    """Each ``from stylize.x import _name`` in ``module``: a private name of another module of the package."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    return [
        f"{_file_of(module)}:{node.lineno} imports {alias.name} from {_resolve(module, node)}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and _owning_module(_resolve(module, node))
        for alias in node.names
        if alias.name.startswith("_") and not alias.name.startswith("__")
    ]


def test_no_module_imports_another_modules_private_name():
    """What two modules share is public in one of them (or moved down to a module both import)."""
    wrong = [line for module in MODULES for line in private_imports(module)]
    assert not wrong, "make these names public or move them:\n" + "\n".join(wrong)


# What reading or writing files looks like in source: calls and the libraries that do it.
_FILE_CALLS = {"open", "load", "save", "read_bytes", "read_text", "write_bytes", "write_text", "load_file", "save_file"}
_FILE_MODULES = {"json", "safetensors", "pathlib", "os", "io", "shutil", "tempfile", "stylize.files", "stylize.imageio"}


def test_nets_read_and_write_no_files():
    """The networks are built from weights they are given: model files (stylize's own and the VGG19
    weights) are read and written elsewhere (inference.model_file, training.vgg_weights)."""
    wrong = []
    for module, path in MODULES.items():
        if not _in_stage(module, "nets"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
                if name in _FILE_CALLS:
                    wrong.append(f"{module}:{node.lineno} calls {name}()")
            elif isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                wrong += [
                    f"{module}:{node.lineno} imports {n}"
                    for n in names
                    if n.split(".")[0] in _FILE_MODULES or n in _FILE_MODULES
                ]
    assert not wrong, "; ".join(wrong)


def test_the_torch_free_modules_import_without_torch():
    """The shared helpers, the style folder, the config, the layer and device names, the style score's
    references, the eval report and its face judge, and the benches (whose defaults the command line
    reads) load without torch (a fresh interpreter)."""
    import sys

    import processes

    modules = [
        "stylize.files",
        "stylize.style_folder",
        "stylize.config",
        "stylize.nets.vgg_layers",
        "stylize.nets.device_names",
        "stylize.reference_scoring",
        "stylize.evaluation.style_score",
        "stylize.evaluation.report",
        "stylize.evaluation.judge",
        *(f"stylize.bench.{name}" for name in ("timing", "runtimes", "zero", "studio", "device", "big")),
    ]
    code = f"import sys\nfor m in {modules!r}: __import__(m)\nprint(sorted(n for n in sys.modules if n.startswith('torch')))"
    done = processes.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]"


# --- the top-level verbs ------------------------------------------------------------------------------------


def _every_submodule() -> list[str]:
    return [
        info.name
        for info in pkgutil.walk_packages(stylize.__path__, "stylize.")
        if info.name.rpartition(".")[2] != "__main__"  # running it is the CLI, not an import
    ]


def _verbs_are_callable() -> list[str]:
    return [name for name in stylize._LAZY if not callable(getattr(stylize, name))]


def test_no_top_level_name_is_both_a_verb_and_a_module():
    clashes = sorted(set(stylize._LAZY) & {name.split(".")[1] for name in MODULES if name.count(".") >= 1})
    assert not clashes, f"these verbs share their name with a submodule: {clashes}"


def test_verbs_stay_callable_after_importing_every_submodule():
    for name in _every_submodule():
        importlib.import_module(name)
    assert _verbs_are_callable() == []
    for name in ("preview", "distill", "export_parts"):
        assert callable(getattr(stylize, name))


@pytest.mark.slow
def test_verbs_stay_callable_after_run_pipeline(tmp_path, tiny_styles):
    """A whole ``stylize run`` (compose, apply, preview) on two faces with a tiny style, then the verbs."""
    import shutil

    from conftest import two_face_run_config

    styles = tmp_path / "styles"
    shutil.copytree(tiny_styles / "inky", styles / "inky")
    config = two_face_run_config(tmp_path, styles, "inky")
    summary = stylize.run_pipeline(config, progress=False)
    assert not summary.failed and summary.preview is not None and summary.preview.is_file()
    assert _verbs_are_callable() == []
    for name in ("preview", "distill", "export_parts"):
        assert callable(getattr(stylize, name))

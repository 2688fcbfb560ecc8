"""Bulk apply on Ray (``engine="ray"``) on a local Ray instance of 2 CPUs: the local engine's bytes and
manifest, the same per-file errors, and a killed actor that costs nothing (its calls are sent again)
or, with no retries left, fails its inputs alone, for a rerun to redo exactly those.

Skipped only when Ray (the extra ``stylize[ray]``) is not installed; .ci/run installs it and sets
STYLIZE_REQUIRE_TOOLS=1, which turns that skip into a failure."""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import torch
from conftest import BUNDLED_PARTS, REPO_ROOT, require_tool
from PIL import Image

import stylize
from stylize import StylizeError
from stylize.inference import ray_engine
from stylize.inference.bulk import MANIFEST_NAME, apply, read_apply_manifest

STYLES = ["pencil-nano", "ink_wash-nano"]


@pytest.fixture(scope="module")
def ray_installed() -> None:
    require_tool("ray (pip install 'stylize[ray]')", importlib.util.find_spec("ray"))


@pytest.fixture(scope="module")
def ray_cluster(ray_installed):
    """One local Ray instance for the module: 2 CPUs, no dashboard; its workers import this checkout."""
    import ray

    python_path = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        logging_level=logging.ERROR,
        runtime_env={"env_vars": {"PYTHONPATH": python_path, "OMP_NUM_THREADS": "1"}},
    )
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> Path:
    """Six 295x285 faces from the bundled tree, one RGBA portrait of another size, one truncated file."""
    folder = tmp_path_factory.mktemp("faces")
    stylize.compose("0-5", folder, parts=BUNDLED_PARTS, progress=False)
    (folder / MANIFEST_NAME).unlink()
    odd = Image.open(folder / "face_0000000000.png").convert("RGBA").resize((201, 187))
    odd.putalpha(Image.linear_gradient("L").resize((201, 187)))
    odd.save(folder / "odd_rgba.png")
    whole = (folder / "face_0000000001.png").read_bytes()
    (folder / "truncated.png").write_bytes(whole[: len(whole) // 3])
    return folder


@pytest.fixture(scope="module")
def many_faces(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("many_faces")
    stylize.compose("0-31", folder, parts=BUNDLED_PARTS, progress=False)
    (folder / MANIFEST_NAME).unlink()
    return folder


def _digest(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


def _local(styles, inputs: Path, out: Path):
    """The local engine at one torch thread, the thread count of an actor of actor_cpus=1 (CPU kernels
    may round a pixel differently at another count)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return apply(styles, [inputs], out, device="cpu", progress=False)
    finally:
        torch.set_num_threads(threads)


@pytest.mark.slow
def test_refusals_are_one_line_and_start_nothing(tmp_path, faces, ray_installed):
    run = lambda **kw: apply("pencil-nano", [faces], tmp_path / "out", device="cpu", progress=False, **kw)  # noqa: E731
    with pytest.raises(StylizeError, match=r"^address=127.0.0.1:6379 is for engine=ray; add engine=ray"):
        run(address="127.0.0.1:6379")
    with pytest.raises(StylizeError, match=r"^actors=2 is for engine=ray"):
        run(actors=2)
    with pytest.raises(StylizeError, match=r"^workers=2 is for the local engine; with engine=ray give actors=N"):
        run(engine="ray", workers=2)
    with pytest.raises(StylizeError, match=r"^address='head' is not allowed; write \"auto\", \"HOST:PORT\""):
        run(engine="ray", address="head")
    with pytest.raises(StylizeError, match=r"^engine='spark' is not allowed"):
        run(engine="spark")
    # Nothing listens on port 1: refused in one line at once, not after Ray's own long wait.
    started = time.monotonic()
    with pytest.raises(StylizeError, match=r"^address=127.0.0.1:1: no Ray cluster answers there \(") as err:
        run(engine="ray", address="127.0.0.1:1")
    assert "\n" not in str(err.value) and time.monotonic() - started < 10
    assert not (tmp_path / "out" / MANIFEST_NAME).exists()


@pytest.mark.slow
def test_the_command_line_refuses_in_one_line_with_its_flags(tmp_path, faces, ray_installed, capsys):
    from stylize.cli import main

    common = ["apply", str(faces), "--style", "pencil-nano", "--out", str(tmp_path / "out"), "--device", "cpu", "-q"]
    for extra, line in (
        (
            ["--address", "10.0.0.1:6379"],
            "--address 10.0.0.1:6379 is for --engine ray; add --engine ray or leave it out",
        ),
        (
            ["--engine", "ray", "--workers", "2"],
            "--workers 2 is for the local engine; with --engine ray give --actors N",
        ),
        (["--engine", "ray", "--address", "127.0.0.1:1"], "--address 127.0.0.1:1: no Ray cluster answers there"),
    ):
        assert main(common + extra) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"stylize: error: {line}") and err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()


def test_without_ray_the_engine_says_how_to_install_it(tmp_path, faces, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(StylizeError, match=r"engine=ray needs Ray.*pip install 'stylize\[ray\]'$"):
        apply("pencil-nano", [faces], tmp_path / "out", device="cpu", progress=False, engine="ray")


@pytest.mark.slow
def test_same_bytes_manifest_and_errors_as_the_local_engine(tmp_path, faces, ray_cluster):
    local = _local(STYLES, faces, tmp_path / "local")
    on_ray = apply(STYLES, [faces], tmp_path / "ray", device="cpu", progress=False, engine="ray", actors=2)
    assert len(on_ray.written) == len(local.written) == 2 * 7
    assert on_ray.failed == local.failed and len(local.failed) == 1 and "truncated.png" in local.failed[0]
    assert _digest(tmp_path / "ray") == _digest(tmp_path / "local")  # the PNGs and manifest.jsonl, byte for byte
    assert not list((tmp_path / "ray").rglob("*.tmp"))
    again = apply(STYLES, [faces], tmp_path / "ray", device="cpu", progress=False, engine="ray")
    assert again.written == [] and len(again.skipped) == 14


class _Recorded(ray_engine._Actors):
    """The engine's actor pool, remembered so a test can kill one of its processes."""

    made: list[ray_engine._Actors] = []

    def start(self, count: int) -> None:
        super().start(count)
        _Recorded.made.append(self)


def _kill_an_actor_when(manifest: Path, lines: int) -> tuple[threading.Thread, list[int]]:
    """A thread that SIGKILLs one actor process of the run once ``manifest`` has ``lines`` records."""
    killed: list[int] = []

    def watch() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if _Recorded.made and manifest.is_file() and manifest.read_text().count("\n") >= lines:
                pid = _Recorded.made[-1].pids[0]
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.005)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread, killed


@pytest.mark.slow
def test_a_killed_actor_is_replaced_and_its_inputs_sent_again(tmp_path, many_faces, ray_cluster, monkeypatch):
    monkeypatch.setattr(ray_engine, "_Actors", _Recorded)
    _Recorded.made.clear()
    out = tmp_path / "ray"
    watcher, killed = _kill_an_actor_when(out / MANIFEST_NAME, 2)
    result = apply("pencil-nano", [many_faces], out, device="cpu", progress=False, engine="ray", actors=2)
    watcher.join(timeout=5)
    assert killed, "no actor was killed"
    assert result.failed == [] and len(result.written) == 32
    _local("pencil-nano", many_faces, tmp_path / "local")
    assert _digest(out) == _digest(tmp_path / "local")
    assert not list(out.rglob("*.tmp"))


@pytest.mark.slow
def test_inputs_of_an_actor_killed_with_no_retries_left_fail_alone_and_a_rerun_redoes_exactly_them(
    tmp_path, many_faces, ray_cluster, monkeypatch
):
    monkeypatch.setattr(ray_engine, "_Actors", _Recorded)
    monkeypatch.setattr(ray_engine, "RETRIES", 0)
    _Recorded.made.clear()
    out = tmp_path / "ray"
    watcher, killed = _kill_an_actor_when(out / MANIFEST_NAME, 2)
    first = apply("pencil-nano", [many_faces], out, device="cpu", progress=False, engine="ray", actors=2)
    watcher.join(timeout=5)
    assert killed and first.failed, "the kill cost no input"
    assert all("the Ray worker stylizing it stopped 1 times" in line and "\n" not in line for line in first.failed)
    failed_names = {Path(line.split(":", 1)[0]).with_suffix(".png").name for line in first.failed}
    assert len(first.written) + len(failed_names) == 32
    # Every record has its file with the recorded bytes, and no file is half-written or unrecorded.
    records = read_apply_manifest(out / MANIFEST_NAME)
    assert set(records) == {p.name for p in first.written}
    for name, record in records.items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == record["output_sha256"]
    assert {p.name for p in out.iterdir()} == set(records) | {MANIFEST_NAME}

    monkeypatch.setattr(ray_engine, "RETRIES", 2)
    rerun = apply("pencil-nano", [many_faces], out, device="cpu", progress=False, engine="ray", actors=2)
    assert rerun.failed == [] and {p.name for p in rerun.written} == failed_names
    assert len(rerun.skipped) == len(first.written)
    _local("pencil-nano", many_faces, tmp_path / "local")
    assert _digest(out) == _digest(tmp_path / "local")

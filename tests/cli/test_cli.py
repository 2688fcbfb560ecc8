import json
import sys

import processes
import pytest
from conftest import REPO_ROOT, make_tree

from stylize.cli import main


def run_cli(*args, cwd=None):
    return processes.run(
        [sys.executable, "-m", "stylize", *args], capture_output=True, text=True, cwd=cwd or REPO_ROOT, timeout=300
    )


def test_compose_cli(tmp_path):
    tree = make_tree(tmp_path / "facegen")
    done = run_cli("compose", "--parts", str(tree), "--seeds", "0-2", "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert "composed 3 faces" in done.stdout
    assert len((tmp_path / "out/manifest.jsonl").read_text().splitlines()) == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["compose", "--parts", "/nonexistent/facegen", "--seeds", "0", "--out", "OUT"], "part tree not found"),
        (["compose", "--seeds", "5-1", "--out", "OUT"], "runs backwards"),
        (["compose", "--seeds", "99999999999", "--out", "OUT"], "out of range"),
        (["content", "/nonexistent/portraits"], "content source not found"),
    ],
)
def test_user_mistakes_are_one_line_errors(tmp_path, args, message, capfd, monkeypatch):
    """In this process (test_compose_cli runs ``python -m stylize`` itself): an exception escaping main
    would fail the test, as a traceback would."""
    args = [a.replace("OUT", str(tmp_path / "out")) for a in args]
    monkeypatch.chdir(REPO_ROOT)  # as run_cli runs (with the repository's pipeline.toml)
    assert main(args) == 1
    err = capfd.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stylize: error: ") and message in lines[0]
    assert "Traceback" not in err


def test_bad_config_is_one_line(tmp_path, capfd, monkeypatch):
    (tmp_path / "pipeline.toml").write_text("[output]\ndir = 5\n")
    monkeypatch.chdir(tmp_path)
    assert main(["compose", "--seeds", "0"]) == 1
    assert capfd.readouterr().err.strip() == (
        f"stylize: error: {tmp_path / 'pipeline.toml'}: [output] dir = 5 is not allowed; "
        "where every command writes its results: write a path in quotes"
    )


def test_content_lists_portraits_and_reports_bad_files(tmp_path, capsys):
    from PIL import Image

    Image.new("RGBA", (12, 10), (1, 2, 3, 4)).save(tmp_path / "ok.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    code = main(["content", str(tmp_path), "--json"])
    captured = capsys.readouterr()
    assert code == 1
    report = json.loads(captured.out)
    assert report["portraits"] == [
        {"name": "ok.png", "source": str(tmp_path / "ok.png"), "width": 12, "height": 10, "mode": "RGBA", "alpha": True}
    ]
    assert len(report["failed"]) == 1 and "broken.png" in report["failed"][0]


def test_parts_and_config_commands(tmp_path, capsys):
    tree = make_tree(tmp_path / "facegen", races=1)
    assert main(["parts", "--parts", str(tree)]) == 0
    out = capsys.readouterr().out
    assert "species 0 (species_0): 1 races, 2 genders" in out and "race 0 gender 1: head 2, eyes 2" in out
    assert main(["config", "--config", str(REPO_ROOT / "pipeline.toml")]) == 0
    assert "[content] seeds = 0-15 (16 faces)" in capsys.readouterr().out


@pytest.mark.slow
def test_run_composes_the_configured_faces(tmp_path):
    make_tree(tmp_path / "facegen")
    (tmp_path / "legacy").mkdir()
    (tmp_path / "legacy/bad.png").write_bytes(b"")
    (tmp_path / "pipeline.toml").write_text(
        '[parts]\nroot = "facegen"\n[content]\nseeds = "0-3"\nlegacy = ["legacy"]\n[output]\ndir = "result"\n'
    )
    done = run_cli("run", "--config", str(tmp_path / "pipeline.toml"))
    assert "compose: 4 faces written" in done.stdout
    assert "bad.png" in done.stdout and done.returncode == 1
    assert len(list((tmp_path / "result/faces").glob("*.png"))) == 4


@pytest.mark.parametrize(
    ("args", "line"),
    [
        ([], "stylize: error: the following arguments are required: COMMAND (see stylize --help)"),
        (["nosuch"], "stylize: error: argument COMMAND: invalid choice: 'nosuch' "),
        (
            ["apply", "--style"],
            "stylize apply: error: argument --style: expected one argument (see stylize apply --help)",
        ),
        (
            ["apply", "a.png", "--frob"],
            "stylize apply: error: unrecognized arguments: --frob (see stylize apply --help)",
        ),
        (
            ["compose", "--armoured=yes"],
            "stylize compose: error: argument --armoured: ignored explicit argument 'yes' ",
        ),
    ],
)
def test_usage_errors_are_one_line_with_exit_2(args, line, capsys):
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and captured.err.startswith(line), captured.err


WARNING_COMMAND = """
import sys, warnings
import stylize.cli.apply_cmds as apply_cmds

def noisy(args):  # what torch, kornia or onnx do inside a command
    warnings.warn("a note for the library's developers", UserWarning)
    warnings.warn("this API will change", FutureWarning)
    print("done")
    return 0

apply_cmds.cmd_apply = noisy
from stylize.cli import main
sys.exit(main(["apply", "face.png", "--style", "pencil"]))
"""


def run_python(*args: str, timeout: float = 120) -> tuple[int, str, str]:
    """``python ARGS`` in its own session, killed with its group on timeout or failure."""
    import os

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, (str(REPO_ROOT), os.environ.get("PYTHONPATH")))))
    env.pop("PYTHONWARNINGS", None)
    done = processes.run([sys.executable, *args], capture_output=True, text=True, env=env, timeout=timeout)
    return done.returncode, done.stdout, done.stderr


@pytest.mark.slow
def test_library_warnings_never_print_raw():
    code, out, err = run_python("-c", WARNING_COMMAND)
    assert (code, out, err) == (0, "done\n", ""), err
    # Asked for with python -W, they print as Python prints them.
    code, out, err = run_python("-W", "default", "-c", WARNING_COMMAND)
    assert code == 0 and "UserWarning: a note for the library's developers" in err


@pytest.mark.slow
def test_worker_processes_show_warnings_as_the_command_does():
    """apply's pool workers and Ray actors call show_warnings_as_lines() first: the stylize logger's warning
    is one prefixed line, another library's Python warning is hidden."""
    code = (
        "import logging, warnings\n"
        "from stylize.inference.bulk import _init_pool_worker\n"
        "from stylize.messages import show_warnings_as_lines\n"
        "show_warnings_as_lines()\n"
        "logging.getLogger('stylize.imageio').warning('x.jpg: its EXIF metadata is damaged')\n"
        "warnings.warn('a note for developers')\n"
    )
    status, out, err = run_python("-c", code)
    assert (status, out, err) == (0, "", "stylize: warning: x.jpg: its EXIF metadata is damaged\n"), err
    import inspect

    from stylize.inference import bulk, ray_engine

    assert "show_warnings_as_lines()" in inspect.getsource(bulk._init_pool_worker)
    assert "show_warnings_as_lines()" in inspect.getsource(ray_engine._Stylist.__init__)

"""Data-parallel training (issue 18, item 1): N gloo ranks of batch b against one process of batch N*b,
Ctrl-C and resume across ranks, the launcher and torchrun end to end, and the values refused.

What is equivalent (docs/scaling.md): the ranks' shards of a step are the one process's batch bit for
bit; the first step's loss is the same and its gradient the same up to float rounding (measured: a
relative difference of 8e-7, tested below 1e-5); after 10 Adam steps the losses agree within 2e-3
(measured 3e-4; Adam's normalisation turns rounding into small weight differences that grow).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import processes
import pytest
import torch
import torch.distributed as dist
from conftest import REPO_ROOT, TINY_TRAIN
from PIL import Image

import stylize.training.distributed as distributed_module
from stylize import StylizeError
from stylize.cli import main
from stylize.inference.model_file import METADATA_NAME, WEIGHTS_NAME, ModelFileError, load_model, read_metadata
from stylize.training.data import Shard, build_content_pool, sample_batch
from stylize.training.distributed import check_backend, rank_device, ranks_from_env
from stylize.training.loop import run_training_loop
from stylize.training.teacher import TeacherCache, sample_cached

GRADIENT_TOLERANCE = 1e-5  # relative L2 difference of the first step's gradient (measured 8e-7)
LOSS_TOLERANCE = 2e-3  # relative difference of the loss after 10 steps (measured 3e-4)


# --- the data: shards of a step are the one process's batch ------------------------------------------------


@pytest.fixture(scope="module")
def pool(tree, tmp_path_factory):
    """Composited faces and legacy portraits, with and without alpha (their draws differ)."""
    folder = tmp_path_factory.mktemp("legacy")
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 255, (50, 40, 4), dtype=np.uint8), "RGBA").save(folder / "a.png")
    Image.fromarray(rng.integers(0, 255, (61, 47, 3), dtype=np.uint8), "RGB").save(folder / "b.png")
    from stylize.content.compose import open_part_tree

    return build_content_pool(["compose:0-9", str(folder)], lambda: open_part_tree(tree, None))


@pytest.mark.parametrize("options", [{}, {"colour_jitter": True}, {"with_features": True}])
def test_the_shards_of_a_step_are_the_one_process_batch(pool, options):
    for step in range(3):
        whole = sample_batch(pool, seed=5, step=step, batch=6, size=24, **options)
        shards = [
            sample_batch(pool, seed=5, step=step, batch=2, size=24, shard=Shard(r, 3), **options) for r in range(3)
        ]
        assert torch.equal(torch.cat(shards), whole)


def test_the_teachers_shards_are_its_one_process_batch():
    generator = torch.Generator().manual_seed(0)
    cache = TeacherCache([torch.rand(1, 7, 40 + 3 * i, 36 + 2 * i, generator=generator) for i in range(4)])
    whole = sample_cached(cache, seed=2, step=7, batch=4, size=16)
    shards = [sample_cached(cache, seed=2, step=7, batch=2, size=16, shard=Shard(r, 2)) for r in range(2)]
    assert torch.equal(torch.cat(shards), whole)


# --- the loop on gloo ranks (forked, so no interpreter starts) --------------------------------------------


class _Settings:
    size, learning_rate, seed, checkpoint_seconds = 32, 2e-3, 0, 1e9

    def __init__(self, batch: int, steps: int | None, minutes: float | None = None) -> None:
        self.batch, self.steps, self.minutes = batch, steps, minutes


def _l1(output, batch):
    loss = (output - batch).abs().mean()
    return loss, {"l1": float(loss.detach())}


def _rank(world, rank, port, tree, folder, batch, steps, resume, interrupt_at, minutes):
    """One rank: the shared loop on a nano network (L1 to its input, as train-base); rank 0 keeps what it
    ends with in ``folder/out.pt``, every rank its steps in ``folder/steps-RANK.txt`` and its error in
    ``folder/error-RANK.txt``."""
    try:
        torch.set_num_threads(1)
        if world > 1:
            dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
        from stylize.content.compose import open_part_tree
        from stylize.nets.transformer import build_network

        pool = build_content_pool(["compose:0-9"], lambda: open_part_tree(tree, None))
        torch.manual_seed(0)
        network = build_network("nano")

        def sample(pool_, *, step, **kwargs):
            if step == interrupt_at and rank == world - 1:  # Ctrl-C on the last rank only
                signal.raise_signal(signal.SIGINT)
            return real_sample(pool_, step=step, **kwargs)

        import stylize.training.loop as loop_module

        real_sample = loop_module.sample_batch
        loop_module.sample_batch = sample
        checkpoint = Path(folder) / "checkpoint"
        checkpoint.mkdir(parents=True, exist_ok=True)
        steps_done, _, _, history, interrupted = run_training_loop(
            network=network,
            loss_fn=_l1,
            pool=pool,
            settings=_Settings(batch, steps, minutes),
            checkpoint_dir=checkpoint,
            fingerprint={"test": 1},
            resume=resume,
            device=torch.device("cpu"),
            progress=False,
            description="test",
            colour_jitter=True,
        )
        (Path(folder) / f"steps-{rank}.txt").write_text(str(steps_done))
        if rank == 0:
            grads = {name: p.grad.clone() for name, p in network.named_parameters()}
            out = {"steps": steps_done, "history": history, "interrupted": interrupted, "grads": grads}
            torch.save({**out, "weights": network.state_dict()}, Path(folder) / "out.pt")
    except BaseException as err:  # noqa: BLE001 - reported to the test
        (Path(folder) / f"error-{rank}.txt").write_text(f"{type(err).__name__}: {err}")
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def _run(world, tree, folder, *, batch, steps, resume=False, interrupt_at=None, minutes=None):
    """The loop on ``world`` forked ranks; rank 0's results, or the first rank's error as a StylizeError."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in (*folder.glob("error-*.txt"), folder / "out.pt"):
        stale.unlink(missing_ok=True)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = (port, tree, folder, batch, steps, resume, interrupt_at, minutes)
    if world == 1:
        _rank(1, 0, *args)
    else:
        context = multiprocessing.get_context("fork")
        processes = [context.Process(target=_rank, args=(world, rank, *args)) for rank in range(world)]
        for process in processes:
            process.start()
        for process in processes:
            process.join(120)
            assert process.exitcode == 0
    errors = sorted(folder.glob("error-*.txt"))
    if errors:
        raise StylizeError(errors[0].read_text())
    return torch.load(folder / "out.pt")


def _relative(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    difference = torch.cat([(a[k] - b[k]).flatten() for k in a]).norm()
    return float(difference / torch.cat([a[k].flatten() for k in a]).norm())


@pytest.mark.slow
def test_two_gloo_ranks_of_batch_b_match_one_process_of_batch_2b(tmp_path, tree):
    one = _run(1, tree, tmp_path / "one", batch=4, steps=1)
    two = _run(2, tree, tmp_path / "two", batch=2, steps=1)
    assert two["history"][0]["total"] == pytest.approx(one["history"][0]["total"], rel=1e-6)  # the same data
    assert _relative(one["grads"], two["grads"]) < GRADIENT_TOLERANCE
    one, two = _run(1, tree, tmp_path / "one", batch=4, steps=10), _run(2, tree, tmp_path / "two", batch=2, steps=10)
    assert [point["step"] for point in two["history"]] == [1, 10]
    assert two["history"][-1]["total"] == pytest.approx(one["history"][-1]["total"], rel=LOSS_TOLERANCE)


@pytest.mark.slow
def test_ctrl_c_on_one_rank_stops_all_with_a_whole_checkpoint_that_every_rank_resumes(tmp_path, tree):
    straight = _run(2, tree, tmp_path / "straight", batch=1, steps=4)
    stopped = _run(2, tree, tmp_path / "resumed", batch=1, steps=4, interrupt_at=1)
    assert stopped["interrupted"] and stopped["steps"] == 2  # the last rank's Ctrl-C stopped rank 0 too
    state = json.loads((tmp_path / "resumed" / "checkpoint" / "checkpoint.json").read_text())
    assert state["step"] == 2 and state["fingerprint"]["world_size"] == 2
    with pytest.raises(StylizeError, match=r"other settings \(world_size differ"):
        _run(1, tree, tmp_path / "resumed", batch=1, steps=4, resume=True)  # another global batch
    resumed = _run(2, tree, tmp_path / "resumed", batch=1, steps=4, resume=True)
    assert resumed["steps"] == 4 and not resumed["interrupted"]
    assert all(torch.equal(straight["weights"][k], resumed["weights"][k]) for k in straight["weights"])


@pytest.mark.slow
def test_a_time_budget_stops_every_rank_at_the_step_rank_0_decides(tmp_path, tree):
    two = _run(2, tree, tmp_path, batch=1, steps=None, minutes=0.01)  # 0.6 s: a few steps, as the clocks go
    steps = [int((tmp_path / f"steps-{rank}.txt").read_text()) for rank in range(2)]
    assert steps[0] == steps[1] == two["steps"] >= 1 and not two["interrupted"]


# --- the launcher and torchrun, end to end -----------------------------------------------------------------


def _teacher_settings(**overrides):
    from stylize.training.settings import TrainSettings

    tiny = {**TINY_TRAIN, "arch": "magenta", "teacher_portraits": 2, "learning_rate": 1e-4, "steps": 2}
    return TrainSettings(**{**tiny, "style_layers": ("relu1_1", "relu2_1"), **overrides})


@pytest.mark.slow
def test_nproc_2_trains_a_style_on_two_ranks_that_matches_one_process(tmp_path, tree, reference):
    from stylize.progress import PhaseEvent, StepEvent, listen
    from stylize.training.style import train

    events = []
    with listen(events.append):  # rank 0's progress reaches the launcher's listeners, network and all
        two = train(
            "two",
            [reference],
            settings=_teacher_settings(batch=1),
            styles_dir=tmp_path,
            parts=tree,
            device="cpu",
            progress=False,
            nproc=2,
        )
    train(
        "one",
        [reference],
        settings=_teacher_settings(batch=2),
        styles_dir=tmp_path,
        parts=tree,
        device="cpu",
        progress=False,
    )
    steps = [event for event in events if isinstance(event, StepEvent)]
    assert [event.step for event in steps] == [1, 2] and steps[-1].network.spec.name == "magenta"
    # and its named phases: the ranks' preparation and saving reach the launcher's listeners too
    phases = [event.name for event in events if isinstance(event, PhaseEvent)]
    assert "reading the training faces" in phases and "saving the style" in phases
    meta = read_metadata(tmp_path / "two")
    assert meta["training"]["world_size"] == 2 and read_metadata(tmp_path / "one")["training"]["world_size"] == 1
    assert two.steps == meta["steps"] == 2 and not (tmp_path / "two" / ".checkpoint").exists()
    assert load_model(tmp_path / "two").network.spec.name == "magenta"
    # The teacher's term is normalised by the global batch's face area: the same loss as one process.
    first_two, first_one = meta["loss_history"][0], read_metadata(tmp_path / "one")["loss_history"][0]
    assert first_two["total"] == pytest.approx(first_one["total"], rel=1e-5)
    assert first_two["teacher"] == pytest.approx(first_one["teacher"], rel=1e-5)


_INTERRUPTED_RUN = """
import sys
from pathlib import Path

from stylize.cli import main
from stylize.progress import StepEvent, listen

tree, styles, started = sys.argv[1:]


def seen(event):
    if isinstance(event, StepEvent) and event.step >= 2:
        Path(started).touch()


with listen(seen):
    sys.exit(main(["train-base", "--arch", "nano", "--steps", "100000", "--size", "32", "--batch", "1",
                   "--content", "compose:0-9", "--parts", tree, "--styles-dir", styles, "--device", "cpu", "-q",
                   "--nproc", "2"]))
"""


@pytest.mark.slow
def test_a_signal_to_the_launcher_stops_its_ranks_with_a_whole_checkpoint_and_resume_finishes(tmp_path, tree):
    """SIGTERM to the launcher alone (started with SIGINT ignored, as `cmd &` does): it passes the signal
    on to its ranks, which stop at the same step; rank 0 saves a whole checkpoint, the command exits 143
    with one line, and no rank is left running. Ctrl-C takes the same path (the launcher passes on
    SIGINT and SIGTERM alike; exit status 130)."""
    from stylize.training.base import train_base

    sig = signal.SIGTERM
    started = tmp_path / "started"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-c", _INTERRUPTED_RUN, str(tree), str(tmp_path), str(started)]
    with processes.started(command, ignore_sigint=True, stderr=subprocess.PIPE, text=True, env=env) as run:
        deadline = time.monotonic() + 240
        while not started.exists():  # rank 0's progress, passed on to the launcher's listener: step 2 is done
            assert run.poll() is None and time.monotonic() < deadline, run.stderr.read()
            time.sleep(0.05)
        sent = time.monotonic()
        run.send_signal(sig)
        _, err = run.communicate(timeout=120)
        took = time.monotonic() - sent
        left = processes.session_members(run.pid)
    assert not left, f"ranks left running: {left}"
    assert run.returncode == 128 + sig and "base training interrupted at step" in err, err[-2000:]
    assert err.count("\n") == 1 and "Traceback" not in err, err[-2000:]
    assert took < 10.0, f"the ranks took {took:.1f} s to stop"  # a step, a checkpoint, a barrier: seconds
    state = json.loads((tmp_path / "_base" / "nano" / ".checkpoint" / "checkpoint.json").read_text())
    assert state["step"] >= 2 and state["fingerprint"]["world_size"] == 2
    done = train_base(
        "nano", steps=state["step"] + 1, size=32, batch=1, content=["compose:0-9"], parts=tree, styles_dir=tmp_path,
        device="cpu", progress=False, resume=True, nproc=2,
    )  # fmt: skip
    assert done.steps == state["step"] + 1 and read_metadata(tmp_path / "_base" / "nano")["training"]["world_size"] == 2


@pytest.mark.slow
def test_train_base_under_torchrun_writes_the_same_model_file_format(tmp_path, tree):
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
        "-m", "stylize", "train-base", "--arch", "nano", "--steps", "2", "--size", "32", "--batch", "1",
        "--content", "compose:0-9", "--parts", str(tree), "--styles-dir", str(tmp_path), "--device", "cpu", "-q",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    done = processes.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("base nano: 2 steps") == 2  # each rank returns; rank 0 alone wrote
    folder = tmp_path / "_base" / "nano"
    meta = json.loads((folder / METADATA_NAME).read_text())
    assert meta["training"]["world_size"] == 2 and meta["kind"] == "base"
    assert load_model(folder).metadata == meta and (folder / WEIGHTS_NAME).is_file()
    assert sorted(p.name for p in folder.iterdir()) == [METADATA_NAME, WEIGHTS_NAME]


# --- values refused ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--nproc", "0"], "--nproc 0 is not allowed; use a whole number from 1 to 1024"),
        (["--nproc", "2", "--device", "cuda"], "--nproc 2 ranks on --device cuda need 2 GPUs, one a rank"),
    ],
)
def test_bad_nproc_is_one_line(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    command = ["train-base", "--steps", "1", "--styles-dir", str(tmp_path), *argv]
    assert main(command) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "_base").exists()  # refused before any work


def test_nproc_other_than_torchruns_world_is_refused(tmp_path, monkeypatch):
    from stylize.training.base import train_base

    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(StylizeError, match="nproc=3 differs from the 2 ranks of torchrun's WORLD_SIZE") as info:
        train_base("nano", steps=1, styles_dir=tmp_path, nproc=3)
    assert info.value.params == ("nproc",)
    monkeypatch.setenv("RANK", "2")
    with pytest.raises(StylizeError, match="RANK=2 WORLD_SIZE=2 LOCAL_RANK=2 are not a rank of a run"):
        ranks_from_env(os.environ)


def test_nccl_without_cuda_and_cuda_without_gpus_are_refused(monkeypatch):
    with pytest.raises(StylizeError, match="uses NCCL, which carries only CUDA tensors, but this run is on the CPU"):
        check_backend("nccl", torch.device("cpu"))
    check_backend("gloo", torch.device("cpu"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(StylizeError, match="need 2 GPUs, one a rank; torch sees no CUDA GPU"):
        rank_device("cuda", 2, 0)
    assert rank_device("auto", 2, 1) == ("cpu", "gloo")  # auto: the CPU unless every rank has a GPU
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert rank_device("auto", 2, 1) == ("cuda:1", "nccl")


@pytest.mark.parametrize("value", [0, -1, "2", 1.5, True])
def test_a_model_file_with_a_bad_world_size_is_refused(tmp_path, value):
    from stylize.inference.model_file import check_metadata

    metadata = {"weights_sha256": "0" * 64, "training": {"world_size": value}}
    with pytest.raises(ModelFileError, match="training world_size is .*not a whole number of ranks"):
        check_metadata(metadata, tmp_path / METADATA_NAME)
    check_metadata({**metadata, "training": {"world_size": 4}}, tmp_path / METADATA_NAME)


def test_one_process_is_rank_0_of_1():
    here = distributed_module.ranks()
    assert (here.rank, here.world_size, here.leader, here.shard) == (0, 1, True, Shard())
    assert distributed_module.leader_first(lambda: 7) == 7
    value = torch.tensor(3.0, requires_grad=True)
    assert not distributed_module.global_mean(value * 2).requires_grad  # a constant, also in one process


def test_the_launcher_reports_the_error_that_stopped_the_run():
    from stylize.training.launch import _result

    two = [None, None]
    assert _result({0: ("ok", "rank 0's"), 1: ("ok", "rank 1's")}, two) == "rank 0's"
    refused = StylizeError("x: nothing to resume", params=("resume",))
    with pytest.raises(StylizeError, match="nothing to resume") as info:  # a StylizeError before a traceback
        _result({0: ("error", "Traceback: gloo connection closed"), 1: ("error", refused)}, two)
    assert info.value.params == ("resume",)
    with pytest.raises(StylizeError, match=r"rank 1 of 2 died \(exit status -9\); the last whole checkpoint is kept"):
        _result({0: ("error", "Traceback: gloo connection closed"), 1: ("died", -9)}, two)
    with pytest.raises(RuntimeError, match="rank 0 of 2 failed:\nTraceback: a bug"):
        _result({0: ("error", "Traceback: a bug"), 1: ("ok", None)}, two)

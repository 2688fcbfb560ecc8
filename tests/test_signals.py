"""Ctrl-C and SIGTERM in-process (stylize.signals, the CLI's exit status, the training loop's stop flag);
the commands stopped in processes of their own are in tests/training/test_stopping.py."""

from __future__ import annotations

import signal

import pytest

from stylize import signals


@pytest.fixture
def sigint_ignored():
    """SIGINT ignored, as a process started with `cmd &` by a non-interactive shell inherits it."""
    previous = {signum: signal.signal(signum, signal.SIG_IGN) for signum in signals.STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@pytest.mark.parametrize("signum", signals.STOP_SIGNALS, ids=["SIGINT", "SIGTERM"])
def test_both_signals_interrupt_whatever_was_inherited_and_the_old_handlers_come_back(sigint_ignored, signum):
    with signals.stopping_on_signals():
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signum)
        assert signals.received() == signum and signals.exit_status() == 128 + signum
    assert signal.getsignal(signum) is signal.SIG_IGN
    signal.raise_signal(signum)  # ignored again: nothing happens


def test_the_first_signal_names_the_exit_status():
    with signals.stopping_on_signals():
        assert signals.received() is None and signals.exit_status() == 130  # a KeyboardInterrupt of its own
        for signum in (signal.SIGTERM, signal.SIGINT):
            with pytest.raises(KeyboardInterrupt):
                signal.raise_signal(signum)
        assert signals.exit_status() == 143


def test_a_signal_while_held_comes_when_the_block_ends():
    done = []
    with signals.stopping_on_signals():
        with pytest.raises(KeyboardInterrupt):
            with signals.held():
                signal.raise_signal(signal.SIGTERM)
                done.append("both files written")
        assert done == ["both files written"] and signals.received() == signal.SIGTERM


def test_the_loops_flag_stops_after_the_step_then_a_second_signal_gives_up(sigint_ignored):
    from stylize.training.loop import _StopFlag

    with _StopFlag() as flag:
        signal.raise_signal(signal.SIGTERM)
        assert flag.stop  # the loop finishes its step and saves
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    with _StopFlag(same_within=60.0) as flag:  # a rank: the terminal's and the launcher's copy of one Ctrl-C
        signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGINT)
        assert flag.stop


def _main_running(monkeypatch, function, command: str = "parts") -> None:
    """The command line, with ``stylize COMMAND`` running ``function`` (a command a signal stops)."""
    from stylize import cli

    real = cli.build_parser

    def build():
        parser = real()
        sub = next(action for action in parser._actions if getattr(action, "choices", None))
        sub.choices[command].set_defaults(func=function)
        return parser

    monkeypatch.setattr(cli, "build_parser", build)


@pytest.mark.parametrize(
    ("signum", "status", "said"),
    [(signal.SIGINT, 130, "interrupted;"), (signal.SIGTERM, 143, "interrupted by SIGTERM;")],
    ids=["SIGINT", "SIGTERM"],
)
def test_the_command_line_says_one_line_and_exits_128_plus_the_signal(
    monkeypatch, capsys, sigint_ignored, signum, status, said
):
    from stylize.cli import main

    _main_running(monkeypatch, lambda args: signal.raise_signal(signum))
    assert main(["parts"]) == status
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"stylize: {said} finished work is kept" in err, err
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # main() put back what it found


def test_an_interrupted_training_exits_with_the_signal_and_its_one_line(monkeypatch, capsys):
    from stylize.cli import main
    from stylize.errors import Interrupted

    def stopped(args):
        signals.note(signal.SIGTERM)  # as the training loop's handler does
        raise Interrupted("training of k interrupted at step 3; rerun with resume=True to continue", params=("resume",))

    _main_running(monkeypatch, stopped, "train")
    assert main(["train", "--name", "k", "--refs", "r.png"]) == 143
    assert capsys.readouterr().err == "stylize: training of k interrupted at step 3; rerun with --resume to continue\n"

"""``vsr.interrupts``: one way for SIGINT, SIGTERM and SIGHUP to end vsr, whatever the process is doing.

In-process tests send a real signal to this process (the handler runs in the main thread, as in vsr);
the whole-process ones start ``python -c`` with ``run_process``. Each names the bug it would catch.
"""
import os
from pathlib import Path
import signal
import subprocess
import sys
import threading

import pytest

from vsr import interrupts
from vsr.video.decode import open_video, _Stdin

SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]
ROOT = Path(__file__).resolve().parents[1]


def _running():
    """``handled`` in its running phase, as a command sees it."""
    ctx = interrupts.handled()
    ctx.__enter__()
    interrupts.started()
    return ctx


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_a_signal_while_running_raises_keyboard_interrupt(sig):
    """Catches: SIGTERM or SIGHUP left to their default (the process dies without a partial file)."""
    ctx = _running()
    try:
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), sig)
            for _ in range(10**6):  # the handler runs at the next bytecode
                pass
    finally:
        ctx.__exit__(None, None, None)
    assert signal.getsignal(sig) is not interrupts._handle  # put back


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_deferred_holds_the_signal_to_the_end_of_the_block(sig):
    """Catches: a KeyboardInterrupt raised inside native code that swallows it (PyAV's read callback)."""
    ctx = _running()
    reached = []
    try:
        with pytest.raises(KeyboardInterrupt):
            with interrupts.deferred():
                os.kill(os.getpid(), sig)
                for _ in range(10**5):
                    pass
                reached.append(interrupts.requested())
    finally:
        ctx.__exit__(None, None, None)
    assert reached == [True]


def test_an_error_caused_inside_deferred_becomes_the_interrupt():
    """Catches: stdin cut short by the signal reported as 'cannot read stdin' (exit 1) instead of exit 130."""
    ctx = _running()
    try:
        with pytest.raises(KeyboardInterrupt):
            with interrupts.deferred():
                os.kill(os.getpid(), signal.SIGTERM)
                for _ in range(10**5):
                    pass
                raise ValueError("invalid data found when processing input")
    finally:
        ctx.__exit__(None, None, None)


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_instead_calls_back_without_raising(sig):
    """Catches: live or train cut mid-step by a KeyboardInterrupt instead of stopping at their own pace,
    with and without ``handled`` around (the CLI, a library caller)."""
    for around in (True, False):
        ctx = _running() if around else None
        stopped = threading.Event()
        try:
            with interrupts.instead(stopped.set):
                os.kill(os.getpid(), sig)
                for _ in range(10**5):
                    pass
                assert stopped.is_set()
        finally:
            if ctx is not None:
                ctx.__exit__(None, None, None)


@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")  # PyAV swallowing it shows as one
def test_a_signal_in_pyav_s_stdin_read_is_not_lost(monkeypatch):
    """The race of issue 21: the signal's handler ran inside PyAV's read callback (outside ``_Stdin.read``'s
    own try), PyAV swallowed the KeyboardInterrupt and FFmpeg read stdin again, for ever. Forced here: the
    signal lands in the caller's frame, on the first read of an empty pipe whose writer stays open."""
    read, write = os.pipe()
    original = _Stdin.read

    def read_after_a_signal(self, size=-1):
        if not hits:
            hits.append(1)
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(10**5):  # the handler runs here, in PyAV's callback frame
                pass
        return original(self, size)

    hits = []
    monkeypatch.setattr(_Stdin, "read", read_after_a_signal)
    stdin = open(read, "rb", buffering=0)
    monkeypatch.setattr(sys, "stdin", type("S", (), {"buffer": stdin})())
    closed = []

    def close_writer(by: str):
        if not closed:
            closed.append(by)
            os.close(write)

    closer = threading.Timer(20, close_writer, ("the timer",))  # a regression ends as an error, not a hung suite
    closer.start()
    ctx = _running()
    try:
        with pytest.raises(KeyboardInterrupt):
            open_video("-")
    finally:
        ctx.__exit__(None, None, None)
        closer.cancel()
        close_writer("the test")
        stdin.close()
    assert hits == [1] and closed == ["the test"]  # the signal ended the read, not the end of the input


def _process(body: str) -> subprocess.CompletedProcess:
    code = f"import atexit, os, signal, sys\nfrom vsr import interrupts\n{body}"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))


def test_a_signal_after_the_command_keeps_its_exit_code():
    """Catches: a signal during teardown killing the process (exit -15) or turning success into a failure."""
    run = _process("def main():\n    interrupts.started()\n    interrupts.finished(0)\n"
                   "    os.kill(os.getpid(), signal.SIGTERM)\n    for _ in range(10**6): pass\n    return 0\n"
                   "interrupts.run_process(main)")
    assert run.returncode == 0 and run.stderr == "", run.stderr


def test_an_interrupted_process_leaves_at_once():
    """Catches: interpreter teardown after an interrupt (atexit work waiting on stuck threads, native
    pools destroyed under running threads: exit 134/139), and a finished run that skips its atexit work."""
    body = ("atexit.register(lambda: print('atexit ran', flush=True))\n"
            "interrupts.run_process(lambda: {code})")
    interrupted = _process(body.format(code=130))
    assert interrupted.returncode == 130 and "atexit ran" not in interrupted.stdout
    finished = _process(body.format(code=0))
    assert finished.returncode == 0 and "atexit ran" in finished.stdout


def test_a_signal_while_starting_ends_the_process_with_one_line():
    """Catches: a traceback from a KeyboardInterrupt inside an import (torch, protobuf)."""
    run = _process("def main():\n    os.kill(os.getpid(), signal.SIGHUP)\n    for _ in range(10**6): pass\n"
                   "    return 0\ninterrupts.run_process(main)")
    assert run.returncode == 130 and run.stderr == "vsr: interrupted\n", run.stderr

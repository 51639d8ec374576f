"""How Ctrl-C, SIGTERM and SIGHUP end vsr: at any moment, exit 130 with one line, never a crash.

A signal is taken in four ways, by phase:

- **starting** (imports, argument parsing): nothing is open yet, so the process ends at once.
- **running** (a command): ``KeyboardInterrupt`` in the main thread, which each command turns into its
  own orderly stop (a playable partial file, a checkpoint). Inside ``deferred()`` it waits for the end
  of the block: native code that calls back into Python (PyAV reading stdin) swallows exceptions, so a
  ``KeyboardInterrupt`` raised there would be lost and the read retried for ever. Inside
  ``instead(callback)`` it is a request: a loop that stops by itself (live, train) is told.
- **leaving** (the command has returned): the process leaves with the command's exit code at once.

A process started as ``vsr`` or ``python -m vsr`` (``run_process``) leaves with ``os._exit`` after its
output is flushed: interpreter teardown destroys native thread pools (ONNX Runtime, oneDNN) and
containers while other threads may still run in them, which can abort (C++ ``terminate``, exit 134) or
crash (exit 139) after an interrupt; ``_exit`` runs no destructors, the kernel ends every thread at once.
"""
import atexit
from contextlib import contextmanager
import os
import signal
import sys
import threading
from typing import Callable, Iterator, NoReturn, Optional

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
EXIT_INTERRUPTED = 130

STARTING, RUNNING, LEAVING = "starting", "running", "leaving"


class _State:
    installed = False
    phase = STARTING
    signum: Optional[int] = None  # the first signal of this run
    deferring = 0  # depth of ``deferred`` blocks (main thread only)
    callback: Optional[Callable[[], None]] = None  # set by ``instead``
    code = EXIT_INTERRUPTED  # the exit code while leaving
    owns_process = False  # set by ``run_process``: a signal after the command may end the process


_state = _State()


def requested() -> bool:
    """Whether a signal has arrived since ``handled`` began."""
    return _state.signum is not None


def _handle(signum: int, frame: object) -> None:
    first = _state.signum is None
    if first:
        _state.signum = signum
    if _state.phase == STARTING:
        _leave_now(EXIT_INTERRUPTED, "vsr: interrupted\n")
    if _state.phase == LEAVING:
        _leave_now(_state.code)
    if _state.callback is not None:
        _state.callback()
    elif _state.deferring == 0:
        raise KeyboardInterrupt
    # deferred: the block raises when it ends


@contextmanager
def handled() -> Iterator[None]:
    """Take SIGINT, SIGTERM and SIGHUP in the main thread for the block (starting phase first; see
    ``started``). Nested or off the main thread it does nothing. The previous handlers come back after."""
    if _state.installed or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _handle) for sig in SIGNALS}
    _state.installed, _state.phase, _state.signum = True, STARTING, None
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _state.installed, _state.phase = False, STARTING


def started() -> None:
    """Leave the starting phase: from now on a signal interrupts the command instead of ending the process."""
    _state.phase = RUNNING


@contextmanager
def deferred() -> Iterator[None]:
    """Within the block a signal does not raise (poll ``requested``); it raises ``KeyboardInterrupt``
    when the block ends. For native code that calls Python back and would swallow the exception."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _state.deferring += 1
    try:
        yield
    except Exception:  # an error the interrupt caused (a read cut short): the interrupt is the news
        _state.deferring -= 1
        if _pending():
            raise KeyboardInterrupt from None
        raise
    except BaseException:
        _state.deferring -= 1
        raise
    _state.deferring -= 1
    if _pending():
        raise KeyboardInterrupt


def _pending() -> bool:
    """A signal was deferred and no outer ``deferred`` or ``instead`` block takes it."""
    return requested() and _state.installed and _state.deferring == 0 and _state.callback is None


@contextmanager
def instead(callback: Callable[[], None]) -> Iterator[None]:
    """Within the block a signal calls ``callback`` (from the main thread) instead of raising: for a loop
    that stops itself cleanly. Outside a ``handled`` block (a library caller) the three signals are taken
    for the block only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = _state.callback
    _state.callback = callback
    previous = None if _state.installed else {sig: signal.signal(sig, _handle) for sig in SIGNALS}
    phase = _state.phase
    if previous is not None:
        _state.phase, _state.signum = RUNNING, None
    try:
        yield
    finally:
        _state.callback = saved
        if previous is not None:
            _state.phase = phase
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def finished(code: int) -> int:
    """The command is over with exit ``code``: under ``run_process`` a later signal leaves with it at once."""
    if _state.owns_process:
        _state.code, _state.phase = code, LEAVING
    return code


def run_process(main: Callable[[], int]) -> NoReturn:
    """``main()`` as the whole process: signals handled from the first moment, and the process left
    with ``os._exit`` once its output is flushed (after the ``atexit`` work unless it was interrupted)."""
    _state.owns_process = True
    with handled():
        try:
            code = main()
        except KeyboardInterrupt:  # one that came while the command was printing its last line
            _leave_now(EXIT_INTERRUPTED, "vsr: interrupted\n")
        except SystemExit as exc:  # argparse: --help, --version, a usage error
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
            if exc.code is not None and not isinstance(exc.code, int):
                print(exc.code, file=sys.stderr)
        finished(code)
        if not requested() and code != EXIT_INTERRUPTED:
            atexit._run_exitfuncs()  # e.g. logging's flush; skipped after an interrupt (they may wait on stuck threads)
        _leave_now(code)


def _leave_now(code: int, message: str = "") -> NoReturn:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more can reach it
            pass
    if message:
        try:
            os.write(2, message.encode())
        except OSError:
            pass
    os._exit(code)

"""Start-up: while a command is still importing (torch takes seconds), a signal ends the process at once.

Nothing has been opened or written yet, so exit 130 is all there is to do; a KeyboardInterrupt raised
inside an extension module's import could instead be lost or abort the interpreter (seen with protobuf).
"""
from contextlib import contextmanager
import os
import signal
import sys
import threading
from typing import Iterator


@contextmanager
def signals_end_the_process() -> Iterator[None]:
    """Within the block, Ctrl-C or SIGTERM print one line and exit 130 (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _exit_interrupted) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _exit_interrupted(signum: int, frame: object) -> None:
    sys.stderr.write("vsr: interrupted\n")
    sys.stderr.flush()
    os._exit(130)

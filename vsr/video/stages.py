"""Threads joined by bounded queues, with one stop signal for all of them.

Memory stays bounded because each queue holds at most a few items; a stage that fails records its
error and sets ``stop``, and every other stage notices within ``POLL`` seconds, whether it is waiting
to put or to get. Each stage counts its busy time (work, not waiting) so the pipeline can report how
fast each stage would run alone.
"""
import logging
import queue
import threading
import time
from typing import Any, Callable, Optional

log = logging.getLogger(__name__)

POLL = 0.05  # seconds between checks of the stop signal while blocked on a queue
END = object()  # the last item a stage sends


class Stopped(Exception):
    """Raised inside a stage when another stage failed or the run was cancelled."""


class Control:
    """What the stages share: the stop signal, the first error, and whether the user cancelled."""

    def __init__(self):
        self.stop = threading.Event()
        self.cancelled = threading.Event()
        self.error: Optional[BaseException] = None
        self.cancelled_at = 0.0  # time.monotonic() of the cancel
        self._lock = threading.Lock()

    def fail(self, exc: BaseException) -> None:
        with self._lock:
            if self.error is None:
                self.error = exc
        self.stop.set()

    def cancel(self) -> None:
        self.cancelled_at = time.monotonic()
        self.cancelled.set()
        self.stop.set()


class Channel:
    """A bounded queue whose ``put`` and ``get`` give up with ``Stopped`` once ``control.stop`` is set."""

    def __init__(self, control: Control, size: int):
        self.control = control
        self._q: "queue.Queue[Any]" = queue.Queue(maxsize=size)

    def put(self, item: Any) -> None:
        while not self.control.stop.is_set():
            try:
                self._q.put(item, timeout=POLL)
                return
            except queue.Full:
                continue
        raise Stopped

    def get(self) -> Any:
        while not self.control.stop.is_set():
            try:
                return self._q.get(timeout=POLL)
            except queue.Empty:
                continue
        raise Stopped

    def leftover(self) -> Any:
        """The next item still queued after a stop, without waiting; ``END`` when none is left."""
        try:
            return self._q.get_nowait()
        except queue.Empty:
            return END


class Stage(threading.Thread):
    """Runs ``work(stage)`` in a thread; ``stage.busy()`` wraps the parts that count as work."""

    def __init__(self, name: str, control: Control, work: Callable[["Stage"], None]):
        super().__init__(name=f"vsr-{name}", daemon=True)
        self.label = name
        self.control = control
        self.work = work
        self.busy_seconds = 0.0
        # Set when ``run`` returns. ``is_alive`` is not trusted: a Ctrl-C that interrupts ``join``
        # can leave a running thread marked as finished (a CPython race).
        self.finished = threading.Event()

    def run(self) -> None:
        try:
            self.work(self)
        except Stopped:
            log.debug("%s stage stopped", self.label)
        except BaseException as exc:  # noqa: BLE001 - any failure must reach the main thread
            self.control.fail(exc)
        finally:
            self.finished.set()

    def wait(self, timeout: float) -> bool:
        """Whether the stage has finished, waiting up to ``timeout`` seconds (Ctrl-C still reaches the caller)."""
        return self.finished.wait(timeout)

    def busy(self) -> "_Timer":
        return _Timer(self)


class _Timer:
    def __init__(self, stage: Stage):
        self.stage = stage

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *exc) -> None:
        self.stage.busy_seconds += time.perf_counter() - self.start

"""Keeping up with a live input: the frame queue that drops or falls back, latency, and reconnection.

A live source runs on its sender's clock. If super-resolution is slower, a queue that blocks the
decoder would make the output fall further behind every second (and, for UDP, make the kernel drop
datagrams, which corrupts frames instead of skipping them). ``RealtimeQueue`` never blocks the decoder:
when more than ``keep`` frames wait, the oldest is dropped (``drop``) or marked to be upscaled
bicubically (``bicubic``), which costs a fraction of ESPCN. Packets of copied streams (audio) are never
dropped, and everything leaves in the order it came, so timestamps stay monotonic.
"""
from collections import deque
from fractions import Fraction
import logging
import threading
import time
from typing import Any, Callable, Deque, Dict, Iterator, List, Optional, Union

import av

from ..errors import VsrError
from .decode import VideoSource
from .frame import Frame
from .network import STALL_SECONDS, Realtime
from .sr import Fallback
from .stages import POLL, Control, Stopped

log = logging.getLogger(__name__)

MAX_FALLBACK = 64  # bicubic frames allowed to wait; past this even bicubic is behind, so they drop too
BACKOFF_START, BACKOFF_MAX = 0.5, 4.0  # seconds between reconnection attempts, doubling


class RealtimeQueue:
    """The decoder-to-SR queue for live inputs; ``put`` never blocks, and both give up with ``Stopped``
    once the run stops (the decoder of a live source has no other reason to end)."""

    def __init__(self, control: Control, policy: Realtime, keep: int = 1,
                 on_drop: Optional[Callable[[Frame], None]] = None):
        self.control = control
        self.policy = policy
        self.keep = keep
        self.on_drop = on_drop
        self.dropped = 0
        self.fallback = 0
        self._items: Deque[Any] = deque()
        self._cond = threading.Condition()

    def put(self, item: Any) -> None:
        if self.control.stop.is_set():
            raise Stopped
        with self._cond:
            self._items.append(item)
            if isinstance(item, Frame):
                self._shed()
            self._cond.notify()

    def _shed(self) -> None:
        """Past ``keep`` waiting frames, the oldest gives way (dropped, or sent on as bicubic)."""
        waiting = [i for i, x in enumerate(self._items) if isinstance(x, Frame)]
        for i in waiting[:max(0, len(waiting) - self.keep)]:
            frame = self._items[i]
            if self.policy is Realtime.BICUBIC:
                self._items[i] = Fallback(frame)
                self.fallback += 1
            else:
                self._items[i] = None  # removed below, keeping the others' order
                self._drop(frame)
        if self.policy is Realtime.BICUBIC:
            late = [i for i, x in enumerate(self._items) if isinstance(x, Fallback)]
            for i in late[:max(0, len(late) - MAX_FALLBACK)]:
                self._drop(self._items[i].frame)
                self.fallback -= 1
                self._items[i] = None
        if None in self._items:
            self._items = deque(x for x in self._items if x is not None)

    def _drop(self, frame: Frame) -> None:
        self.dropped += 1
        if self.on_drop is not None:
            self.on_drop(frame)

    def get(self) -> Any:
        with self._cond:
            while not self._items:
                if self.control.stop.is_set():
                    raise Stopped
                self._cond.wait(POLL)
            return self._items.popleft()


class LatencyMeter:
    """Seconds from a frame's arrival (decoded) to its hand-over to the muxer, keyed by its pts."""

    def __init__(self):
        self._arrived: Dict[int, float] = {}
        self._lock = threading.Lock()
        self.samples: List[float] = []

    def arrived(self, frame: Frame) -> None:
        with self._lock:
            self._arrived[frame.pts] = time.monotonic()

    def forget(self, frame: Frame) -> None:
        with self._lock:
            self._arrived.pop(frame.pts, None)

    def sent(self, frame: Frame) -> None:
        with self._lock:
            start = self._arrived.pop(frame.pts, None)
            if start is not None:
                self.samples.append(time.monotonic() - start)

    def recent_ms(self, n: int = 30) -> float:
        recent = self.samples[-n:]
        return 1000 * sum(recent) / len(recent) if recent else 0.0

    def percentile_ms(self, q: float) -> float:
        if not self.samples:
            return 0.0
        ordered = sorted(self.samples)
        return 1000 * ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


class SourceLost(VsrError):
    """A live source stalled or disconnected and was not (or could no longer be) reconnected."""


class LiveInput:
    """A live source that may be reopened: the same ``items``/``info`` as ``VideoSource``.

    Without ``reconnect`` the end of a live input is an error: live protocols (MPEG-TS over UDP or
    TCP, RTMP) carry no end-of-stream mark, so a sender that crashed and one that finished look the
    same. With ``reconnect`` (seconds to keep trying), the source is reopened with backoff and its
    timestamps are moved to continue where the output stopped, plus the time it was away, so the output
    stays monotonic and true to the clock.
    """

    def __init__(self, video: VideoSource, reopen: Callable[[], VideoSource], reconnect: Optional[float]):
        self.video = video
        self.info = video.info
        self.name = video.name
        self.container = video.container
        self.other_streams = video.other_streams
        self.reconnect = reconnect
        self.reconnects = 0
        self._reopen = reopen
        self._cancelled = threading.Event()
        self._damaged_before = 0

    @property
    def damaged(self) -> int:
        """Damaged packets, not counting the read error that ended each connection."""
        return self._damaged_before + self.video.damaged - (self.video.read_error is not None)

    def items(self, limit: Optional[int] = None) -> Iterator[Union[Frame, av.Packet]]:
        frames = 0
        shift = Fraction(0)  # seconds added to this connection's timestamps
        last_time: Optional[Fraction] = None  # output time of the last frame
        last_wall = time.monotonic()
        step = 1 / Fraction(self.info.frame_rate or 25)
        while True:
            remaining = None if limit is None else limit - frames
            for item in self.video.items(remaining):
                if isinstance(item, Frame):
                    if shift:
                        item.pts += round(shift / item.time_base)
                    last_time, last_wall = item.pts * item.time_base, time.monotonic()
                    frames += 1
                elif shift and item.time_base is not None:
                    ticks = round(shift / item.time_base)
                    item.pts = None if item.pts is None else item.pts + ticks
                    item.dts = None if item.dts is None else item.dts + ticks
                yield item
            if limit is not None and frames >= limit or self._cancelled.is_set():
                return
            reason = _why(self.video.read_error)
            if not self.reconnect:
                raise SourceLost(f"{self.name}: {reason} after {frames} frames (--reconnect waits for it)")
            log.warning("%s: %s; reconnecting", self.name, reason)
            self._switch(self._connect_again(reason))
            first = self.video.first_frame
            if first is not None and last_time is not None:
                gap = Fraction(time.monotonic() - last_wall).limit_denominator(1000)
                resume = last_time + max(step, gap)
                shift = resume - first.pts * first.time_base
            self.reconnects += 1

    def _switch(self, video: VideoSource) -> None:
        old = self.video
        self._damaged_before += old.damaged - (old.read_error is not None)
        old.close()
        if (video.info.width, video.info.height) != (self.info.width, self.info.height):
            video.close()
            raise VsrError(f"{self.name}: the frame size changed from {self.info.width}x{self.info.height} to "
                           f"{video.info.width}x{video.info.height} on reconnecting, which is not supported")
        self.video = video

    def _connect_again(self, reason: str) -> VideoSource:
        deadline = time.monotonic() + self.reconnect
        wait = BACKOFF_START
        while not self._cancelled.is_set():
            try:
                video = self._reopen()
                log.info("%s: reconnected", self.name)
                return video
            except VsrError as exc:
                log.debug("%s: reconnecting failed: %s", self.name, exc)
                reason = str(exc)
            if time.monotonic() + wait > deadline:
                break
            if self._cancelled.wait(wait):
                break
            wait = min(BACKOFF_MAX, wait * 2)
        if self._cancelled.is_set():
            raise Stopped
        raise SourceLost(f"{self.name}: gave up reconnecting after {self.reconnect:g} s ({reason})")

    def cancel(self) -> None:
        self._cancelled.set()
        self.video.cancel()

    def close(self) -> None:
        self.video.close()


def _why(read_error: Optional[str]) -> str:
    """Why a connection ended, in words: PyAV's read timeout reports itself as an "immediate exit"."""
    if read_error is None:
        return "the stream ended"
    if "exit requested" in read_error:
        return f"no data for {STALL_SECONDS:g} s"
    return read_error

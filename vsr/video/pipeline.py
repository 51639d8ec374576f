"""``upscale_video``: decode -> super-resolve -> encode, three threads joined by bounded queues.

The decoder thread yields frames and the packets of streams that are copied; the SR thread batches
frames through the ``Upscaler`` (on a GPU several batches in flight: ``transfer.overlapped``) and
passes packets along in order; the encoder thread encodes and muxes. The calling thread only waits,
so Ctrl-C (KeyboardInterrupt) reaches it at once: it cancels the other stages, the encoder flushes
and finalizes what it has, and the file is kept as a partial output.
"""
from dataclasses import dataclass, field
import logging
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Union

from ..errors import VsrError
from ..upscaler import Upscaler
from .decode import Frame, Window, open_video
from .encode import FLUSH_GRACE, EncodeOptions, VideoSink
from .sr import SuperResolver
from .stages import END, Channel, Control, Stage, Stopped
from .target import OutputTarget
from .transfer import overlapped

log = logging.getLogger(__name__)

QUEUE_FRAMES = 8  # frames (or packets) waiting between two stages
Progress = Callable[[int, Optional[int]], None]
JOIN_POLL = 0.1


@dataclass
class Summary:
    """What a run did: frames written, wall seconds, each stage's busy seconds, damaged input skipped."""

    frames: int
    seconds: float
    output: str
    busy: Dict[str, float] = field(default_factory=dict)
    interrupted: bool = False
    damaged: int = 0  # packets skipped or frames concealed because the input was damaged

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def stage_fps(self, stage: str) -> float:
        """Frames per busy second of one stage: roughly how fast it would run alone."""
        busy = self.busy.get(stage, 0.0)
        return self.frames / busy if busy > 0 else 0.0


class Interrupted(VsrError):
    """The run was cancelled (Ctrl-C, SIGTERM); ``summary.output`` names the finalized partial file.

    ``encoded`` frames had reached the encoder (what a progress bar showed); ``summary.frames`` of them
    are in the file, the rest were inside the encoder when its exit deadline passed.
    """

    def __init__(self, summary: Summary, encoded: int):
        if not summary.frames:
            kept = "no output kept"
        elif encoded > summary.frames:
            kept = (f"partial output: {summary.output} ({summary.frames} of them; the encoder's last "
                    f"{encoded - summary.frames} were dropped to exit at once)")
        else:
            kept = f"partial output: {summary.output}"
        super().__init__(f"interrupted after {encoded} frames; {kept}", exit_code=130)
        self.summary = summary


def default_batch(upscaler: Upscaler) -> int:
    """Several frames per call keep a GPU busy; on a CPU one frame at a time keeps latency low."""
    return 8 if upscaler.device.type == "cuda" else 1


def upscale_video(
    source: Union[str, Path],
    output: Union[str, Path],
    upscaler: Upscaler,
    options: Optional[EncodeOptions] = None,
    *,
    batch: Optional[int] = None,
    max_frames: Optional[int] = None,
    overwrite: bool = False,
    container_format: Optional[str] = None,
    progress: Optional[Progress] = None,
    strict: bool = False,
    window: Optional[Window] = None,
    hwaccel: Optional[str] = None,
) -> Summary:
    """Upscale the video at ``source`` ("-": stdin) into ``output`` ("-": stdout, y4m by default).

    ``progress(done, total)`` is called from the encoder thread after each frame written (``total``
    is None when the input does not say how many frames it has). ``window`` upscales one segment of
    the input (``vsr.cluster`` cuts videos at keyframes with it). Damaged packets are skipped and
    counted in ``Summary.damaged``, or with ``strict`` fail the run. ``hwaccel="cuda"`` decodes with NVDEC
    where it can (``vsr.video.hardware``). Raises
    ``Interrupted`` (exit code 130) after a KeyboardInterrupt, ``VsrError`` for anything else.
    """
    options = options or EncodeOptions()
    batch = batch or default_batch(upscaler)
    if batch < 1:
        raise VsrError(f"batch must be at least 1, not {batch}", exit_code=2)
    if max_frames is not None and max_frames < 1:
        raise VsrError(f"frames must be at least 1, not {max_frames}", exit_code=2)
    target = OutputTarget(output, overwrite, source)
    if target.stdout and container_format is None:
        container_format = "yuv4mpegpipe"
    started = time.perf_counter()
    with open_video(source, strict, window, hwaccel=hwaccel) as video:
        info = video.info
        r = upscaler.scale
        total = min(filter(None, (info.frames, max_frames)), default=None)
        try:
            sink = VideoSink(target.writable, container_format, info, r * info.width, r * info.height, options,
                             video.container, video.other_streams, name=target.name)
        except BaseException:
            target.discard()
            raise
        sr = SuperResolver(upscaler, info.layout, sink.layout, info.width, info.height)
        log.info("%s: %dx%d %s -> %s: %dx%d %s (%s)", video.name, info.width, info.height, info.pix_fmt,
                 target.name, sink.width, sink.height, sink.pix_fmt, sink.codec)
        control = Control()
        decoded, upscaled = Channel(control, QUEUE_FRAMES), Channel(control, QUEUE_FRAMES)

        def decode(stage: Stage) -> None:
            items = video.items(max_frames)
            while True:
                with stage.busy():
                    item = next(items, END)
                decoded.put(item)
                if item is END:
                    return

        def superresolve(stage: Stage) -> None:
            for item in overlapped(iter(decoded.get, END), batch, sr, stage.busy):
                upscaled.put(item)
            upscaled.put(END)

        def encode(stage: Stage) -> None:
            item = None
            try:
                while item is not END:
                    try:
                        item = upscaled.get()
                    except Stopped:
                        if control.cancelled.is_set() and control.error is None:
                            _write_leftovers(stage, upscaled, control, sink, progress, total)
                            break  # finalize what was written so far
                        raise
                    if item is not END:
                        _write(stage, item, sink, progress, total)
            finally:
                with stage.busy():
                    sink.close(control.cancelled)

        stages = [Stage("decode", control, decode), Stage("sr", control, superresolve), Stage("encode", control, encode)]
        try:
            for s in stages:
                s.start()
            _wait(stages)
        except KeyboardInterrupt:
            control.cancel()
            video.cancel()  # a decoder waiting on a stalled stdin must not hold up the exit
            log.debug("cancelling: flushing the encoder")
            try:
                _wait(stages)
            except KeyboardInterrupt:
                target.discard()
                raise
        seconds = time.perf_counter() - started
        busy = {s.label: s.busy_seconds for s in stages}
        damaged = video.damaged
    if control.error is not None:
        target.discard()
        if isinstance(control.error, VsrError):
            raise control.error
        if isinstance(control.error, MemoryError):
            raise VsrError("out of memory (try --tile or a smaller --batch)")
        raise VsrError(f"{type(control.error).__name__}: {control.error}") from control.error
    if control.cancelled.is_set():
        if sink.muxed:
            output = target.keep_partial()
        else:  # a file without a frame does not play: keep nothing
            target.discard()
            output = ""
        summary = Summary(sink.muxed, seconds, output, busy, interrupted=True, damaged=damaged)
        raise Interrupted(summary, sink.frames)
    return Summary(sink.frames, seconds, target.commit(), busy, damaged=damaged)


def _write(stage: Stage, item: object, sink: VideoSink, progress: Optional[Progress], total: Optional[int]) -> None:
    with stage.busy():
        if isinstance(item, Frame):
            sink.write(item)
        else:
            sink.write_packet(item)
    if progress is not None and isinstance(item, Frame):
        progress(sink.frames, total)


def _write_leftovers(stage: Stage, channel: Channel, control: Control, sink: VideoSink,
                     progress: Optional[Progress], total: Optional[int]) -> None:
    """After a cancel, frames already upscaled still go into the file while the exit deadline allows."""
    deadline = control.cancelled_at + FLUSH_GRACE
    item = channel.leftover()
    while item is not END and time.monotonic() < deadline:
        _write(stage, item, sink, progress, total)
        item = channel.leftover()


def _wait(stages: List[Stage]) -> None:
    """Wait for the stage threads in short steps, so that the main thread still receives Ctrl-C."""
    for s in stages:
        while not s.wait(JOIN_POLL):
            pass

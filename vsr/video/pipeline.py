"""``upscale_video``: decode -> super-resolve -> encode, three threads joined by bounded queues.

The decoder thread yields frames and the packets of streams that are copied; the SR thread batches
frames through the ``Upscaler`` (on a GPU several batches in flight: ``transfer.overlapped``) and
passes packets along in order; the encoder thread encodes and muxes. The calling thread only waits,
so Ctrl-C (KeyboardInterrupt) reaches it at once: it cancels the other stages, the encoder flushes
and finalizes what it has, and the file is kept as a partial output.

A live source (a network stream) differs in three ways, all decided in ``network`` and ``realtime``:
the decoder never waits for SR (``RealtimeQueue`` drops or falls back to bicubic instead), the source
may be reconnected (``LiveInput``), and a decoder stuck in a network read is not waited for after an
interrupt, so Ctrl-C ends the run at once.
"""
from dataclasses import dataclass, field
import logging
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Union

from ..errors import VsrError
from ..meter import RateMeter
from ..upscaler import Upscaler
from .decode import Frame, Window, open_video
from .encode import FLUSH_GRACE, EncodeOptions, VideoSink
from .network import (NetworkTarget, Realtime, input_options as scheme_options, interruptible, is_live, is_url,
                      plan_output, stall_timeout)
from .realtime import BicubicUpscaler, Fallback, LatencyMeter, LiveInput, RealtimeQueue, SourceLost
from .sr import SuperResolver
from .stages import END, Channel, Control, Stage, Stopped
from .target import OutputTarget
from .transfer import overlapped

log = logging.getLogger(__name__)

QUEUE_FRAMES = 8  # frames (or packets) waiting between two stages
Progress = Callable[[int, Optional[int]], None]
JOIN_POLL = 0.1
LIVE_CANCEL_WAIT = 1.0  # seconds to let the stages of a live run finish after an interrupt


@dataclass
class Status:
    """How a live run is going, for a progress line: frames out, fps, latency now, frames shed."""

    frames: int
    fps: float
    latency_ms: float
    dropped: int
    fallback: int


@dataclass
class Summary:
    """What a run did: frames written, wall seconds, each stage's busy seconds, damaged input skipped."""

    frames: int
    seconds: float
    output: str
    busy: Dict[str, float] = field(default_factory=dict)
    interrupted: bool = False
    damaged: int = 0  # packets skipped or frames concealed because the input was damaged
    live: bool = False  # a live source: no frame total; dropped, fallback and latency matter
    dropped: int = 0  # frames skipped to keep up with a live source
    fallback: int = 0  # frames sent upscaled bicubically to keep up
    latency_ms: float = 0.0  # median milliseconds from a frame's arrival (decoded) to its hand-over to the muxer
    latency_p95_ms: float = 0.0
    reconnects: int = 0

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
    input_options: Optional[Dict[str, str]] = None,
    output_options: Optional[Dict[str, str]] = None,
    realtime: Optional[Realtime] = None,
    reconnect: Optional[float] = None,
    status: Optional[Callable[[Status], None]] = None,
    upscaler_for_frames: Any = None,
) -> Summary:
    """Upscale the video at ``source`` ("-": stdin) into ``output`` ("-": stdout, y4m by default).

    ``progress(done, total)`` is called from the encoder thread after each frame written (``total``
    is None when the input does not say how many frames it has). ``window`` upscales one segment of
    the input (``vsr.cluster`` cuts videos at keyframes with it). Damaged packets are skipped and
    counted in ``Summary.damaged``, or with ``strict`` fail the run. ``hwaccel="cuda"`` decodes with NVDEC
    where it can (``vsr.video.hardware``). Raises
    ``Interrupted`` (exit code 130) after a KeyboardInterrupt, ``VsrError`` for anything else.

    ``source`` and ``output`` may be URLs (``network``); ``input_options`` go to FFmpeg's demuxer,
    ``output_options`` to its muxer (over vsr's defaults for the output).
    ``realtime`` (default: drop for a live source, off otherwise) says what to do when SR falls behind;
    ``reconnect`` is how many seconds to keep reopening a lost live source (None: the loss ends the run
    with ``SourceLost``). ``status`` is called after each frame written of a live run.
    ``upscaler_for_frames`` replaces the network for every frame (the benchmark's bicubic baseline).
    """
    options = options or EncodeOptions()
    policy = Realtime(realtime) if realtime is not None else (Realtime.DROP if is_live(source) else Realtime.OFF)
    live = is_live(source) or policy is not Realtime.OFF  # kept to a clock: counted as a live run
    # A batch waits for its last frame: on a live stream that is latency, so one frame at a time.
    batch = batch or (1 if live else upscaler.default_batch)
    if batch < 1:
        raise VsrError(f"batch must be at least 1, not {batch}", exit_code=2)
    if max_frames is not None and max_frames < 1:
        raise VsrError(f"frames must be at least 1, not {max_frames}", exit_code=2)
    out_plan = plan_output(output, container_format)
    target = (NetworkTarget(output, out_plan, overwrite) if out_plan.network or out_plan.hls
              else OutputTarget(output, overwrite, source))
    container_format = out_plan.format
    if target.stdout and container_format is None:
        container_format = "yuv4mpegpipe"
    started = time.perf_counter()
    video = _open_source(source, strict, input_options, reconnect, window, hwaccel)
    decoder_done = True  # False when a stage is left blocked in a network read or write
    try:
        info = video.info
        r = upscaler.scale
        total = None if live else min(filter(None, (info.frames, max_frames)), default=None)
        try:
            sink = interruptible(lambda: VideoSink(
                target.writable, container_format, info, r * info.width, r * info.height, options,
                video.container, video.other_streams, name=target.name,
                muxer_options={**out_plan.options, **(output_options or {})},
                low_latency=live or out_plan.network or out_plan.hls), "output")
        except BaseException:
            target.discard()
            raise
        sr = SuperResolver(upscaler_for_frames or upscaler, info.layout, sink.layout, info.width, info.height)
        bicubic = SuperResolver(BicubicUpscaler(upscaler), info.layout, sink.layout, info.width, info.height)
        latency = LatencyMeter()
        log.info("%s: %dx%d %s -> %s: %dx%d %s (%s)", video.name, info.width, info.height, info.pix_fmt,
                 target.name, sink.width, sink.height, sink.pix_fmt, sink.codec)
        control = Control()
        upscaled = Channel(control, QUEUE_FRAMES)
        decoded = (Channel(control, QUEUE_FRAMES) if policy is Realtime.OFF
                   else RealtimeQueue(control, policy, keep=batch, on_drop=latency.forget))

        lost: List[SourceLost] = []  # a live source that ended: what was received is still written

        def decode(stage: Stage) -> None:
            items = video.items(max_frames)
            while True:
                try:
                    with stage.busy():
                        item = next(items, END)
                except SourceLost as exc:
                    lost.append(exc)
                    item = END
                if isinstance(item, Frame):
                    latency.arrived(item)
                decoded.put(item)
                if item is END:
                    return

        def superresolve(stage: Stage) -> None:
            for item in overlapped(iter(decoded.get, END), batch, sr, stage.busy, barrier=Fallback):
                if isinstance(item, Fallback):  # no time for SR: this frame goes out bicubic, in its place
                    with stage.busy():
                        (item,) = bicubic([item.frame])
                upscaled.put(item)
            upscaled.put(END)

        def write(stage: Stage, item: object) -> None:
            with stage.busy():
                if isinstance(item, Frame):
                    sink.write(item)
                    latency.sent(item)
                else:
                    sink.write_packet(item)
            if not isinstance(item, Frame):
                return
            if progress is not None:
                progress(sink.frames, total)
            if status is not None:
                now = time.perf_counter()
                rate.tick(now)
                status(Status(sink.frames, rate.rate(now), latency.recent_ms(),
                              getattr(decoded, "dropped", 0), getattr(decoded, "fallback", 0)))

        def encode(stage: Stage) -> None:
            item = None
            failed = True
            try:
                while item is not END:
                    try:
                        item = upscaled.get()
                    except Stopped:
                        if control.cancelled.is_set() and control.error is None:
                            _write_leftovers(stage, upscaled, control, write)
                            break  # finalize what was written so far
                        raise
                    if item is not END:
                        write(stage, item)
                failed = False
            finally:
                with stage.busy():
                    try:
                        sink.close(control.cancelled)
                    except VsrError as exc:
                        if not failed:
                            raise
                        # A receiver that went away fails the trailer too; the first error is the one to tell.
                        log.debug("%s", exc)

        rate = RateMeter()
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
                if is_url(source) or out_plan.network:
                    # The decoder may be inside a network read, the encoder inside a write to a receiver
                    # that stopped reading, which only a timeout ends: give them a moment to finish the
                    # output, then leave them (daemon threads) to the end of the process.
                    deadline = time.monotonic() + LIVE_CANCEL_WAIT
                    for s in stages[::-1]:
                        s.wait(max(0.0, deadline - time.monotonic()))
                    decoder_done = all(s.finished.is_set() for s in stages)
                    if not decoder_done:
                        log.warning("a network read or write did not end; leaving it to exit")
                else:
                    _wait(stages)
            except KeyboardInterrupt:
                target.discard()
                raise
        seconds = time.perf_counter() - started
        busy = {s.label: s.busy_seconds for s in stages}
        damaged = video.damaged
    finally:
        if decoder_done:
            video.close()
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
        summary = Summary(sink.muxed, seconds, output, busy, interrupted=True, damaged=damaged,
                          **_live_figures(live, decoded, latency, video))
        raise Interrupted(summary, sink.frames)
    summary = Summary(sink.frames, seconds, target.commit() if sink.muxed or not lost else "", busy,
                      damaged=damaged, **_live_figures(live, decoded, latency, video))
    if lost:
        # Every frame received is written and the output finalized, whole up to where the source ended.
        if not sink.muxed:
            target.discard()
        error = SourceLost(f"{lost[0]}; " + (f"output kept: {summary.output}" if sink.muxed else "no output kept"))
        error.summary = summary
        raise error
    return summary


def _open_source(source: Union[str, Path], strict: bool, user_options: Optional[Dict[str, str]],
                 reconnect: Optional[float], window: Optional[Window], hwaccel: Optional[str]):
    """A file or stdin as before; a URL with its scheme's options, opened so that Ctrl-C still works,
    and a live URL wrapped so that it can be reconnected."""
    if not is_url(source):
        if user_options:
            log.debug("input options apply to URLs only; reading %s as a file", source)
        return open_video(source, strict, window=window, hwaccel=hwaccel)
    opts = scheme_options(str(source), user_options or {})
    log.debug("opening %s with %s", source, opts)

    def open_it():
        return open_video(source, strict, options=opts, timeout=stall_timeout(str(source)),
                          low_delay=is_live(source), hwaccel=hwaccel)

    video = interruptible(open_it, str(source))
    if not is_live(source):
        return video
    return LiveInput(video, open_it, reconnect)


def _live_figures(live: bool, queue: Any, latency: LatencyMeter, video: Any) -> Dict[str, Any]:
    return dict(live=live, dropped=getattr(queue, "dropped", 0), fallback=getattr(queue, "fallback", 0),
                latency_ms=latency.percentile_ms(50), latency_p95_ms=latency.percentile_ms(95),
                reconnects=getattr(video, "reconnects", 0))



def _write_leftovers(stage: Stage, channel: Channel, control: Control,
                     write: Callable[[Stage, object], None]) -> None:
    """After a cancel, frames already upscaled still go into the file while the exit deadline allows."""
    deadline = control.cancelled_at + FLUSH_GRACE
    item = channel.leftover()
    while item is not END and time.monotonic() < deadline:
        write(stage, item)
        item = channel.leftover()


def _wait(stages: List[Stage]) -> None:
    """Wait for the stage threads in short steps, so that the main thread still receives Ctrl-C."""
    for s in stages:
        while not s.wait(JOIN_POLL):
            pass

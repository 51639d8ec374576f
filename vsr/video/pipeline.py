"""``upscale_video``: decode -> super-resolve -> encode, three threads joined by bounded queues.

The decoder thread yields frames and the packets of streams that are copied; the SR thread batches
frames through the ``Upscaler`` (on a GPU several batches in flight: ``sr.overlapped``) and
passes packets along in order; the encoder thread encodes and muxes. The calling thread only waits,
so Ctrl-C (KeyboardInterrupt) reaches it at once: it cancels the other stages, the encoder flushes
and finalizes what it has, and the file is kept as a partial output.

A live source (a network stream) differs in three ways, all decided in ``network`` and ``realtime``:
the decoder never waits for SR (``RealtimeQueue`` drops or falls back to bicubic instead), the source
may be reconnected (``LiveInput``), and a decoder stuck in a network read is not waited for after an
interrupt, so Ctrl-C ends the run at once.
"""
from dataclasses import dataclass, field, replace
import logging
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from ..errors import OUT_OF_MEMORY, VsrError
from ..meter import RateMeter
from ..upscaler import Upscaler
from .decode import Window, open_video
from .frame import Frame
from .encode import FLUSH_GRACE, EncodeOptions, VideoSink
from .network import (NetworkTarget, Realtime, input_options as scheme_options, interruptible, is_live, is_url,
                      plan_output, stall_timeout)
from .realtime import LatencyMeter, LiveInput, RealtimeQueue, SourceLost
from .sr import SuperResolver, overlapped
from .stages import END, Channel, Control, Stage, Stopped
from .target import OutputTarget

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
    progress: Optional[Progress] = None,
    strict: bool = False,
    window: Optional[Window] = None,
    hwaccel: Optional[str] = None,
    input_options: Optional[Dict[str, str]] = None,
    realtime: Optional[Realtime] = None,
    reconnect: Optional[float] = None,
    status: Optional[Callable[[Status], None]] = None,
    bicubic: bool = False,
) -> Summary:
    """Upscale the video at ``source`` ("-": stdin) into ``output`` ("-": stdout, y4m by default).

    ``options`` say how the output is written (codec, container ``format``, muxer options: see
    ``EncodeOptions``). ``progress(done, total)`` is called from the encoder thread after each frame
    written (``total`` is None when the input does not say how many frames it has). ``window`` upscales
    one segment of the input (``vsr.cluster`` cuts videos at keyframes with it). Damaged packets are
    skipped and counted in ``Summary.damaged``, or with ``strict`` fail the run. ``hwaccel="cuda"``
    decodes with NVDEC where it can (``vsr.video.hardware``). Raises ``Interrupted`` (exit code 130)
    after a KeyboardInterrupt, ``VsrError`` for anything else.

    ``source`` and ``output`` may be URLs (``network``); ``input_options`` go to FFmpeg's demuxer.
    ``realtime`` (default: drop for a live source, off otherwise) says what to do when SR falls behind;
    ``reconnect`` is how many seconds to keep reopening a lost live source (None: the loss ends the run
    with ``SourceLost``). ``status`` is called after each frame written of a live run. ``bicubic``
    upscales every frame bicubically (the benchmarks' baseline).
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
    target, options = _output(output, source, options, overwrite, live)
    started = time.perf_counter()
    video = _open_source(source, strict, input_options, reconnect, window, hwaccel)
    run: Optional[_Run] = None
    try:
        sink = _open_sink(video, target, options, upscaler.scale)
        run = _Run(video, sink, upscaler, batch, policy, bicubic, network=is_url(source) or _sent(target))
        run.go(max_frames, None if live else min(filter(None, (video.info.frames, max_frames)), default=None),
               progress, status)
    except BaseException:  # the sink did not open, or a second Ctrl-C cut the finalizing short
        if run is None or run.stages_ended:
            video.close()
        target.discard()
        raise
    if run.stages_ended:  # a stage left in a network read is left to the end of the process
        video.close()
    return run.finish(target, time.perf_counter() - started, live)


class _Run:
    """One upscale under way: decode, super-resolve and encode threads between an open source and sink,
    joined by bounded queues (a ``RealtimeQueue`` before SR for a live run), then how it ended."""

    def __init__(self, video: Any, sink: VideoSink, upscaler: Upscaler, batch: int, policy: Realtime,
                 bicubic: bool, network: bool):
        info = video.info
        self.video, self.sink, self.batch, self.network = video, sink, batch, network
        self.sr = SuperResolver(upscaler, info.layout, sink.layout, info.width, info.height, bicubic=bicubic)
        self.control = Control()
        self.latency = LatencyMeter()
        self.rate = RateMeter()
        self.upscaled = Channel(self.control, QUEUE_FRAMES)
        self.decoded = (Channel(self.control, QUEUE_FRAMES) if policy is Realtime.OFF
                        else RealtimeQueue(self.control, policy, keep=batch, on_drop=self.latency.forget))
        self.lost: List[SourceLost] = []  # a live source that ended: what was received is still written
        self.stages = [Stage("decode", self.control, self.decode), Stage("sr", self.control, self.superresolve),
                       Stage("encode", self.control, self.encode)]
        self.stages_ended = True  # False when a stage is left blocked in a network read or write

    # ---- decode ------------------------------------------------------------------------------
    def decode(self, stage: Stage) -> None:
        items = self.video.items(self.max_frames)
        while True:
            try:
                with stage.busy():
                    item = next(items, END)
            except SourceLost as exc:
                self.lost.append(exc)
                item = END
            if isinstance(item, Frame):
                self.latency.arrived(item)
            self.decoded.put(item)
            if item is END:
                return

    # ---- super-resolve -----------------------------------------------------------------------
    def superresolve(self, stage: Stage) -> None:
        for item in overlapped(iter(self.decoded.get, END), self.batch, self.sr, stage.busy):
            self.upscaled.put(item)
        self.upscaled.put(END)

    # ---- encode ------------------------------------------------------------------------------
    def encode(self, stage: Stage) -> None:
        item = None
        failed = True
        try:
            while item is not END:
                try:
                    item = self.upscaled.get()
                except Stopped:
                    if self.control.cancelled.is_set() and self.control.error is None:
                        self._write_leftovers(stage)
                        break  # finalize what was written so far
                    raise
                if item is not END:
                    self._write(stage, item)
            failed = False
        finally:
            with stage.busy():
                try:
                    self.sink.close(self.control.cancelled)
                except VsrError as exc:
                    if not failed:
                        raise
                    # A receiver that went away fails the trailer too; the first error is the one to tell.
                    log.debug("%s", exc)

    def _write(self, stage: Stage, item: object) -> None:
        with stage.busy():
            if isinstance(item, Frame):
                self.sink.write(item)
                self.latency.sent(item)
            else:
                self.sink.write_packet(item)
        if not isinstance(item, Frame):
            return
        if self.progress is not None:
            self.progress(self.sink.frames, self.total)
        if self.status is not None:
            now = time.perf_counter()
            self.rate.tick(now)
            self.status(Status(self.sink.frames, self.rate.rate(now), self.latency.recent_ms(),
                               *self._shed()))

    def _write_leftovers(self, stage: Stage) -> None:
        """After a cancel, frames already upscaled still go into the file while the exit deadline allows."""
        deadline = self.control.cancelled_at + FLUSH_GRACE
        item = self.upscaled.leftover()
        while item is not END and time.monotonic() < deadline:
            self._write(stage, item)
            item = self.upscaled.leftover()

    # ---- running -----------------------------------------------------------------------------
    def go(self, max_frames: Optional[int], total: Optional[int], progress: Optional[Progress],
           status: Optional[Callable[[Status], None]]) -> None:
        """Run the stages to their end; after Ctrl-C, cancel them and wait for the output to be finalized."""
        self.max_frames, self.total, self.progress, self.status = max_frames, total, progress, status
        try:
            for s in self.stages:
                s.start()
            _wait(self.stages)
        except KeyboardInterrupt:
            self.control.cancel()
            self.video.cancel()  # a decoder waiting on a stalled stdin must not hold up the exit
            log.debug("cancelling: flushing the encoder")
            if not self.network:
                _wait(self.stages)
                return
            # The decoder may be inside a network read, the encoder inside a write to a receiver that
            # stopped reading, which only a timeout ends: give them a moment to finish the output, then
            # leave them (daemon threads) to the end of the process.
            deadline = time.monotonic() + LIVE_CANCEL_WAIT
            for s in self.stages[::-1]:
                s.wait(max(0.0, deadline - time.monotonic()))
            self.stages_ended = all(s.finished.is_set() for s in self.stages)
            if not self.stages_ended:
                log.warning("a network read or write did not end; leaving it to exit")

    # ---- finish ------------------------------------------------------------------------------
    def finish(self, target: Any, seconds: float, live: bool) -> Summary:
        """Commit the output, or keep it as partial, or discard it, and say how the run went."""
        error = self.control.error
        if error is not None:
            target.discard()
            if isinstance(error, VsrError):
                raise error
            if isinstance(error, MemoryError):
                raise VsrError(OUT_OF_MEMORY)
            raise VsrError(f"{type(error).__name__}: {error}") from error
        muxed = self.sink.muxed
        if self.control.cancelled.is_set():
            output = target.keep_partial() if muxed else ""
            if not muxed:  # a file without a frame does not play: keep nothing
                target.discard()
            raise Interrupted(self._summary(muxed, seconds, output, live, interrupted=True), self.sink.frames)
        summary = self._summary(self.sink.frames, seconds, target.commit() if muxed or not self.lost else "", live)
        if self.lost:
            # Every frame received is written and the output finalized, whole up to where the source ended.
            if not muxed:
                target.discard()
            lost = SourceLost(f"{self.lost[0]}; " + (f"output kept: {summary.output}" if muxed else "no output kept"))
            lost.summary = summary
            raise lost
        return summary

    def _summary(self, frames: int, seconds: float, output: str, live: bool, interrupted: bool = False) -> Summary:
        dropped, fallback = self._shed()
        return Summary(frames, seconds, output, {s.label: s.busy_seconds for s in self.stages}, interrupted,
                       damaged=self.video.damaged, live=live, dropped=dropped, fallback=fallback,
                       latency_ms=self.latency.percentile_ms(50), latency_p95_ms=self.latency.percentile_ms(95),
                       reconnects=getattr(self.video, "reconnects", 0))

    def _shed(self) -> Tuple[int, int]:
        """Frames dropped and sent bicubic to keep up with a live source."""
        return getattr(self.decoded, "dropped", 0), getattr(self.decoded, "fallback", 0)


def _output(output: Union[str, Path], source: Union[str, Path], options: EncodeOptions, overwrite: bool,
            live: bool) -> Tuple[Any, EncodeOptions]:
    """Where the output goes (a file written under a temporary name, stdout, or a stream) and the
    encoder options completed for it: the container, its muxer defaults, low latency for streams."""
    plan = plan_output(output, options.format)
    target = (NetworkTarget(output, plan, overwrite) if plan.network or plan.hls
              else OutputTarget(output, overwrite, source))
    fmt = plan.format or ("yuv4mpegpipe" if target.stdout else None)
    return target, replace(options, format=fmt, muxer_options={**plan.options, **options.muxer_options},
                           low_latency=options.low_latency or live or plan.network or plan.hls)


def _sent(target: Any) -> bool:
    """Whether the output goes over the network (a write there can block until a timeout)."""
    return isinstance(target, NetworkTarget) and target.plan.network


def _open_sink(video: Any, target: Any, options: EncodeOptions, scale: int) -> VideoSink:
    """The encoder for the upscaled stream, with the source's audio and subtitles; opening a network
    output may wait for a receiver, so Ctrl-C is still taken meanwhile."""
    info = video.info
    sink = interruptible(lambda: VideoSink(target.writable, info.scaled(scale), options, video.container,
                                           name=target.name), "output")
    log.info("%s: %dx%d %s -> %s: %dx%d %s (%s)", video.name, info.width, info.height, info.pix_fmt,
             target.name, sink.width, sink.height, sink.pix_fmt, sink.codec)
    return sink


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


def _wait(stages: List[Stage]) -> None:
    """Wait for the stage threads in short steps, so that the main thread still receives Ctrl-C."""
    for s in stages:
        while not s.wait(JOIN_POLL):
            pass

"""Joining encoded segments into one file by stream copy, with the source's other streams copied once.

The video packets of the segments are copied in order, unchanged except where a segment's first
decode timestamps (the encoder's B-frame delay reaches back before its first frame) would not come
after the previous segment's last one: those are raised just enough to keep decode order strictly
increasing, never past their presentation time. Presentation timestamps are the source's, untouched.
Audio and subtitles are read from the source (not from the segments, which carry none) and go through
the ``Muxer``'s routes, so they are copied, or re-encoded where the container needs it, exactly as a
single-machine run does; the muxer interleaves both by time. No encoder is involved: the join is the
muxer alone.
"""
from fractions import Fraction
import heapq
import logging
from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Tuple

import av

from ..errors import VsrError, ffmpeg_reason
from ..video.decode import VideoInfo, open_video
from ..video.encode import EncodeOptions
from ..video.mux import Muxer
from ..video.frame import COPIED_TYPES, StreamDescription
from ..video.target import OutputTarget

log = logging.getLogger(__name__)


def join_segments(source: str, segments: Sequence[Path], output: OutputTarget, options: EncodeOptions) -> int:
    """Write ``segments`` (NUT files, in order) and ``source``'s audio/subtitles to ``output``'s temporary
    file; returns the number of video frames. The caller commits or discards ``output``."""
    if not segments:
        raise VsrError(f"{source}: nothing to join")
    with open_video(source) as video:
        info = video.info
    opened: List[av.container.InputContainer] = []
    try:
        for s in segments:
            try:
                opened.append(av.open(str(s)))
            except av.FFmpegError as exc:
                raise VsrError(f"cannot read segment {s}: {ffmpeg_reason(exc)}") from None
        first = opened[0].streams.video[0]
        for c, s in zip(opened[1:], segments[1:]):
            v = c.streams.video[0]
            if (v.codec_context.name, v.width, v.height, v.codec_context.extradata) != (
                    first.codec_context.name, first.width, first.height, first.codec_context.extradata):
                raise VsrError(f"segment {s} was encoded differently from {segments[0]}; cannot join them")
        src = av.open(source)
        try:
            others = [s for s in src.streams if s.type in COPIED_TYPES]
            joined = StreamDescription(first.width, first.height, info.layout, info.frame_rate, info.time_base,
                                       info.color)
            muxer = Muxer(output.writable, options.format, options.muxer_options, name=output.name)
            try:
                video = muxer.add_copied_video(first, joined)  # the first stream, as a single run orders them
                muxer.copy_streams(src, options)
            except BaseException:
                muxer.abandon()
                raise
            frames = 0
            try:
                for _, kind, packet in heapq.merge(_video_packets(opened, info), _other_packets(src, others),
                                                   key=lambda item: item[0]):
                    if kind == 0:
                        packet.stream = video
                        muxer.mux([packet])
                        frames += 1
                    else:
                        muxer.write_packet(packet)
            finally:
                muxer.close()
        finally:
            src.close()
    finally:
        for c in opened:
            c.close()
    return frames


def _video_packets(containers: Sequence[av.container.InputContainer], info: VideoInfo
                   ) -> Iterator[Tuple[Fraction, int, av.Packet]]:
    """Every segment's video packets in decode order, in the source's time base, dts kept strictly
    increasing across the joins. A packet without a duration (NUT keeps none; only some codecs' parsers
    restore it) gets one frame at the nominal rate, as the encoder gave it in a single-machine run."""
    tb = info.time_base
    duration = round(1 / (info.frame_rate or Fraction(25)) / tb)
    last: Optional[int] = None  # dts of the previous packet
    for c in containers:
        stream = c.streams.video[0]
        for packet in _with_dts(c.demux(stream)):
            _rebase(packet, tb)
            packet.duration = packet.duration or duration
            if last is not None and packet.dts <= last:
                if last + 1 > packet.pts:
                    raise VsrError("cannot join segments: decode times overlap (segments too short "
                                   "for the encoder's frame reordering)")
                log.debug("raising dts %d -> %d at a join", packet.dts, last + 1)
                packet.dts = last + 1
            last = packet.dts
            yield packet.dts * tb, 0, packet


def _rebase(packet: av.Packet, tb: Fraction) -> None:
    """Express a packet's times in ``tb`` (NUT may have stored them in a finer time base)."""
    old = Fraction(packet.time_base)
    if old != tb:
        packet.pts = round(packet.pts * old / tb)
        packet.dts = round(packet.dts * old / tb)
        packet.duration = round(packet.duration * old / tb) if packet.duration else 0
        packet.time_base = tb


def _with_dts(packets: Iterator[av.Packet]) -> Iterator[av.Packet]:
    """Packets with every dts set. NUT stores no dts for the first packets of a stream with B-frames
    (the encoder's delay); they are put back one frame duration apart before the first known dts, as
    the encoder set them (a single-machine run writes the same values)."""
    leading: List[av.Packet] = []
    for packet in packets:
        if not packet.size:
            continue
        if packet.dts is None:
            leading.append(packet)
            continue
        if leading:
            step = _step(leading + [packet])
            for i, early in enumerate(leading):
                early.dts = packet.dts - (len(leading) - i) * step
                if early.dts > early.pts:
                    early.dts = early.pts
                yield early
            leading = []
        yield packet
    if leading:  # a segment of B-frame delay or fewer frames: decode order is presentation order
        for early in leading:
            early.dts = early.pts
            yield early


def _step(packets: List[av.Packet]) -> int:
    """One frame's duration: the packets' own, else the smallest gap between their timestamps."""
    durations = [p.duration for p in packets if p.duration]
    if durations:
        return min(durations)
    pts = sorted(p.pts for p in packets if p.pts is not None)
    gaps = [b - a for a, b in zip(pts, pts[1:]) if b > a]
    return min(gaps) if gaps else 1


def _other_packets(container: av.container.InputContainer, streams: List[av.stream.Stream]
                   ) -> Iterator[Tuple[Fraction, int, av.Packet]]:
    if not streams:
        return
    try:
        for packet in container.demux(*streams):
            if not packet.size:
                continue
            ts = packet.dts if packet.dts is not None else packet.pts
            yield (ts * Fraction(packet.time_base) if ts is not None else Fraction(0)), 1, packet
    except av.FFmpegError as exc:
        log.warning("%s: copied streams end early at a read error (%s)", container.name, ffmpeg_reason(exc))

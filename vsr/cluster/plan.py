"""Cutting a video into segments at its keyframes, from the demuxer's packets alone (nothing is decoded).

A segment is a range of presentation times ``[start, end)`` that begins at a keyframe, so a worker can
seek there and decode it without the frames before it. Counting the frames of each range here lets a
worker prove it produced exactly those frames: a seek that lands late, or a decoder that drops a frame,
is an error instead of a silent gap in the joined file. Open GOPs work too: a leading B-frame shown
before its keyframe belongs to the previous range, whose worker decodes on past the keyframe to reach it.
"""
from dataclasses import dataclass
from fractions import Fraction
import hashlib
from bisect import bisect_left
import logging
from pathlib import Path
from typing import List, Optional

import av

from ..errors import VsrError
from . import DEFAULT_SECONDS
from ..errors import ffmpeg_reason
from ..video.decode import Window

log = logging.getLogger(__name__)

HEAD_BYTES = 1 << 20  # hashed to recognise the input on --resume without reading all of it


@dataclass(frozen=True)
class Segment:
    """One piece of a video: frames with ``start <= pts < end``, decoded from the keyframe at ``seek``."""

    index: int
    seek: Optional[int]  # dts of the keyframe (a seek target at or before it); None: the file's start
    start: int  # pts of the first frame
    end: Optional[int]  # pts of the next segment's first frame; None for the last segment
    frames: int

    @property
    def window(self) -> Window:
        return Window(self.seek, self.start, self.end)


@dataclass(frozen=True)
class Plan:
    """A video's segments, with what is needed to recognise the same input again."""

    path: str
    time_base: Fraction
    frames: int
    segments: List[Segment]
    fingerprint: dict


def fingerprint(path: Path) -> dict:
    """Size, modification time and a hash of the head: enough to tell a file changed, cheaply."""
    st = path.stat()
    with open(path, "rb") as f:
        head = hashlib.sha256(f.read(HEAD_BYTES)).hexdigest()
    return {"name": path.name, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "head_sha256": head}


@dataclass
class _Key:
    pts: int
    dts: int


def plan_video(path: Path, seconds: float = DEFAULT_SECONDS) -> Plan:
    """Segments of about ``seconds`` (at least one GOP each) covering every frame of ``path``.

    Files whose packets lack timestamps (raw streams), or carry decode times where presentation times
    belong, cannot be cut by time: they get one segment, decoded from the start like a single run.
    """
    if seconds <= 0:
        raise VsrError(f"segment length must be positive, not {seconds:g} s", exit_code=2)
    try:
        container = av.open(str(path))
    except av.FFmpegError as exc:
        raise VsrError(f"cannot read {path}: {ffmpeg_reason(exc)}") from None
    except OSError as exc:
        raise VsrError(f"cannot read {path}: {exc.strerror or exc}") from None
    with container:
        if not container.streams.video:
            raise VsrError(f"{path} has no video stream")
        stream = container.streams.video[0]
        tb = Fraction(stream.time_base) if stream.time_base else None
        keys: List[_Key] = []
        pts_all: List[int] = []
        untimed = tb is None
        reordered = False  # some packet's pts differs from its dts
        try:
            for packet in container.demux(stream):
                if not packet.size or packet.is_discard:
                    continue
                if packet.pts is None or packet.dts is None:
                    untimed = True
                    pts_all.append(0)
                    continue
                pts_all.append(packet.pts)
                reordered = reordered or packet.pts != packet.dts
                if packet.is_keyframe:
                    keys.append(_Key(packet.pts, packet.dts))
        except av.FFmpegError as exc:
            log.warning("%s: reading stops at a damaged packet (%s); planning one segment", path, ffmpeg_reason(exc))
            untimed = True
        if not reordered and getattr(stream.codec_context, "has_b_frames", False):
            # B-frames, yet every pts equals its dts: the file's presentation times are wrong (an MP4
            # without its ctts box) and only a decode from the start gets the frame times right.
            log.info("%s: packet timestamps are decode times, not presentation times", path)
            untimed = True
    fp = fingerprint(path)
    if not pts_all:
        raise VsrError(f"{path} has no video frames")
    if untimed or not keys or len(set(pts_all)) != len(pts_all):
        log.info("%s: cannot cut by timestamps; one segment", path)
        whole = Segment(0, None, -(1 << 62), None, len(pts_all))
        return Plan(str(path), tb or Fraction(1, 90000), len(pts_all), [whole], fp)
    first = min(pts_all)
    if keys[0].pts != first:  # frames before the first keyframe are decoded from the file's start
        keys.insert(0, _Key(first, min(k.dts for k in keys)))
    starts: List[_Key] = [keys[0]]
    step = Fraction(seconds) / tb
    for k in keys[1:]:
        if k.pts - starts[-1].pts >= step and k.pts > starts[-1].pts:
            starts.append(k)
    bounds = [k.pts for k in starts[1:]] + [None]
    pts_sorted = sorted(pts_all)
    segments = []
    for i, (k, end) in enumerate(zip(starts, bounds)):
        n = (len(pts_sorted) if end is None else bisect_left(pts_sorted, end)) - bisect_left(pts_sorted, k.pts)
        segments.append(Segment(i, k.dts if i else None, k.pts, end, n))
    if segments[0].start != first:
        raise VsrError(f"{path}: cannot plan segments (first keyframe after the first frame)")
    log.debug("%s: %d frames in %d segments", path, len(pts_all), len(segments))
    return Plan(str(path), tb, len(pts_all), segments, fp)


def is_video_name(path: Path) -> bool:
    """Whether a file in a folder looks like a video worth trying (by its name)."""
    return path.suffix.lower() in VIDEO_SUFFIXES and not path.name.startswith(".")


VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".ts", ".m2ts", ".mts", ".mpg", ".mpeg",
                  ".flv", ".wmv", ".nut", ".y4m", ".3gp", ".ogv"}


def videos_in(folder: Path) -> List[Path]:
    """The videos directly inside ``folder``, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and is_video_name(p))

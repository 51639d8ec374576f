"""Network inputs and outputs: what a URL is, FFmpeg's options for each scheme, and the realtime policy.

FFmpeg does the networking (its protocols, its listen modes); this module only decides what vsr asks
of it, so that the rest of the pipeline handles a stream like a file. Defaults aim at low delay and at
noticing a dead peer: RTSP over TCP (UDP RTP loses packets as soon as the machine is busy), no input
buffering beyond what the demuxer needs, a short probe, and a read timeout (a stall of a few seconds
is a lost source, not a slow one). The user's ``--input-option``/``-e`` always win.
"""
from dataclasses import dataclass, field
from enum import Enum
import logging
from pathlib import Path
import threading
from typing import Callable, Dict, Optional, TypeVar, Union
from urllib.parse import urlsplit

from ..errors import VsrError

log = logging.getLogger(__name__)

# Schemes whose streams are live: they have no end of their own and run at the sender's clock.
LIVE_SCHEMES = {"rtsp", "rtsps", "rtmp", "rtmps", "rtmpt", "udp", "tcp", "srt", "rtp"}
# Schemes FFmpeg reads that are not live by themselves (a file or a VOD playlist over HTTP).
OTHER_SCHEMES = {"http", "https", "hls", "ftp", "file"}
STALL_SECONDS = 5.0  # no data for this long from a live source: it is lost
PROBE_SECONDS = 1.0  # how much of a live stream FFmpeg may read to find its streams

# Containers by output scheme: MPEG-TS where the transport is a byte stream, FLV for RTMP.
OUTPUT_FORMATS = {"udp": "mpegts", "tcp": "mpegts", "srt": "mpegts", "rtp": "rtp_mpegts",
                  "rtmp": "flv", "rtmps": "flv", "rtsp": "rtsp", "rtsps": "rtsp"}
# What the stream muxers take (FFmpeg gives PyAV no codec list for them).
_TS_CODECS = {"h264", "libx264", "hevc", "libx265", "mpeg2video", "mpeg1video", "h264_nvenc", "hevc_nvenc",
              "aac", "mp2", "mp3", "ac3", "eac3", "opus", "libopus", "dvb_subtitle", "dvb_teletext"}
STREAM_CODECS = {"mpegts": _TS_CODECS, "rtp_mpegts": _TS_CODECS,
                 "rtsp": {"h264", "libx264", "hevc", "libx265", "h264_nvenc", "hevc_nvenc", "libvpx-vp9",
                          "aac", "opus", "libopus", "mp3", "mp2", "ac3", "pcm_mulaw", "pcm_alaw"}}
HLS_SEGMENT_SECONDS = 2
HLS_LIST_SIZE = 6  # segments in the sliding window; older segment files are deleted


class Realtime(str, Enum):
    """What to do when super-resolution is slower than a live input."""

    DROP = "drop"  # skip the oldest waiting frames
    BICUBIC = "bicubic"  # send a bicubic frame in their place
    OFF = "off"  # process every frame, however far behind that falls


def scheme(name: Union[str, Path]) -> Optional[str]:
    """The URL scheme of ``name`` (lower case), or None for a path or ``-``."""
    text = str(name)
    if "://" not in text:
        return None
    s = urlsplit(text).scheme.lower()
    return s if s and s.replace("+", "").replace("-", "").isalnum() and len(s) > 1 else None


def is_url(name: Union[str, Path]) -> bool:
    return scheme(name) is not None


def is_live(name: Union[str, Path]) -> bool:
    """Whether ``name`` is a live stream (its sender sets the pace and it has no end of its own)."""
    return scheme(name) in LIVE_SCHEMES


def input_options(url: str, user: Dict[str, str]) -> Dict[str, str]:
    """FFmpeg demuxer/protocol options for reading ``url``: vsr's defaults for its scheme, then ``user``."""
    s = scheme(url)
    opts: Dict[str, str] = {}
    if s in LIVE_SCHEMES:
        # No "fflags nobuffer": it throws away the packets read while probing (up to PROBE_SECONDS of
        # the stream) instead of decoding them; the realtime queue sheds that backlog anyway.
        opts.update({
                     "analyzeduration": str(int(PROBE_SECONDS * 1e6)), "probesize": "500000"})
    if s in ("rtsp", "rtsps"):
        opts["rtsp_transport"] = "tcp"
        if "listen" in user.get("rtsp_flags", ""):
            # FFmpeg 8 overflows its own default (-1 s) when it turns it into the socket's timeout.
            opts["listen_timeout"] = str(2 ** 20)
    if s == "udp":
        # A deep receive buffer: a busy SR thread must not make the kernel drop datagrams.
        opts.update({"buffer_size": str(4 << 20), "fifo_size": str(1 << 18), "overrun_nonfatal": "1"})
    opts.update(user)
    return opts


def opencv_capture_options(url: str, user: Dict[str, str]) -> str:
    """``input_options`` for OpenCV's FFmpeg backend (``vsr live``), in its OPENCV_FFMPEG_CAPTURE_OPTIONS
    form ("key;value|key;value"), with a read timeout since OpenCV has no other way to notice a stall."""
    opts = input_options(url, {})
    if is_live(url):
        key = "timeout" if scheme(url) in ("rtsp", "rtsps", "udp") else "rw_timeout"
        opts[key] = str(int(STALL_SECONDS * 1e6))
    opts.update(user)
    return "|".join(f"{k};{v}" for k, v in opts.items())


def stall_timeout(url: str) -> Optional[tuple]:
    """PyAV's (open, read) timeouts: wait for a sender as long as it takes, give up on a stalled one."""
    return (None, STALL_SECONDS) if is_live(url) else None


@dataclass(frozen=True)
class OutputPlan:
    """How an output is written: its container, muxer options, and whether it is a stream or HLS."""

    format: Optional[str]
    options: Dict[str, str] = field(default_factory=dict)
    network: bool = False  # sent over the network: no temporary file, nothing to rename
    hls: bool = False


def plan_output(output: Union[str, Path], forced_format: Optional[str]) -> OutputPlan:
    """The container follows the URL scheme or the ``.m3u8`` name; ``--format`` forces one."""
    s = scheme(output)
    if s is None and str(output).lower().endswith(".m3u8") and forced_format in (None, "hls"):
        return OutputPlan("hls", hls_options(Path(output)), network=False, hls=True)
    if s is None:
        return OutputPlan(forced_format)
    fmt = forced_format or OUTPUT_FORMATS.get(s)
    if fmt is None:
        raise VsrError(f"cannot tell the container for {output}: use --format (e.g. mpegts, flv)", exit_code=2)
    opts: Dict[str, str] = {}
    if fmt in ("mpegts", "flv", "rtp_mpegts"):
        opts["flush_packets"] = "1"  # hand each packet to the network at once
    if fmt in ("mpegts", "rtp_mpegts"):
        # With its length written, a receiver's demuxer hands a video frame on as soon as it is complete,
        # instead of waiting for the next frame to start (one frame interval more latency: 100+ ms when
        # SR runs at a few fps). Frames over 64 KiB still go without, as MPEG-TS requires.
        opts["omit_video_pes_length"] = "0"
    if fmt == "rtsp":
        opts["rtsp_transport"] = "tcp"
    return OutputPlan(fmt, opts, network=True)


def output_url(output: str) -> str:
    """The URL to open: a TCP output gets a socket timeout (in its query string, the only place PyAV's
    output path lets a protocol option reach FFmpeg), so a receiver that stops reading fails the write
    in seconds instead of hanging the run."""
    if scheme(output) == "tcp" and "timeout=" not in output.split("?", 1)[-1]:
        return output + ("&" if "?" in output else "?") + f"timeout={int(STALL_SECONDS * 1e6)}"
    return output


def hls_options(playlist: Path) -> Dict[str, str]:
    """A sliding-window live playlist; its segments go beside it, named after it."""
    return {
        "hls_time": str(HLS_SEGMENT_SECONDS),
        "hls_list_size": str(HLS_LIST_SIZE),
        # temp_file: the playlist is replaced atomically, so a player never reads half of it.
        "hls_flags": "delete_segments+independent_segments+temp_file",
        "hls_segment_filename": str(playlist.with_name(playlist.stem + "-%05d.ts")),
    }


def low_latency_encoder_options(codec: str, frame_rate: Optional[float]) -> Dict[str, str]:
    """Encoder defaults for a stream someone watches now: no lookahead or B-frames, a keyframe a second
    (a new viewer, or an HLS segment, starts at a keyframe). ``-e`` overrides each."""
    gop = str(max(1, round(frame_rate or 25)))
    if codec == "libx264":
        return {"tune": "zerolatency", "g": gop}
    if codec == "libx265":
        return {"tune": "zerolatency", "g": gop}
    if codec in ("h264_nvenc", "hevc_nvenc"):
        return {"tune": "ll", "g": gop, "bf": "0"}
    return {"g": gop}


class NetworkTarget:
    """An output that is sent, not stored (a URL), or a live HLS playlist written in place.

    ``OutputTarget``'s temporary-file-then-rename makes a file appear only when it is complete; a
    stream is consumed while it is written, so there is nothing to rename, and what was sent cannot be
    taken back: ``discard`` and ``keep_partial`` leave it as it is. HLS is written straight into its
    folder because players read the playlist while it grows (FFmpeg replaces the playlist atomically).
    """

    stdout = False

    def __init__(self, output: Union[str, Path], plan: OutputPlan, overwrite: bool):
        self.name = str(output)
        self.plan = plan
        self.path = None
        if plan.hls:
            path = Path(output)
            if not path.parent.resolve().is_dir():
                raise VsrError(f"output folder does not exist: {path.parent}")
            if path.exists() and not overwrite:
                raise VsrError(f"output {path} exists (use -y to overwrite)")
            self.path = path

    @property
    def writable(self) -> str:
        return output_url(self.name)

    def commit(self) -> str:
        return self.name

    def keep_partial(self) -> str:
        return self.name

    def discard(self) -> None:
        """Nothing to remove: what was sent was sent, and an HLS playlist stays playable."""


T = TypeVar("T")


def interruptible(work: Callable[[], T], what: str, poll: float = 0.1) -> T:
    """Run a blocking FFmpeg call (connect, wait for a sender) in a thread, so Ctrl-C and SIGTERM still
    reach the main thread at once: FFmpeg holds no Python frame to raise KeyboardInterrupt in.

    On an interrupt the thread is left behind (daemon): closing what it is opening under it is unsafe.
    """
    result: Dict[str, object] = {}
    done = threading.Event()

    def run() -> None:
        try:
            result["value"] = work()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            result["error"] = exc
        finally:
            done.set()

    thread = threading.Thread(target=run, name=f"vsr-open {what}", daemon=True)
    thread.start()
    while not done.wait(poll):
        pass
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    return result["value"]  # type: ignore[return-value]

"""Helpers for the streaming tests and benchmark: free ports, waiting for a listener, tiny real clips.

Everything stays on 127.0.0.1. Waiting for a port reads /proc/net (no connection is made, so a
listening peer is not disturbed) and gives up after a bounded time.
"""
from pathlib import Path
import socket
import subprocess
import time
from typing import Optional

import av

SENDER = Path(__file__).with_name("stream_sender.py")


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port nobody listens on now (TCP and UDP alike are checked)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                u.bind(("127.0.0.1", port))
        except OSError:
            continue
        return port


def bound(port: int, proto: str) -> bool:
    """Whether a socket is bound to ``port``: UDP (any state) or TCP in the LISTEN state."""
    for table in (f"/proc/net/{proto}", f"/proc/net/{proto}6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            local, state = parts[1], parts[3]
            if int(local.rsplit(":", 1)[1], 16) == port and (proto == "udp" or state == "0A"):
                return True
    return False


def wait_bound(port: int, proto: str, timeout: float = 60.0, proc=None) -> None:
    """Wait until something listens on ``port`` (or ``proc`` exits, or ``timeout`` passes)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if bound(port, proto):
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the listener exited ({proc.returncode}) before binding port {port}")
        time.sleep(0.05)
    raise AssertionError(f"nothing bound {proto} port {port} within {timeout} s")


def finish(proc: subprocess.Popen, timeout: float = 90) -> str:
    """Wait (bounded) for ``proc``, started with text pipes, to end by itself; its stderr."""
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError(f"did not stop by itself within {timeout} s: {' '.join(map(str, proc.args))}\n"
                             f"{err[-2000:]}")
    return err


def make_clip(src: Path, dst: Path, width: int, height: int, seconds: float = 3.0, audio: bool = True,
              gop: Optional[int] = None) -> Path:
    """A short clip of a real video at ``width``x``height``: H.264 without B-frames (a keyframe every
    ``gop`` frames, default half a second) and, if the source has it, AAC audio."""
    with av.open(str(src)) as i, av.open(str(dst), "w") as o:
        vs = i.streams.video[0]
        rate = vs.average_rate
        ov = o.add_stream("libx264", rate=rate, options={
            "preset": "ultrafast", "tune": "zerolatency", "g": str(gop or max(1, round(rate / 2))), "crf": "23"})
        ov.width, ov.height, ov.pix_fmt = width, height, "yuv420p"
        streams = [vs]
        aud = None
        if audio and i.streams.audio:
            a = i.streams.audio[0]
            aud = o.add_stream("aac", rate=a.rate)
            aud.layout = "stereo"
            streams.append(a)
        for pkt in i.demux(*streams):
            for fr in pkt.decode():
                if fr.time is None or fr.time >= seconds:
                    continue
                if pkt.stream is vs:
                    f = fr.reformat(width=width, height=height, format="yuv420p")
                    f.pts, f.time_base = fr.pts, fr.time_base
                    o.mux(ov.encode(f))
                else:
                    fr.pts = None
                    o.mux(aud.encode(fr))
        o.mux(ov.encode(None))
        if aud is not None:
            o.mux(aud.encode(None))
    return dst

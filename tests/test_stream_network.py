"""``vsr upscale`` on real network streams, loopback only: a PyAV sender pushes a real clip at its own
pace into vsr, and vsr's output is read back and checked.

Every process runs under a hard timeout and every listener is bounded; no assertion is about time,
only about counts, sizes, timestamps and streams. The clip is 3 s of SAM 2's dog at 192x108 with AAC.
"""
import functools
import http.server
import os
from pathlib import Path
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import List, Optional

import av
import pytest

from stream_tools import SENDER, finish, free_port, make_clip, wait_bound

ROOT = Path(__file__).resolve().parents[1]
CLIP_SRC = ROOT.parent / "shared" / "data" / "video" / "sam2" / "01_dog.mp4"
CLIP_FRAMES = 90  # 3 s at 29.97 fps
HARD = 90  # seconds any one process may run


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    if not CLIP_SRC.is_file():
        pytest.skip(f"shared clip not found: {CLIP_SRC}")
    return make_clip(CLIP_SRC, tmp_path_factory.mktemp("clip") / "dog192.mp4", 192, 108, seconds=3.0)


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def start_vsr(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "vsr", "upscale", *args], env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def start_sender(clip: Path, url: str, fmt: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(SENDER), str(clip), url, "--format", fmt, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def summary(err: str) -> dict:
    """The counts in vsr's summary line (and in its error line, when the source was lost)."""
    m = re.search(r"vsr: (\d+) frames in .* dropped (\d+)", err)
    assert m, err
    out = {"written": int(m.group(1)), "dropped": int(m.group(2))}
    lost = re.search(r"after (\d+) frames", err)
    if lost:
        out["received"] = int(lost.group(1))
    b = re.search(r"bicubic (\d+)", err)
    out["bicubic"] = int(b.group(1)) if b else 0
    return out


def error_lines(err: str) -> List[str]:
    return [line for line in err.splitlines() if line.startswith("vsr: error:")]


def read_back(url_or_path: str, options: Optional[dict] = None, timeout=None, stream_end_ok: bool = False):
    """Decode every video frame and count audio packets; returns (sizes, video times, audio times).

    ``stream_end_ok``: a live protocol's end may read as an error (RTMP ends with EIO): stop there."""
    sizes, times, audio = set(), [], []
    with av.open(str(url_or_path), options=options or {}, timeout=timeout) as c:
        streams = [c.streams.video[0]] + list(c.streams.audio[:1])
        packets = c.demux(*streams)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                break
            except (av.FFmpegError, OSError):
                if not stream_end_ok or not times:
                    raise
                break
            if packet.stream.type == "audio":
                if packet.pts is not None and packet.time_base is not None:
                    audio.append(float(packet.pts * packet.time_base))
                continue
            for f in packet.decode():
                sizes.add((f.width, f.height))
                times.append(f.time)  # None before an RTP stream's clock is known
    return sizes, times, audio


def increasing(times: List[Optional[float]]) -> bool:
    """Strictly increasing; an RTP receiver may know no time for its first frame or two (not more)."""
    known = [t for t in times if t is not None]
    return len(times) - len(known) <= 2 and all(b > a for a, b in zip(known, known[1:]))


class Reader(threading.Thread):
    """A listening PyAV reader (the server side of an output), bounded by ``timeout`` seconds of silence."""

    def __init__(self, url: str, options: dict):
        super().__init__(daemon=True)
        self.url, self.options, self.result, self.error = url, options, None, None

    def run(self):
        try:
            self.result = read_back(self.url, self.options, timeout=(HARD, 10), stream_end_ok=True)
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.error = exc


# ---- inputs -----------------------------------------------------------------------------------
def test_udp_in_drop_accounting_audio_and_stall_without_reconnect(clip, tmp_path):
    """UDP has no end: the source stalls when the sender stops, and vsr ends with one line and exit 1,
    its output finalized. Every frame received is either written or counted as dropped."""
    port = free_port()
    out = tmp_path / "out.ts"
    vsr = start_vsr(f"udp://127.0.0.1:{port}", str(out), "--scale", "3")
    wait_bound(port, "udp", proc=vsr)
    sender = start_sender(clip, f"udp://127.0.0.1:{port}?pkt_size=1316", "mpegts")
    assert finish(sender).strip() == f"sent {CLIP_FRAMES} video packets"
    err = finish(vsr)
    assert vsr.returncode == 1, err
    assert len(error_lines(err)) == 1 and "no data for 5 s" in err and "Traceback" not in err
    counts = summary(err)
    assert counts["written"] + counts["dropped"] == counts["received"]
    assert CLIP_FRAMES - 3 <= counts["received"] <= CLIP_FRAMES  # a UDP tail may stay in the demuxer
    sizes, times, audio = read_back(out)
    assert sizes == {(576, 324)} and len(times) == counts["written"] and increasing(times)
    assert len(audio) > 100 and increasing(audio)  # the AAC track came through (stream copy)


def test_tcp_listen_in_realtime_off_keeps_every_frame(clip, tmp_path):
    """vsr is the TCP server; with --realtime off every frame is upscaled, and a sender that goes away is
    the end of a live source: exit 1 with one line, the output whole up to there."""
    port = free_port()
    out = tmp_path / "out.mkv"
    vsr = start_vsr(f"tcp://127.0.0.1:{port}?listen=1", str(out), "--scale", "2", "--realtime", "off")
    wait_bound(port, "tcp", proc=vsr)
    sender = start_sender(clip, f"tcp://127.0.0.1:{port}", "mpegts")
    finish(sender)
    err = finish(vsr)
    assert vsr.returncode == 1 and "the stream ended after 90 frames" in err, err
    assert summary(err) == {"written": CLIP_FRAMES, "dropped": 0, "received": CLIP_FRAMES, "bicubic": 0}
    sizes, times, audio = read_back(out)
    assert sizes == {(384, 216)} and len(times) == CLIP_FRAMES and increasing(times)
    assert audio and increasing(audio)


def test_rtmp_listen_in_and_rtmp_out(clip, tmp_path):
    """OBS-style: a sender publishes RTMP to vsr (listening); vsr publishes FLV over RTMP to a server
    (here a listening reader), audio included. --frames ends the run cleanly with exit 0."""
    port_in, port_out = free_port(), free_port()
    reader = Reader(f"rtmp://127.0.0.1:{port_out}/live/out", {"listen": "1"})
    reader.start()
    wait_bound(port_out, "tcp")
    vsr = start_vsr(f"rtmp://127.0.0.1:{port_in}/live/in", f"rtmp://127.0.0.1:{port_out}/live/out",
                    "-I", "listen=1", "--scale", "2", "--realtime", "off", "--frames", "60")
    wait_bound(port_in, "tcp", proc=vsr)
    sender = start_sender(clip, f"rtmp://127.0.0.1:{port_in}/live/in", "flv")
    err = finish(vsr)
    finish(sender)
    assert vsr.returncode == 0, err
    reader.join(HARD)
    assert reader.result is not None, reader.error
    sizes, times, audio = reader.result
    assert sizes == {(384, 216)} and len(times) == 60 and increasing(times)
    assert audio


def test_rtsp_listen_in_to_hls_served_over_http(clip, tmp_path):
    """An RTSP camera (here a sender pushing RTSP over TCP to vsr's listening server) to live HLS; the
    playlist is served by a local HTTP server and decoded back; the finished playlist has its end tag."""
    port = free_port()
    hls = tmp_path / "web" / "live.m3u8"
    hls.parent.mkdir()
    vsr = start_vsr(f"rtsp://127.0.0.1:{port}/cam", str(hls), "-I", "rtsp_flags=listen", "--scale", "2",
                    "--realtime", "off", "-O", "hls_time=1")
    wait_bound(port, "tcp", proc=vsr)
    sender = start_sender(clip, f"rtsp://127.0.0.1:{port}/cam", "rtsp", "--option", "rtsp_transport=tcp")
    finish(sender)
    err = finish(vsr)
    assert vsr.returncode in (0, 1) and len(error_lines(err)) <= 1, err
    text = hls.read_text()
    assert text.rstrip().endswith("#EXT-X-ENDLIST") and "#EXT-X-TARGETDURATION:1" in text  # -O hls_time=1
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(hls.parent))
    handler.log_message = lambda *a: None
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        server.timeout = 5
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            sizes, times, audio = read_back(f"http://127.0.0.1:{server.server_address[1]}/live.m3u8",
                                            timeout=(20, 20))
        finally:
            server.shutdown()
    counts = summary(err)
    assert sizes == {(384, 216)} and len(times) == counts["written"] >= CLIP_FRAMES - 3 and increasing(times)
    assert audio


def test_hls_over_http_as_input(clip, tmp_path):
    """An HLS playlist served over HTTP is a source too (not live: read to its end, every frame, exit 0)."""
    hls = tmp_path / "web" / "in.m3u8"
    hls.parent.mkdir()
    with av.open(str(clip)) as src, av.open(str(hls), "w", format="hls", options={"hls_time": "1"}) as out:
        streams = {s.index: out.add_stream_from_template(s) for s in src.streams}
        for packet in src.demux():
            if packet.dts is not None:
                packet.stream = streams[packet.stream.index]
                out.mux(packet)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(hls.parent))
    handler.log_message = lambda *a: None
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            vsr = start_vsr(f"http://127.0.0.1:{server.server_address[1]}/in.m3u8", str(tmp_path / "out.mp4"),
                            "--scale", "2")
            err = finish(vsr)
        finally:
            server.shutdown()
    assert vsr.returncode == 0, err
    sizes, times, audio = read_back(tmp_path / "out.mp4")
    assert sizes == {(384, 216)} and len(times) == CLIP_FRAMES and increasing(times) and audio


def test_rtsp_out_to_a_listening_server(clip, tmp_path):
    """vsr publishes RTSP (over TCP, its default) to a server: here a PyAV reader in RTSP listen mode."""
    port = free_port()
    reader = Reader(f"rtsp://127.0.0.1:{port}/out", {"rtsp_flags": "listen", "listen_timeout": "60"})
    reader.start()
    wait_bound(port, "tcp")
    vsr = start_vsr(str(clip), f"rtsp://127.0.0.1:{port}/out", "--scale", "2")
    err = finish(vsr)
    reader.join(HARD)
    assert vsr.returncode == 0, (err, reader.error)
    assert reader.result is not None, reader.error
    sizes, times, audio = reader.result
    assert sizes == {(384, 216)} and len(times) == CLIP_FRAMES and increasing(times) and audio


# ---- outputs and faults -------------------------------------------------------------------------
def test_tcp_out_to_a_listening_reader_from_a_file(clip, tmp_path):
    """A file in, MPEG-TS over TCP out (vsr connects to the reader): every frame arrives, with audio."""
    port = free_port()
    reader = Reader(f"tcp://127.0.0.1:{port}?listen=1", {})
    reader.start()
    wait_bound(port, "tcp")
    vsr = start_vsr(str(clip), f"tcp://127.0.0.1:{port}", "--scale", "2")
    err = finish(vsr)
    assert vsr.returncode == 0, err
    reader.join(HARD)
    sizes, times, audio = reader.result
    assert sizes == {(384, 216)} and len(times) == CLIP_FRAMES and increasing(times) and audio


def test_a_reader_that_disconnects_ends_the_run_with_one_line(clip, tmp_path):
    """vsr serves MPEG-TS on a TCP port; the reader takes a little and hangs up: exit 1, one line."""
    port = free_port()
    long_clip = tmp_path / "long.mp4"
    make_clip(CLIP_SRC, long_clip, 192, 108, seconds=9.0, audio=False)
    vsr = start_vsr(str(long_clip), f"tcp://127.0.0.1:{port}?listen=1", "--scale", "3")
    wait_bound(port, "tcp", proc=vsr)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        got = 0
        while got < 20000:
            data = s.recv(65536)
            assert data, "vsr closed the stream early"
            got += len(data)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST
    err = finish(vsr)
    assert vsr.returncode == 1, err
    lines = error_lines(err)
    assert len(lines) == 1 and "cannot write" in lines[0] and "Traceback" not in err, err
    assert "connection reset by peer" in lines[0] or "broken pipe" in lines[0], err


def _kill_sender_midstream(clip, port) -> None:
    sender = start_sender(clip, f"tcp://127.0.0.1:{port}", "mpegts", "--loops", "20")
    time.sleep(2.0)  # about 60 frames in: mid-stream
    sender.kill()
    sender.communicate(timeout=HARD)


def test_sender_killed_without_reconnect_finalizes_and_exits_1(clip, tmp_path):
    port = free_port()
    out = tmp_path / "out.mp4"
    vsr = start_vsr(f"tcp://127.0.0.1:{port}?listen=1", str(out), "--scale", "2", "--realtime", "off")
    wait_bound(port, "tcp", proc=vsr)
    _kill_sender_midstream(clip, port)
    err = finish(vsr)
    assert vsr.returncode == 1 and len(error_lines(err)) == 1 and f"output kept: {out}" in err, err
    counts = summary(err)
    assert 0 < counts["received"] < 20 * CLIP_FRAMES
    sizes, times, _ = read_back(out)  # a finished MP4: it has its index, so it plays
    assert sizes == {(384, 216)} and len(times) == counts["written"] == counts["received"] and increasing(times)


def test_sender_killed_with_reconnect_resumes_with_continuing_timestamps(clip, tmp_path):
    port = free_port()
    out = tmp_path / "out.ts"
    vsr = start_vsr(f"tcp://127.0.0.1:{port}?listen=1", str(out), "--scale", "2", "--realtime", "off",
                    "--reconnect", "30", "--frames", str(CLIP_FRAMES + 30))
    wait_bound(port, "tcp", proc=vsr)
    _kill_sender_midstream(clip, port)
    wait_bound(port, "tcp", proc=vsr)  # vsr listens again
    second = start_sender(clip, f"tcp://127.0.0.1:{port}", "mpegts")
    err = finish(vsr)
    second.kill()
    second.communicate(timeout=HARD)
    assert vsr.returncode == 0 and "reconnecting" in err and "reconnected 1x" in err, err
    sizes, times, audio = read_back(out)
    assert len(times) == CLIP_FRAMES + 30 and increasing(times), times
    # the restarted sender's clock began at 0 again: its frames come after the first connection's
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert max(gaps) > 0.1  # the outage shows as a gap in time, not as frames squeezed together
    assert audio and increasing(audio)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupt_during_a_stream_finishes_hls_and_exits_130(clip, tmp_path, sig):
    port = free_port()
    hls = tmp_path / "live.m3u8"
    vsr = start_vsr(f"udp://127.0.0.1:{port}", str(hls), "--scale", "3", "--realtime", "bicubic")
    wait_bound(port, "udp", proc=vsr)
    sender = start_sender(clip, f"udp://127.0.0.1:{port}?pkt_size=1316", "mpegts", "--loops", "20")
    deadline = time.monotonic() + HARD
    while not list(tmp_path.glob("live-*.ts")) and time.monotonic() < deadline and vsr.poll() is None:
        time.sleep(0.1)
    assert list(tmp_path.glob("live-*.ts")), "no HLS segment was written"
    vsr.send_signal(sig)
    sent_at = time.monotonic()
    err = finish(vsr)
    stopped_in = time.monotonic() - sent_at
    sender.kill()
    sender.communicate(timeout=HARD)
    assert vsr.returncode == 130, err
    assert "Traceback" not in err
    assert hls.read_text().rstrip().endswith("#EXT-X-ENDLIST")
    counts = summary(err)
    assert counts["dropped"] == 0  # bicubic mode sends a frame for every frame received
    sizes, times, _ = read_back(hls)
    assert sizes == {(576, 324)} and increasing(times)
    print(f"stopped {stopped_in:.2f} s after {sig.name}")


def test_interrupt_while_waiting_for_a_sender(tmp_path):
    """Ctrl-C while vsr waits for a sender to connect (FFmpeg blocked in accept): exit 130, one line."""
    port = free_port()
    vsr = start_vsr(f"tcp://127.0.0.1:{port}?listen=1", str(tmp_path / "out.ts"))
    wait_bound(port, "tcp", proc=vsr)
    vsr.send_signal(signal.SIGINT)
    err = finish(vsr, timeout=30)
    assert vsr.returncode == 130 and err.strip().splitlines()[-1] == "vsr: interrupted", err
    assert "Traceback" not in err and not list(tmp_path.iterdir())

"""Streaming pieces without a network: URL plans, the realtime queue, reconnection's timestamps."""
from fractions import Fraction
import threading

import numpy as np
import pytest

from vsr.errors import VsrError
from vsr.video.frame import Frame
from vsr.video.network import (Realtime, input_options, is_live, low_latency_encoder_options, output_url,
                               plan_output, scheme)
from vsr.video.realtime import Fallback, LiveInput, RealtimeQueue, SourceLost
from vsr.video.stages import Control, Stopped

TB = Fraction(1, 90000)


def frame(i: int, pts: int = None) -> Frame:
    return Frame((np.zeros((2, 2), np.uint8),), 3000 * i if pts is None else pts, TB, i)


def test_schemes_and_liveness():
    assert scheme("rtsp://cam/1") == "rtsp" and scheme("clip.mp4") is None and scheme("-") is None
    assert is_live("udp://127.0.0.1:5000") and is_live("RTMP://x/live")
    assert not is_live("http://x/a.m3u8") and not is_live("clip.mp4")


def test_input_defaults_and_user_override():
    rtsp = input_options("rtsp://cam/1", {})
    assert rtsp["rtsp_transport"] == "tcp" and rtsp["analyzeduration"] == "1000000"
    assert input_options("rtsp://cam/1", {"rtsp_transport": "udp"})["rtsp_transport"] == "udp"
    assert "listen_timeout" in input_options("rtsp://0.0.0.0:8554/x", {"rtsp_flags": "listen"})
    assert "buffer_size" in input_options("udp://127.0.0.1:1", {})
    assert "analyzeduration" not in input_options("http://x/a.m3u8", {})  # not live: read as a file is


def test_output_plans(tmp_path):
    assert plan_output("udp://127.0.0.1:1", None).format == "mpegts"
    assert output_url("tcp://127.0.0.1:1?listen=1") == "tcp://127.0.0.1:1?listen=1&timeout=5000000"
    assert output_url("tcp://127.0.0.1:1?timeout=7") == "tcp://127.0.0.1:1?timeout=7"
    assert plan_output("rtmp://h/live/k", None).format == "flv"
    assert plan_output("rtsp://h/x", None).options["rtsp_transport"] == "tcp"
    assert plan_output("udp://127.0.0.1:1", "flv").format == "flv"  # --format forces
    hls = plan_output(tmp_path / "live.m3u8", None)
    assert hls.hls and hls.format == "hls" and "delete_segments" in hls.options["hls_flags"]
    assert not plan_output(tmp_path / "a.mp4", None).network
    with pytest.raises(VsrError):
        plan_output("gopher://x", None)
    assert low_latency_encoder_options("libx264", 30)["tune"] == "zerolatency"


def _drain(q: RealtimeQueue):
    out = []
    while q._items:
        out.append(q.get())
    return out


def test_drop_skips_the_oldest_waiting_frames_keeps_packets_and_order():
    q = RealtimeQueue(Control(), Realtime.DROP, keep=1)
    for i in range(5):
        q.put(frame(i))
        q.put(f"audio{i}")
    got = _drain(q)
    assert [x.index for x in got if isinstance(x, Frame)] == [4]  # only the newest frame waited
    assert [x for x in got if isinstance(x, str)] == [f"audio{i}" for i in range(5)]
    assert q.dropped == 4 and q.fallback == 0


def test_bicubic_replaces_instead_of_dropping_in_order():
    q = RealtimeQueue(Control(), Realtime.BICUBIC, keep=1)
    for i in range(4):
        q.put(frame(i))
    got = _drain(q)
    assert [type(x).__name__ for x in got] == ["Fallback"] * 3 + ["Frame"]
    assert [x.frame.index if isinstance(x, Fallback) else x.index for x in got] == [0, 1, 2, 3]
    assert q.dropped == 0 and q.fallback == 3


def test_queue_get_stops_when_the_run_stops():
    control = Control()
    q = RealtimeQueue(control, Realtime.DROP)
    threading.Timer(0.1, control.cancel).start()
    with pytest.raises(Stopped):
        q.get()


def test_queue_put_stops_when_the_run_stops():
    """Catches: a live decoder that goes on reading (and queueing audio packets, which are never shed)
    after Ctrl-C, so the run waited LIVE_CANCEL_WAIT for it instead of ending at once."""
    control = Control()
    q = RealtimeQueue(control, Realtime.DROP)
    q.put(frame(0, 0))
    control.cancel()
    with pytest.raises(Stopped):
        q.put(frame(1, 1))


class FakeSource:
    """A VideoSource stand-in: frames at 30 fps from ``start`` seconds, then a read error."""

    def __init__(self, start: float, n: int, width: int = 2):
        self.info = type("Info", (), {"width": width, "height": 2, "frame_rate": Fraction(30)})()
        self.name, self.container, self.other_streams, self.damaged = "udp://x", None, [], 1
        self.read_error = "connection reset by peer"
        self._frames = [frame(i, round((start + i / 30) / TB)) for i in range(n)]
        self.closed = False

    @property
    def first_frame(self):
        return self._frames[0]

    def items(self, limit=None):
        yield from self._frames[:limit]

    def cancel(self):
        pass

    def close(self):
        self.closed = True


def test_without_reconnect_the_end_of_a_live_source_is_an_error():
    live = LiveInput(FakeSource(1.4, 5), lambda: FakeSource(0, 1), reconnect=None)
    got = []
    with pytest.raises(SourceLost, match="connection reset by peer after 5 frames"):
        for item in live.items():
            got.append(item)
    assert len(got) == 5


def test_reconnect_continues_timestamps_after_the_last_frame():
    # The second connection's clock starts again near 0 (a restarted sender): the output must not go back.
    sources = [FakeSource(0.0, 4)]
    live = LiveInput(FakeSource(10.0, 6), lambda: sources.pop(0), reconnect=5)
    times = [float(f.pts * f.time_base) for f in live.items(limit=10)]
    assert len(times) == 10 and live.reconnects == 1
    assert all(b > a for a, b in zip(times, times[1:])), times
    assert times[6] - times[5] >= 1 / 30 - 1e-6  # at least one frame after the last one
    assert times[7] - times[6] == pytest.approx(1 / 30, abs=1e-4)  # the new clock's spacing is kept


def test_reconnect_refuses_a_new_frame_size_and_gives_up_after_its_time():
    live = LiveInput(FakeSource(0, 2), lambda: FakeSource(0, 2, width=4), reconnect=5)
    with pytest.raises(VsrError, match="frame size changed"):
        list(live.items())

    def refuse():
        raise VsrError("connection refused")

    live = LiveInput(FakeSource(0, 2), refuse, reconnect=0.6)
    with pytest.raises(SourceLost, match="gave up reconnecting after 0.6 s"):
        list(live.items())


def test_cli_refuses_stream_options_on_files(tmp_path, capsys):
    from vsr.cli import main
    clip = tmp_path / "a.mp4"
    clip.write_bytes(b"")
    for extra in (["--realtime", "drop"], ["--reconnect"], ["-I", "listen=1"], ["-I", "novalue"]):
        assert main(["upscale", str(clip), str(tmp_path / "b.mp4"), *extra]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("vsr: error:"), err


def test_live_summary_and_progress_line():
    from vsr.cli.stream import LiveProgress, summary_line
    from vsr.video.pipeline import Status, Summary
    s = Summary(90, 3.0, "udp://x", live=True, dropped=10, fallback=0, latency_ms=120, latency_p95_ms=300,
                reconnects=1)
    line = summary_line(s)
    assert "dropped 10 (10.0%)" in line and "median 120 ms, p95 300 ms" in line and "reconnected 1x" in line
    assert "dropped" not in summary_line(Summary(90, 3.0, "out.mp4"))
    bar = LiveProgress()
    bar.update(Status(frames=5, fps=29.9, latency_ms=80, dropped=2, fallback=1))
    assert bar.bar.n == 5 and "latency 80 ms, dropped 2, bicubic 1" in bar.bar.postfix
    bar.close()

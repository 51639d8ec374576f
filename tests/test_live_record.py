"""``vsr live --record``: the upscaled stream through the video encoder, decoded back and checked."""
from pathlib import Path
import signal
import subprocess
import sys

import av
import cv2
import pytest

from test_live import decode_all, write_clip
from vsr.cli import main
from vsr.color import rgb_to_y
from vsr.live.app import Live, upscale_bgr
from vsr.live.capture import open_source
from vsr.live.record import Recording
from vsr.metrics import psnr
from vsr.upscaler import Upscaler


def decode_recording(path: Path):
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        assert (ctx.pix_fmt, ctx.color_range, ctx.colorspace) == ("yuv420p", 1, 5)  # BT.601 studio range
        frames = [(f.pts, f.to_ndarray(format="bgr24"), f.to_ndarray()[: f.height]) for f in container.decode(stream)]
        return stream.codec_context.name, frames


def test_recording_holds_every_frame_shown_at_r_times_the_size(tmp_path, weights_file, capsys):
    clip = write_clip(tmp_path / "clip.avi", frames=30, size=(64, 48))
    out = tmp_path / "rec.mp4"
    assert main(["live", "--source", str(clip), "--scale", "2", "--weights", str(weights_file(2)),
                 "--device", "cpu", "--no-window", "--record", str(out)]) == 0
    printed = capsys.readouterr().out
    codec, frames = decode_recording(out)
    assert codec == "h264"
    assert f"recorded: {out} ({len(frames)} frames)" in printed and f"vsr live: {len(frames)} frames" in printed
    assert all(img.shape == (96, 128, 3) for _, img, _ in frames)
    pts = [p for p, _, _ in frames]
    assert pts == sorted(set(pts))
    # Each recorded frame is the ESPCN upscale of a source frame, in order: its luma within x264's
    # crf 18 loss (BT.601 studio range, as tagged), and clearly closer to it than to any other frame.
    upscaler = Upscaler(2, "cpu", weights_file(2))
    sr_luma = [rgb_to_y(cv2.cvtColor(upscale_bgr(upscaler, f), cv2.COLOR_BGR2RGB)) for f in decode_all(clip)]
    matched = []
    for _, _, luma in frames:
        scores = sorted((psnr(luma, y), i) for i, y in enumerate(sr_luma))
        assert scores[-1][0] > 34 and scores[-1][0] - scores[-2][0] > 5  # measured: 37-41 dB vs 29 dB
        matched.append(scores[-1][1])
    assert matched == sorted(set(matched))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_existing_record_file_is_refused_without_y(tmp_path, capsys):
    out = tmp_path / "rec.mp4"
    out.write_bytes(b"keep me")
    assert main(["live", "--source", "whatever.mp4", "--no-window", "--record", str(out)]) == 1
    assert capsys.readouterr().err == f"vsr: error: output {out} exists (use -y to overwrite)\n"
    assert out.read_bytes() == b"keep me"


def test_a_failed_start_leaves_no_file(tmp_path, capsys):
    out = tmp_path / "rec.mp4"
    assert main(["live", "--camera", "57", "--no-window", "--record", str(out)]) == 1
    assert "cannot open camera 57" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_scale_stays_while_recording(tmp_path, weights_file):
    clip = write_clip(tmp_path / "clip.avi", frames=10, size=(64, 48))
    recording = Recording(tmp_path / "rec.mkv", overwrite=False, source=str(clip))
    capture = open_source(str(clip))
    try:
        live = Live(capture, lambda s: Upscaler(s, "cpu", weights_file(s)), 3, recorder=recording, max_frames=2)
        live.run()
        live._handle_key(ord("2"))
    finally:
        capture.close()
    assert live.state.scale == 3 and recording.close() == str(tmp_path / "rec.mkv")
    _, frames = decode_recording(tmp_path / "rec.mkv")
    assert len(frames) == 2 and frames[0][1].shape == (144, 192, 3)


def test_ctrl_c_stops_like_q_and_keeps_the_recording(tmp_path, weights_file):
    clip = write_clip(tmp_path / "clip.avi", frames=1500, size=(64, 48))
    out = tmp_path / "rec.mkv"
    proc = subprocess.Popen([sys.executable, "-m", "vsr", "live", "--source", str(clip), "--weights",
                             str(weights_file(3)), "--device", "cpu", "--no-window", "--record", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()  # the first once-a-second report: the loop is running
        assert first.startswith("capture "), first + proc.stderr.read()
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and err.strip().splitlines()[-1] == "vsr: interrupted", err
    _, frames = decode_recording(out)
    assert f"recorded: {out} ({len(frames)} frames)" in rest and len(frames) >= 1
    assert f"vsr live: {len(frames)} frames" in rest


def test_real_clip_played_as_a_camera_and_recorded(shared_data, tmp_path, capsys):
    clip = shared_data / "video" / "sam2" / "03_blocks.mp4"
    if not clip.is_file():
        pytest.skip(f"{clip} not found")
    out = tmp_path / "blocks.mkv"
    assert main(["live", "--source", str(clip), "--size", "160x90", "--scale", "2", "--device", "cpu",
                 "--no-window", "--max-frames", "3", "--record", str(out)]) == 0
    assert "vsr live: 3 frames" in capsys.readouterr().out
    _, frames = decode_recording(out)
    assert len(frames) == 3 and all(img.shape == (180, 320, 3) for _, img, _ in frames)

"""``vsr upscale`` on video, as a user runs it: pipes, exit codes, Ctrl-C with a playable partial file."""
import io
import os
import signal
import subprocess
import sys
import time

import av
import cv2
import pytest

from vsr.cli import main

from video_fixtures import make_video, nearest_weights, probe, texture

VSR = [sys.executable, "-m", "vsr"]
ENV = dict(os.environ, OMP_NUM_THREADS="1")


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    folder = tmp_path_factory.mktemp("w")
    return {s: nearest_weights(folder / f"nn{s}.pt", s) for s in (2, 3)}


def vsr(*args, **kw):
    return subprocess.run(VSR + [str(a) for a in args], capture_output=True, env=ENV, timeout=300, **kw)


def test_stdout_is_y4m_that_decodes(tmp_path, weights):
    src = make_video(tmp_path / "in.mp4", frames=5)
    run = vsr("upscale", src.path, "-", "--scale", 3, "--weights", weights[3])
    assert run.returncode == 0, run.stderr.decode()
    with av.open(io.BytesIO(run.stdout), format="yuv4mpegpipe") as c:
        frames = list(c.decode(video=0))
    assert len(frames) == 5 and (frames[0].width, frames[0].height) == (192, 144)
    assert b"dropped" in run.stderr  # y4m cannot carry the audio: said so


@pytest.mark.parametrize("fmt", ["matroska", "mp4"])
def test_stdout_in_another_container_keeps_audio(tmp_path, weights, fmt):
    src = make_video(tmp_path / "in.mp4", frames=5)
    run = vsr("upscale", src.path, "-", "--scale", 2, "--weights", weights[2], "--format", fmt)
    assert run.returncode == 0, run.stderr.decode()
    (tmp_path / "piped").write_bytes(run.stdout)
    b = probe(tmp_path / "piped")
    assert len(b.pts) == 5 and (b.width, b.height) == (128, 96) and b.audio[0]["codec"] == "aac"


def test_stdin_to_file(tmp_path, weights):
    src = make_video(tmp_path / "in.y4m", frames=4, codec="wrapped_avframe", audio=None)
    out = tmp_path / "out.mkv"
    run = vsr("upscale", "-", out, "--scale", 2, "--weights", weights[2], input=src.path.read_bytes())
    assert run.returncode == 0, run.stderr.decode()
    b = probe(out)
    assert (b.width, b.height) == (128, 96) and len(b.pts) == 4
    assert b"4 frames in" in run.stderr  # the one-line summary


def test_usage_and_input_errors_are_one_line(tmp_path, weights, capsys):
    src = make_video(tmp_path / "in.mp4", frames=2, audio=None)
    cases = [
        (["upscale", tmp_path / "missing.mp4", tmp_path / "o.mp4"], 1, b"input not found"),
        (["upscale", src.path, tmp_path / "o.mp4", "--pix-fmt", "nope"], 2, b"unknown pixel format"),
        (["upscale", src.path, tmp_path / "o.mp4", "--codec", "libsvtav1", "--pix-fmt", "yuv444p"], 2, b"cannot encode"),
        (["upscale", src.path, tmp_path / "o.webm", "--codec", "libx264"], 2, b"cannot hold"),
        (["upscale", src.path, tmp_path / "o.mp4", "-e", "novalue"], 2, b"KEY=VALUE"),
        (["upscale", src.path, src.path, "-y"], 1, b"same file"),
        (["upscale", src.path, tmp_path / "o.png"], 2, b"o.png is an image name but"),
    ]
    for args, code, message in cases:  # in-process: the same main() as the command, without its start-up
        assert main([str(a) for a in args] + ["--scale", "2", "--weights", str(weights[2])]) == code, args
        err = capsys.readouterr().err
        assert message.decode() in err and len(err.strip().splitlines()) == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_encoder_options_reach_the_encoder(tmp_path, weights):
    src = make_video(tmp_path / "in.mp4", frames=3, audio=None)
    out = tmp_path / "out.mp4"
    run = vsr("upscale", src.path, out, "--scale", 2, "--weights", weights[2], "--codec", "libx264",
              "--crf", 30, "--preset", "ultrafast", "--pix-fmt", "yuv444p", "-e", "x264-params=keyint=1")
    assert run.returncode == 0, run.stderr.decode()
    b = probe(out)
    assert b.pix_fmt == "yuv444p" and len(b.pts) == 3
    with av.open(str(out)) as c:
        assert all(p.is_keyframe for p in c.demux(video=0) if p.size)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_keeps_a_playable_partial_file(tmp_path, weights, sig):
    src = make_video(tmp_path / "in.mkv", width=160, height=120, frames=300)
    out = tmp_path / "out.mp4"
    proc = subprocess.Popen(VSR + ["upscale", str(src.path), str(out), "--scale", "2", "--weights",
                                   str(weights[2]), "--no-progress"], stderr=subprocess.PIPE, env=ENV)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:  # wait until packets reach the disk
        temps = [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]
        if temps and temps[0].stat().st_size > 1000:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "finished before it could be interrupted"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    partial = tmp_path / "out.partial.mp4"
    assert b"partial output" in err and str(partial).encode() in err
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mkv", "out.partial.mp4"]
    b = probe(partial)
    assert 0 < len(b.pts) < 300
    assert b.pts == probe(src.path).pts[: len(b.pts)]
    assert (b.width, b.height) == (320, 240) and b.audio and b.audio[0]["codec"] == "aac"


def test_images_still_work(tmp_path, weights):
    cv2.imwrite(str(tmp_path / "in.png"), texture(40, 30, 0))
    assert main(["upscale", str(tmp_path / "in.png"), str(tmp_path / "out.png"), "--scale", "3",
                 "--weights", str(weights[3])]) == 0
    assert cv2.imread(str(tmp_path / "out.png")).shape == (90, 120, 3)


@pytest.mark.parametrize("ext", ["nut", "mkv", "mp4", "mov"])
def test_every_container_keeps_the_input_timestamps(tmp_path, weights, ext):
    """libx264's B-frames make negative DTS; no muxer may shift the frames' times to hide them."""
    src = make_video(tmp_path / "in.mp4", frames=8, pts=[0, 1, 2, 4, 5, 7, 8, 9], audio=None)
    out = tmp_path / f"out.{ext}"
    assert main(["upscale", str(src.path), str(out), "--scale", "2", "--weights", str(weights[2]), "--no-progress"]) == 0
    assert probe(out).pts == [t * src.time_base for t in src.pts]

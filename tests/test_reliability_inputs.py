"""Malformed and unusual inputs: each ends in a correct output or a one-line error, never worse.

The corpus is built once per module from small generated clips and, when the shared data is present,
a real camera clip (imageio's realshort.mp4, 320x240 H.264 + AAC) cut down to 12 frames.
"""
import random

import av
import cv2
import numpy as np
import pytest

from reliability_contract import ffmpeg_frames, check, record, run_cli, sha256
from video_fixtures import _write_sine, make_video, nearest_weights, texture

SCALE = 2
REAL = "video/imageio/realshort.mp4"


def remux(src, dst, frames: int) -> None:
    """Stream-copy the first ``frames`` video packets of ``src`` (and the audio up to there) into ``dst``."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        v_in = inp.streams.video[0]
        streams = {v_in.index: out.add_stream_from_template(v_in)}
        for a in inp.streams.audio:
            streams[a.index] = out.add_stream_from_template(a)
        count = 0
        for packet in inp.demux(*inp.streams):
            if packet.size == 0 or packet.dts is None:
                continue
            if packet.stream is v_in:
                count += 1
                if count > frames:
                    break
            packet.stream = streams[packet.stream.index]
            out.mux(packet)


def video_packets(path):
    """(position, size) in the file of each video packet, in file order."""
    with av.open(str(path)) as c:
        return [(p.pos, p.size) for p in c.demux(video=0) if p.size and p.pos is not None and p.pos >= 0]


def h264_stream(width: int, height: int, frames: int) -> bytes:
    """A raw Annex B H.264 stream: streams of different sizes concatenate into one that changes size."""
    import io

    buf = io.BytesIO()
    with av.open(buf, "w", format="h264") as c:
        s = c.add_stream("libx264", rate=25, options={"preset": "ultrafast"})
        s.width, s.height, s.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            f = av.VideoFrame.from_ndarray(texture(width, height, i), format="rgb24").reformat(format="yuv420p")
            f.pts = i
            c.mux(s.encode(f))
        c.mux(s.encode(None))
    return buf.getvalue()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """name -> (path, input size or None when unknown/irrelevant)."""
    d = tmp_path_factory.mktemp("corpus")
    cases = {}
    clip = make_video(d / "clip.mkv", width=32, height=24, frames=12).path
    data = clip.read_bytes()
    cases["valid mkv (control)"] = (clip, (32, 24))
    (d / "empty.mp4").write_bytes(b"")
    cases["zero-length file"] = (d / "empty.mp4", None)
    (d / "random.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 4096, np.uint8).tobytes())
    cases["random bytes (.mp4)"] = (d / "random.mp4", None)
    (d / "random.mkv").write_bytes(data[:64] + np.random.default_rng(1).integers(0, 256, 4096, np.uint8).tobytes())
    cases["Matroska header + random bytes"] = (d / "random.mkv", None)
    packets = video_packets(clip)
    cuts = {"header": 100, "middle": len(data) // 2, "last frame": packets[-1][0] + packets[-1][1] // 2}
    for where, offset in cuts.items():
        path = d / f"cut-{where.replace(' ', '-')}.mkv"
        path.write_bytes(data[:offset])
        cases[f"generated mkv truncated at {where} (byte {offset} of {len(data)})"] = (path, (32, 24))
    (d / "flipped.mkv").write_bytes(_flip(data, 40, seed=3))
    cases["generated mkv, 40 bit flips in the middle"] = (d / "flipped.mkv", (32, 24))
    for ext in (".avi", ".mp4", ".ts"):
        wrong = d / f"clip-named{ext}"
        wrong.write_bytes(data)
        cases[f"Matroska file named {ext}"] = (wrong, (32, 24))
    with av.open(str(d / "audio.m4a"), "w") as out:
        a = out.add_stream("aac", rate=48000)
        a.layout = "stereo"
        _write_sine(out, a, 0.5)
    cases["audio only (.m4a)"] = (d / "audio.m4a", None)
    ok, png = cv2.imencode(".png", texture(40, 30, 0))
    (d / "still-png.mp4").write_bytes(png.tobytes())
    cases["PNG still named .mp4"] = (d / "still-png.mp4", (40, 30))
    ok, jpg = cv2.imencode(".jpg", texture(40, 30, 0))
    (d / "still-jpg.mp4").write_bytes(jpg.tobytes())
    cases["JPEG still named .mp4"] = (d / "still-jpg.mp4", (40, 30))
    make_video(d / "1x1.mkv", width=1, height=1, frames=3, codec="ffv1", audio=None)
    cases["1x1 frames (ffv1, 4:2:0)"] = (d / "1x1.mkv", (1, 1))
    make_video(d / "2x2.mp4", width=2, height=2, frames=3, audio=None)
    cases["2x2 frames (H.264)"] = (d / "2x2.mp4", (2, 2))
    (d / "size-change.h264").write_bytes(h264_stream(32, 24, 4) + h264_stream(48, 32, 4))
    cases["raw H.264 whose frame size changes from 32x24 to 48x32"] = (d / "size-change.h264", (32, 24))
    return d, cases


@pytest.fixture(scope="module")
def real(shared_data, tmp_path_factory):
    """A real clip, 12 frames of it remuxed to Matroska (streamable, so cuts leave decodable frames)."""
    src = shared_data / REAL
    if not src.is_file():
        pytest.skip(f"{src} not found")
    d = tmp_path_factory.mktemp("real")
    mkv = d / "real.mkv"
    remux(src, mkv, 12)
    return src, mkv


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return nearest_weights(tmp_path_factory.mktemp("w") / "nn2.pt", SCALE)


def _flip(data: bytes, flips: int, seed: int) -> bytes:
    """``flips`` single-bit errors in the middle half of ``data``."""
    b = bytearray(data)
    rng = random.Random(seed)
    for _ in range(flips):
        i = rng.randrange(len(b) // 4, 3 * len(b) // 4)
        b[i] ^= 1 << rng.randrange(8)
    return bytes(b)


def upscale(tmp_path, src, weights, *extra):
    """Run ``vsr upscale SRC OUT`` in a fresh folder and check the contract; input hashed before and after."""
    out_dir = tmp_path / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / "out.mp4"
    before = sha256(src)
    run = run_cli(["upscale", src, out, "--scale", SCALE, "--weights", weights, *extra])
    assert sha256(src) == before, "the input was modified"
    return run, out


def known_answer(name, src, outcome, refused=()) -> None:
    """The answer is known where FFmpeg decides it: a file FFmpeg decodes frames from must upscale (to no
    fewer frames, less 2 for a damaged first packet), one it cannot must fail; ``refused`` names cases vsr
    refuses on purpose."""
    reference = ffmpeg_frames(src)
    if reference and not any(r in name for r in refused):
        assert outcome.code == 0 and outcome.frames >= reference - 2, (name, reference, outcome.summary)
    else:
        assert outcome.code == 1, (name, reference, outcome.summary)


def test_every_malformed_input_keeps_the_contract(corpus, weights, tmp_path):
    folder, cases = corpus
    outcomes = {}
    for name, (src, size) in cases.items():
        run, out = upscale(tmp_path / f"case{len(outcomes)}", src, weights)
        outcomes[name] = check(run, out, size, SCALE, [])
        record("malformed input", name, outcomes[name].summary)
        known_answer(name, src, outcomes[name], refused=("frame size changes",))
    assert outcomes["valid mkv (control)"].frames == 12
    for ext in (".avi", ".mp4", ".ts"):
        assert outcomes[f"Matroska file named {ext}"].frames == 12  # content decides, not the name
    for name in ("zero-length file", "random bytes (.mp4)", "audio only (.m4a)"):
        assert outcomes[name].code == 1
    assert "no video stream" in outcomes["audio only (.m4a)"].stderr
    assert outcomes["PNG still named .mp4"].frames == outcomes["JPEG still named .mp4"].frames == 1
    assert outcomes["1x1 frames (ffv1, 4:2:0)"].size == (2, 2) and outcomes["2x2 frames (H.264)"].size == (4, 4)
    change = outcomes["raw H.264 whose frame size changes from 32x24 to 48x32"]
    assert change.code == 1 and "frame size changes from 32x24 to 48x32" in change.stderr
    middle = next(o for n, o in outcomes.items() if "truncated at middle" in n)
    assert middle.code == 0 and 0 < middle.frames < 12  # what was there, as FFmpeg would give


def test_real_clip_truncated_and_flipped(real, weights, tmp_path):
    src, mkv = real
    cases = {}
    for label, path in (("mp4", src), ("mkv", mkv)):
        data = path.read_bytes()
        packets = video_packets(path)
        last = packets[-1] if label == "mkv" else max(packets)
        for where, offset in {"header": 64, "middle": len(data) // 2, "last frame": last[0] + last[1] // 2}.items():
            cut = tmp_path / f"real-{label}-{where.replace(' ', '-')}.{label}"
            cut.write_bytes(data[:offset])
            cases[f"real clip ({label}) truncated at {where} (byte {offset} of {len(data)})"] = cut
    flipped = tmp_path / "real-flipped.mkv"
    flipped.write_bytes(_flip(mkv.read_bytes(), 30, seed=7))
    cases["real clip (mkv), 30 bit flips in the middle"] = flipped
    outcomes = {}
    for name, path in cases.items():
        run, out = upscale(tmp_path / f"o{len(outcomes)}", path, weights)
        outcomes[name] = check(run, out, (320, 240), SCALE, [])
        record("real clip", name, outcomes[name].summary)
        known_answer(name, path, outcomes[name])
    mkv_middle = next(o for n, o in outcomes.items() if "(mkv) truncated at middle" in n)
    assert mkv_middle.code == 0 and 0 < mkv_middle.frames < 12
    # MP4 keeps its index (moov) at the end here: without it nothing is decodable, and vsr says so.
    assert all(o.code == 1 for n, o in outcomes.items() if "(mp4)" in n and "header" in n)


def _damage_one_packet(src, dst, index: int) -> None:
    """Overwrite the second half of the ``index``-th video packet's payload with 0xFF bytes."""
    data = bytearray(src.read_bytes())
    pos, size = video_packets(src)[index]
    data[pos + size // 2: pos + size] = b"\xff" * (size - size // 2)
    dst.write_bytes(bytes(data))


def test_damaged_packets_are_skipped_counted_and_strict_fails(tmp_path, weights):
    clip = make_video(tmp_path / "clip.mkv", width=64, height=48, frames=12, audio=None,
                      options={"x264-params": "keyint=4"}).path
    bad = tmp_path / "damaged.mkv"
    _damage_one_packet(clip, bad, 5)
    run, out = upscale(tmp_path / "lenient", bad, weights)
    outcome = check(run, out, (64, 48), SCALE, [])
    record("damaged packets", "one damaged P-frame packet of 12", outcome.summary)
    assert outcome.code == 0 and 10 <= outcome.frames <= 12
    warning = [line for line in run.stderr.splitlines() if "damaged" in line]
    assert len(warning) == 1 and warning[0].startswith("vsr: warning: ") and "--strict" in warning[0]
    run, out = upscale(tmp_path / "strict", bad, weights, "--strict")
    outcome = check(run, out, (64, 48), SCALE, [])
    record("damaged packets", "the same with --strict", outcome.summary)
    assert outcome.code == 1 and "(--strict)" in run.stderr


def test_output_too_large_for_the_codec_fails_before_any_work(tmp_path, weights):
    wide = make_video(tmp_path / "wide.mkv", width=8200, height=16, frames=2, codec="ffv1", audio=None).path
    run, out = upscale(tmp_path / "o", wide, weights)
    outcome = check(run, out, None, SCALE, [])
    record("frame size", "8200x16 at x2 -> 16400x32 with libx264 (max 16384)", outcome.summary)
    assert outcome.code == 1 and "exceeds libx264's largest frame, 16384x16384" in run.stderr
    run, out = upscale(tmp_path / "o2", wide, weights, "--codec", "ffv1", "--format", "matroska")
    outcome = check(run, out, (8200, 16), SCALE, [])
    record("frame size", "the same with --codec ffv1 (no such limit)", outcome.summary)
    assert outcome.frames == 2

"""The GPU path, as far as a CPU can check it: reused host buffers, batches in flight in order with the
same frames as one batch at a time, NVDEC and NVENC falling back or failing in one line, and the GPU
check's CPU self-test. The CUDA streams themselves run only on a GPU (benchmarks/gpu_check.sh)."""
from contextlib import nullcontext
from fractions import Fraction
import functools
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from vsr import Upscaler
from vsr.cli import main
from vsr.video import EncodeOptions, upscale_video
from vsr.video import hardware, pipeline
from vsr.video.decode import open_video
from vsr.video.frame import Frame
from vsr.video.layout import parse
from vsr.video.sr import SuperResolver
from vsr.video.sr import Fallback, overlapped
from vsr.video.transfer import HostPool

from video_fixtures import make_video, one_thread, up3  # noqa: F401 - fixtures

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "dog_320x180.y4m"
needs_no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the fallback of a machine without a GPU")


# ---- host buffers ---------------------------------------------------------------------------------
def test_pool_reuses_a_buffer_only_once_no_view_of_it_is_alive():
    pool = HostPool(pin=False)
    first = pool.take((2, 1, 4, 6), torch.uint8)
    frame_plane = first.array[1, 0]  # what a frame handed to the encoder holds
    second = pool.take((2, 1, 4, 6), torch.uint8)
    assert second is not first
    del frame_plane
    assert pool.take((2, 1, 4, 6), torch.uint8) is first
    assert pool.take((2, 1, 4, 6), torch.uint16) is not first  # keyed by dtype and shape
    assert pool.take((3, 1, 4, 6), torch.uint8) not in (first, second)
    assert pool.allocated == 4


def test_pool_stays_small_however_long_the_clip(tmp_path, up3):
    """Host buffers are bounded by the batches in flight, not by the clip's length."""
    counts = []
    for frames in (7, 28):
        src = make_video(tmp_path / f"in{frames}.mkv", frames=frames, audio=None)
        with open_video(src.path) as video:
            sr = SuperResolver(up3, video.info.layout, video.info.layout, video.info.width, video.info.height, depth=3)
            for _ in overlapped(video.items(), 3, sr):
                pass
        counts.append(sr.transfer.pool.allocated)
    assert counts[0] == counts[1] <= 4  # (Y, UV) for full batches and for the last, shorter one


# ---- batches in flight ------------------------------------------------------------------------------
class FakeSR:
    """Records the order of starts and finishes; 'upscales' by tagging each frame."""

    def __init__(self, depth: int):
        self.depth = depth
        self.log = []
        self.started = 0

    def start(self, frames, bicubic=False):
        self.log.append(f"S{self.started}")
        self.started += 1
        return self.started - 1, list(frames), bicubic

    def finish(self, handle):
        k, frames, bicubic = handle
        self.log.append(f"F{k}")
        return [("bicubic" if bicubic else "hr", f.index) for f in frames]


def frame(i: int) -> Frame:
    return Frame((np.zeros((2, 2), np.uint8),), i, Fraction(1, 25), i)


def one_batch_at_a_time(items, batch):
    """The SR stage's loop before batches overlapped: the order the output must keep."""
    out, frames, packets = [], [], []
    for item in list(items) + [None]:
        if isinstance(item, Frame):
            frames.append(item)
        elif item is not None:
            packets.append(item)
        if frames and (len(frames) == batch or item is None):
            out += [("hr", f.index) for f in frames]
            frames = []
        if packets and not frames:
            out += packets
            packets = []
    return out


def stream_of_items(n: int):
    """Frames with packets of other streams among them, sometimes several in a row."""
    items = []
    for i in range(n):
        items.append(frame(i))
        items += [f"audio{i}"] * (i % 3) + ([f"sub{i}"] if i % 5 == 0 else [])
    return ["audio-first"] + items


@pytest.mark.parametrize("batch", [1, 3, 8])
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_overlap_keeps_the_order_of_frames_and_packets(batch, depth):
    items = stream_of_items(23)
    sr = FakeSR(depth)
    assert list(overlapped(items, batch, sr)) == one_batch_at_a_time(items, batch)
    in_flight = 0
    for entry in sr.log:
        in_flight += 1 if entry[0] == "S" else -1
        assert 0 <= in_flight <= depth


@pytest.mark.parametrize("depth", [1, 3])
def test_a_fallback_keeps_its_place_upscaled_bicubically_by_the_same_resolver(depth):
    """The real-time fallback: the frame SR had no time for closes the open batch and goes out bicubic,
    in its place among the upscaled ones (one resolver: no second pool of buffers or CUDA streams)."""
    items = [frame(0), "audio", Fallback(frame(1)), frame(2), frame(3), Fallback(frame(4)), frame(5)]
    sr = FakeSR(depth)
    out = list(overlapped(items, 3, sr))
    assert out == [("hr", 0), "audio", ("bicubic", 1), ("hr", 2), ("hr", 3), ("bicubic", 4), ("hr", 5)]
    assert sr.started == 5


def test_overlap_starts_the_next_batch_before_waiting_for_the_previous():
    sr = FakeSR(depth=3)
    list(overlapped([frame(i) for i in range(10)], 2, sr))
    assert sr.log == ["S0", "S1", "S2", "F0", "S3", "F1", "S4", "F2", "F3", "F4"]


def superresolve_before(up: Upscaler, source, target, width, height, frames):
    """The SuperResolver before host buffers were pooled and batches overlapped, as the oracle."""
    def upload(planes):
        return torch.from_numpy(np.stack(planes)).unsqueeze(1).float().div_(source.peak)

    def download(x):
        x = (x * target.peak).add_(0.5).floor_().clamp_(0, (1 << target.bits) - 1)
        return x.to(torch.uint8 if target.bits == 8 else torch.uint16).numpy()

    size = target.plane_sizes(up.scale * width, up.scale * height)[1]
    y = download(up.upscale_luma_tensor(upload([f.planes[0] for f in frames])))
    uv = torch.cat([upload([f.planes[i] for f in frames]) for i in (1, 2)], dim=1)
    uv = up.upscale_chroma_tensor(uv, size)
    u, v = download(uv[:, :1]), download(uv[:, 1:])
    return [(y[i, 0], u[i, 0], v[i, 0]) for i in range(len(frames))]


@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuv420p10le"])
@pytest.mark.parametrize("batch", [1, 3, 8])
def test_frames_are_bit_identical_to_the_superresolver_before(batch, pix_fmt, weights_file):
    up = Upscaler(3, "cpu", weights=weights_file(3))
    layout = parse(pix_fmt)
    w, h = 38, 22
    rng = np.random.default_rng(batch)
    top = (1 << layout.bits) - 1
    frames = [Frame(tuple(rng.integers(0, top + 1, size, dtype=layout.dtype) for size in layout.plane_sizes(w, h)),
                    i, Fraction(1, 25), i) for i in range(11)]
    sr = SuperResolver(up, layout, layout, w, h, depth=3)
    got = list(overlapped(frames, batch, sr))
    want = [p for k in range(0, len(frames), batch)
            for p in superresolve_before(up, layout, layout, w, h, frames[k:k + batch])]
    assert [f.index for f in got] == list(range(11))
    for out, planes in zip(got, want):
        assert len(out.planes) == 3
        for a, b in zip(out.planes, planes):
            assert a.dtype == b.dtype and np.array_equal(a, b)


class StandInStream:
    def wait_event(self, event):
        pass

    def wait_stream(self, stream):
        pass


class StandInEvent:
    """A CUDA event whose work is always done: copies on the CPU finish at once."""

    def record(self, stream=None):
        pass

    def query(self):
        return True

    def synchronize(self):
        pass


def test_cuda_branch_never_hands_out_a_buffer_a_frame_still_uses(weights_file, monkeypatch):
    """The CUDA code path (pooled download buffers, events, streams) with stand-ins for the streams and
    events, on the CPU: frames kept until the end must still hold their own pixels."""
    monkeypatch.setattr(torch.cuda, "stream", lambda stream: nullcontext())
    monkeypatch.setattr(torch.cuda, "Event", StandInEvent)
    monkeypatch.setattr(torch.Tensor, "record_stream", lambda self, stream: None)
    up = Upscaler(3, "cpu", weights=weights_file(3))
    layout = parse("yuv420p")
    w, h = 30, 18
    rng = np.random.default_rng(7)
    frames = [Frame(tuple(rng.integers(0, 256, size, dtype=np.uint8) for size in layout.plane_sizes(w, h)),
                    i, Fraction(1, 25), i) for i in range(10)]
    sr = SuperResolver(up, layout, layout, w, h, depth=3)
    sr.transfer.cuda = True
    sr.transfer._up = sr.transfer._work = sr.transfer._down = StandInStream()
    kept = list(overlapped(frames, 3, sr))  # every frame held, as a slow encoder's queue would
    want = [p for k in range(0, 10, 3) for p in superresolve_before(up, layout, layout, w, h, frames[k:k + 3])]
    for out, planes in zip(kept, want):
        assert all(np.array_equal(a, b) for a, b in zip(out.planes, planes))
    assert sr.transfer.pool.allocated >= 8  # Y and UV downloads of 4 batches, none reused while held
    del kept, out
    before = sr.transfer.pool.allocated
    list(overlapped(frames, 3, sr))  # frames dropped as they come: the buffers are reused
    assert sr.transfer.pool.allocated == before


def decoded(path: Path):
    """Every video plane and every audio packet of a file, in file order."""
    with av.open(str(path)) as c:
        video = [f.to_ndarray(format="yuv420p") for f in c.decode(video=0)]  # Y, U, V stacked
    with av.open(str(path)) as c:
        audio = [(p.pts, bytes(p)) for p in c.demux(audio=0) if p.size]
    return video, audio


def test_upscale_video_output_is_the_same_with_batches_in_flight(tmp_path, up3, monkeypatch):
    src = make_video(tmp_path / "in.mkv", frames=13, audio="aac")
    options = EncodeOptions(codec="ffv1")
    upscale_video(src.path, tmp_path / "one.mkv", up3, options, batch=1)
    monkeypatch.setattr(pipeline, "SuperResolver", functools.partial(SuperResolver, depth=3))
    want = decoded(tmp_path / "one.mkv")
    assert len(want[0]) == 13 and want[1]
    for batch in (3, 8):
        upscale_video(src.path, tmp_path / f"b{batch}.mkv", up3, options, batch=batch)
        got = decoded(tmp_path / f"b{batch}.mkv")
        assert len(got[0]) == 13 and got[1] == want[1]
        assert all(np.array_equal(a, b) for a, b in zip(got[0], want[0]))


# ---- NVDEC: --hwaccel cuda --------------------------------------------------------------------------
@pytest.fixture
def no_cuda_device(monkeypatch):
    """A machine whose FFmpeg has CUDA but no GPU or driver answers (what FFmpeg reports here)."""
    def refuse(accel):
        raise av.FFmpegError(1, "Operation not permitted")

    monkeypatch.setattr(hardware, "_open_device", refuse)
    hardware.decoder.cache_clear()
    yield
    hardware.decoder.cache_clear()


def run_upscale(tmp_path, capsys, *extra):
    out = tmp_path / "out.y4m"
    code = main(["upscale", str(SAMPLE), str(out), "--frames", "3", "--device", "cpu", "-y", *extra])
    return code, out, capsys.readouterr().err


def test_hwaccel_falls_back_to_software_with_one_warning(tmp_path, capsys, no_cuda_device):
    code, out, err = run_upscale(tmp_path, capsys, "--hwaccel", "cuda")
    assert code == 0, err
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert warnings == ["vsr: warning: --hwaccel cuda: no usable cuda device (operation not permitted); "
                        "decoding in software"]
    software = out.read_bytes()
    assert run_upscale(tmp_path, capsys)[0] == 0
    assert out.read_bytes() == software


def test_hwaccel_with_strict_is_a_one_line_error(tmp_path, capsys, no_cuda_device):
    code, out, err = run_upscale(tmp_path, capsys, "--hwaccel", "cuda", "--strict")
    assert code == 1 and not out.exists()
    assert err.splitlines() == ["vsr: error: --hwaccel cuda: no usable cuda device (operation not permitted) "
                                "(without --strict vsr decodes in software)"]


def test_hwaccel_without_pyav_support_or_ffmpeg_support(monkeypatch, caplog):
    hardware.decoder.cache_clear()
    monkeypatch.setitem(sys.modules, "av.codec.hwaccel", None)  # a PyAV older than hwaccel
    assert hardware.decoder("cuda") is None
    assert "has no hardware decoding" in caplog.text
    monkeypatch.undo()
    hardware.decoder.cache_clear()
    monkeypatch.setattr(av.codec.hwaccel, "hwdevices_available", lambda: ["vaapi"])
    assert hardware.decoder("cuda") is None
    assert "was built without cuda" in caplog.text
    hardware.decoder.cache_clear()


def test_hwaccel_says_when_the_gpu_cannot_decode_the_codec(monkeypatch, caplog):
    """The device opens but NVDEC does not take this codec (raw y4m): FFmpeg decodes it in software."""
    monkeypatch.setattr(hardware, "_open_device", lambda accel: None)
    hardware.decoder.cache_clear()
    with open_video(SAMPLE, hwaccel="cuda") as video:
        frames = sum(1 for _ in video)
    hardware.decoder.cache_clear()
    assert frames == 30
    assert "--hwaccel cuda: the GPU does not decode rawvideo; decoding in software" in caplog.text


@needs_no_gpu
def test_hwaccel_on_this_machine_falls_back(caplog):
    hardware.decoder.cache_clear()
    assert hardware.decoder("cuda") is None
    hardware.decoder.cache_clear()
    assert "decoding in software" in caplog.text


def test_unknown_hwaccel_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["upscale", str(SAMPLE), "out.mp4", "--hwaccel", "vaapi"])
    assert exc.value.code == 2
    with pytest.raises(Exception) as err:
        hardware.decoder("vdpau")
    assert getattr(err.value, "exit_code", None) == 2


# ---- NVENC ------------------------------------------------------------------------------------------
@needs_no_gpu
@pytest.mark.parametrize("codec, fix", [("h264_nvenc", "libx264"), ("hevc_nvenc", "libx265")])
def test_nvenc_without_a_gpu_is_a_one_line_error_naming_the_fix(tmp_path, capsys, codec, fix):
    out = tmp_path / "out.mp4"
    code = main(["upscale", str(SAMPLE), str(out), "--frames", "2", "--device", "cpu", "--codec", codec])
    err = capsys.readouterr().err.splitlines()
    assert code == 1 and not out.exists() and len(err) == 1
    assert err[0].startswith(f"vsr: error: {codec} cannot encode here (") and err[0].endswith(f"use --codec {fix}")


def test_nvenc_missing_from_ffmpeg_names_the_fix(tmp_path, capsys, monkeypatch):
    real = av.Codec

    def without_nvenc(name, mode="r"):
        if name == "hevc_nvenc":
            raise av.codec.codec.UnknownCodecError(name)
        return real(name, mode)

    monkeypatch.setattr(av, "Codec", without_nvenc)
    code = main(["upscale", str(SAMPLE), str(tmp_path / "o.mp4"), "--frames", "2", "--device", "cpu",
                 "--codec", "hevc_nvenc"])
    err = capsys.readouterr().err.splitlines()
    assert code == 1 and err == ["vsr: error: hevc_nvenc cannot encode here (this FFmpeg was built without it): "
                                 "NVENC needs an NVIDIA GPU that has it (H100, H200 and A100 have none), its "
                                 "driver, and an FFmpeg built with it; use --codec libx265"]


# ---- the prepared GPU check -------------------------------------------------------------------------
@pytest.mark.slow
def test_gpu_check_cpu_self_test_writes_its_report(tmp_path):
    if not (ROOT / ".gpu" / "01_dog.mp4").is_file() and not (ROOT.parent / "shared" / "data" / "video").is_dir():
        pytest.skip("no clips for the GPU check: neither .gpu/ nor the shared data")
    report = tmp_path / "selftest.md"
    proc = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--cpu", "--out", str(report)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = report.read_text()
    assert "FAILED" not in text, text
    for section in ("Model only", "`vsr bench`", "`vsr upscale` end to end", "GPU memory"):
        assert section in text
    assert "identical to one at a time: **yes**" in text
    assert "NOT within" not in text  # the CPU's bench matches the committed CPU reference (same clips)

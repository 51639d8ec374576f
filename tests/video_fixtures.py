"""Small generated videos (and ways to read them back) for the video tests.

Inputs are written with PyAV, like a user's files would be: real encoders, real containers, a real
sine-wave audio track, chosen timestamps and colour tags. Frames have texture and motion so that the
codecs and the network have something to work on.
"""
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import av
import numpy as np
import pytest

from vsr.model import ESPCN
from vsr import weight_files


def texture(width: int, height: int, index: int) -> np.ndarray:
    """uint8 RGB (H, W, 3): gradients, fine stripes and a moving square."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    r = 128 + 100 * np.sin(x / 3.0 + index * 0.3) * np.cos(y / 5.0)
    g = 255 * (x + y + 4 * index) / (width + height + 4 * index + 1)
    b = 128 + 120 * np.sin((x * x + y * y) / 40.0)
    img = np.stack([r, g, b], axis=-1)
    s = max(4, min(width, height) // 4)
    top, left = (3 * index) % max(1, height - s), (5 * index) % max(1, width - s)
    img[top:top + s, left:left + s] = (240, 30, 60)
    return np.clip(img, 0, 255).astype(np.uint8)


@dataclass
class Made:
    path: Path
    pts: List[int]
    time_base: Fraction


BT709 = {"color_range": 1, "colorspace": 1, "color_primaries": 1, "color_trc": 1}  # limited range, as make_video takes them


def make_video(
    path: Path,
    width: int = 64,
    height: int = 48,
    frames: int = 12,
    pix_fmt: str = "yuv420p",
    codec: str = "libx264",
    rate: int = 25,
    pts: Optional[Sequence[int]] = None,
    time_base: Fraction = None,
    audio: Optional[str] = "aac",
    color: Optional[Dict[str, int]] = None,
    metadata: Optional[Dict[str, str]] = None,
    options: Optional[Dict[str, str]] = None,
) -> Made:
    """Write a test video; ``pts`` in ``time_base`` gives variable frame rates."""
    time_base = time_base or Fraction(1, rate)
    pts = list(pts) if pts is not None else list(range(frames))
    fmt_options = {"strict": "-1"} if path.suffix == ".y4m" else {}
    with av.open(str(path), "w", options=fmt_options) as out:
        if metadata:
            out.metadata.update(metadata)
        v = out.add_stream(codec, rate=rate, options=options or {})
        v.width, v.height, v.pix_fmt = width, height, pix_fmt
        v.codec_context.time_base = time_base
        v.time_base = time_base
        if codec == "libx264":
            v.codec_context.options = dict({"preset": "ultrafast", "crf": "10"}, **(options or {}))
        for key, value in (color or {}).items():
            setattr(v.codec_context, key, value)
        a = None
        if audio:
            a = out.add_stream(audio, rate=48000)
            a.layout = "stereo"
        for i, t in enumerate(pts):
            frame = av.VideoFrame.from_ndarray(texture(width, height, i), format="rgb24")
            frame = frame.reformat(format=pix_fmt, dst_colorspace="ITU601", dst_color_range="MPEG")
            frame.pts, frame.time_base = t, time_base
            for key, value in (color or {}).items():
                setattr(frame, key, value)
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
        if a is not None:
            seconds = float((pts[-1] + 1) * time_base) if len(pts) > 1 else 1.0
            _write_sine(out, a, seconds)
    return Made(path, pts, time_base)


def _write_sine(out: av.container.OutputContainer, stream: av.audio.stream.AudioStream, seconds: float) -> None:
    rate = stream.codec_context.sample_rate
    size = stream.codec_context.frame_size or 1024
    total = int(seconds * rate)
    fmt = stream.codec_context.format.name
    for start in range(0, total, size):
        t = (np.arange(start, min(start + size, total)) / rate)
        wave = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        data = np.stack([wave, wave])
        frame = av.AudioFrame.from_ndarray(data, format="fltp", layout="stereo")
        frame.sample_rate, frame.pts = rate, start
        if fmt != "fltp":
            frame = av.AudioResampler(format=fmt, layout="stereo", rate=rate).resample(frame)[0]
            frame.pts = start
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))


@dataclass
class Probe:
    width: int
    height: int
    pix_fmt: str
    pts: List[Fraction]  # seconds
    planes: List[np.ndarray]  # luma of each frame
    audio: List[Dict]
    color: Dict[str, int]
    metadata: Dict[str, str]
    codec: str


def probe(path: Path, keep_luma: bool = False) -> Probe:
    """Decode a whole file back: frame times, luma, audio streams and tags."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        audio = [
            {"codec": s.codec_context.name, "channels": s.codec_context.channels,
             "duration": _duration(c, s)}
            for s in c.streams.audio
        ]
        times, lumas, first = [], [], None
        for frame in c.decode(v):
            first = first or frame
            times.append(frame.pts * frame.time_base)
            if keep_luma:
                dtype = np.uint8 if frame.format.components[0].bits == 8 else np.uint16
                rows = np.frombuffer(frame.planes[0], dtype).reshape(frame.planes[0].height, -1)
                lumas.append(rows[:, : frame.width].copy())
        color = {k: int(getattr(first, k)) for k in ("color_range", "colorspace", "color_primaries", "color_trc")}
        return Probe(v.codec_context.width, v.codec_context.height, first.format.name, times, lumas, audio,
                     color, dict(c.metadata), v.codec_context.name)


def _duration(container: av.container.InputContainer, stream: av.stream.Stream) -> float:
    """Seconds of audio actually in the stream, counted from its decoded samples."""
    samples = 0
    rate = stream.codec_context.sample_rate
    with av.open(container.name) as again:
        for frame in again.decode(again.streams[stream.index]):
            samples += frame.samples
    return samples / rate


def nearest_weights(path: Path, scale: int) -> Path:
    """An ESPCN whose output is the nearest-neighbour enlargement of its input (to ~1e-4).

    One path through the network: x -> tanh(a x) -> tanh(b tanh(a x)) -> / (a b), copied to all
    r*r sub-pixels; with small a and b the tanh are linear. Tests use it to check where every sample
    goes (alignment, bit depth, colour conversion) through the real model code.
    """
    import torch

    a = b = 0.01
    model = ESPCN(scale)
    with torch.no_grad():
        for conv in (model.conv1, model.conv2, model.conv3):
            conv.weight.zero_()
            conv.bias.zero_()
        model.conv1.weight[0, 0, 2, 2] = a
        model.conv2.weight[0, 0, 1, 1] = b
        model.conv3.weight[:, 0, 1, 1] = 1 / (a * b)
    weight_files.save(model, path, {"purpose": "tests: nearest neighbour"})
    return path


def nearest(plane: np.ndarray, scale: int) -> np.ndarray:
    return np.repeat(np.repeat(plane, scale, axis=0), scale, axis=1)


SRT = "1\n00:00:00,000 --> 00:00:00,200\nHello\n\n2\n00:00:00,240 --> 00:00:00,400\nWorld\n"


def packets(path: Path):
    """Per stream: (pts, dts, duration, keyframe, bytes) of every packet, in file order."""
    with av.open(str(path)) as c:
        out = {s.index: [] for s in c.streams}
        for p in c.demux():
            if p.size:
                out[p.stream.index].append((p.pts, p.dts, p.duration, p.is_keyframe, bytes(p)))
    return out


def stream_tags(path: Path):
    """What a player sees of a file's streams: codecs, video size, time base and colour tags."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        cc = v.codec_context
        return ([(s.type, s.codec_context.name) for s in c.streams], (v.width, v.height), Fraction(v.time_base),
                (cc.color_range, cc.colorspace, cc.color_primaries, cc.color_trc))


def with_subtitles(video: Path, out: Path) -> Path:
    """``video``'s streams plus a SubRip subtitle track ("Hello", "World"), remuxed into ``out`` (mkv)."""
    srt = out.with_suffix(".srt")
    srt.write_text(SRT)
    with av.open(str(video)) as v, av.open(str(srt)) as s, av.open(str(out), "w") as o:
        streams = {x.index: o.add_stream_from_template(x) for x in v.streams}
        sub = o.add_stream_from_template(s.streams[0])
        for packets, route in ((v.demux(), lambda p: streams[p.stream.index]), (s.demux(), lambda p: sub)):
            for p in packets:
                if p.size:
                    p.stream = route(p)
                    o.mux(p)
    return out


def subtitle_texts(path: Path) -> List[bytes]:
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(c.streams.subtitles[0]) if p.size]


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny frames gain nothing from intra-op threads, which only fight the codec threads."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def up2(tmp_path_factory):
    """A real ``Upscaler`` x2 on the CPU whose network enlarges by nearest neighbour (``nearest_weights``)."""
    from vsr import Upscaler

    return Upscaler(2, "cpu", weights=nearest_weights(tmp_path_factory.mktemp("w") / "nn2.pt", 2))


@pytest.fixture(scope="module")
def up3(tmp_path_factory):
    from vsr import Upscaler

    return Upscaler(3, "cpu", weights=nearest_weights(tmp_path_factory.mktemp("w") / "nn3.pt", 3))

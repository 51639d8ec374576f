"""Peak memory of ``upscale_video`` does not grow with the length of the video: frames stream through bounded
queues, never a list of the whole clip.

The clip is generated: 640x360 4:2:0, 60 frames and 600 frames. Buffering the long one's decoded frames alone
would take 540 x 346 kB = 187 MB (178 MiB) more than the short one; the test allows 48 MiB of growth. Each run is its own
process (``python -c``: the vsr pipeline and nothing else), which reports its own peak (VmHWM).

The network is replaced by nearest-neighbour enlargement (a subclass of ``Upscaler`` overriding the public
``upscale_luma_tensor``) so that 600 frames take seconds on a CPU; decoding, batching, chroma, queues,
encoding and muxing are the real pipeline.
"""
from fractions import Fraction
import subprocess
import sys

import av
import numpy as np
import pytest

from video_fixtures import nearest_weights, texture

WIDTH, HEIGHT = 640, 360
SHORT, LONG = 60, 600
FRAME_BYTES = WIDTH * HEIGHT * 3 // 2
ALLOWED_GROWTH = 48 << 20

SCRIPT = r"""
import sys
import torch
import torch.nn.functional as F
from vsr import Upscaler
from vsr.video import EncodeOptions, upscale_video

torch.set_num_threads(1)

class Nearest(Upscaler):
    def upscale_luma_tensor(self, y):
        return F.interpolate(y.float(), scale_factor=self.scale, mode="nearest").clamp_(0, 1)

up = Nearest(2, "cpu", weights=sys.argv[3])
summary = upscale_video(sys.argv[1], sys.argv[2], up, EncodeOptions(preset="ultrafast"))
status = open("/proc/self/status").read()
hwm = next(int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmHWM:"))
print(summary.frames, hwm)
"""


def make_clip(path, frames):
    """A 640x360 H.264 clip: eight textures, shifted a little each frame so every frame differs."""
    bases = [texture(WIDTH, HEIGHT, i) for i in range(8)]
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=25, options={"preset": "ultrafast", "crf": "30"})
        s.width, s.height, s.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for i in range(frames):
            f = av.VideoFrame.from_ndarray(np.roll(bases[i % 8], i, axis=1), format="rgb24").reformat(format="yuv420p")
            f.pts, f.time_base = i, Fraction(1, 25)
            out.mux(s.encode(f))
        out.mux(s.encode(None))
    return path


def peak(src, out, weights):
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(src), str(out), str(weights)], capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    frames, hwm = (int(x) for x in done.stdout.split())
    return frames, hwm


@pytest.mark.slow
def test_peak_memory_does_not_grow_with_the_number_of_frames(tmp_path):
    weights = nearest_weights(tmp_path / "nn2.pt", 2)
    short = make_clip(tmp_path / "short.mp4", SHORT)
    long = make_clip(tmp_path / "long.mp4", LONG)
    frames_short, hwm_short = peak(short, tmp_path / "short_x2.mkv", weights)
    frames_long, hwm_long = peak(long, tmp_path / "long_x2.mkv", weights)
    assert (frames_short, frames_long) == (SHORT, LONG)
    with av.open(str(tmp_path / "long_x2.mkv")) as c:
        assert (c.streams.video[0].width, c.streams.video[0].height) == (2 * WIDTH, 2 * HEIGHT)
    growth = hwm_long - hwm_short
    print(f"peak {hwm_short / 2**20:.0f} -> {hwm_long / 2**20:.0f} MiB")
    assert growth < ALLOWED_GROWTH, f"peak grew by {growth / 2**20:.0f} MiB ({hwm_short / 2**20:.0f} -> " \
                                    f"{hwm_long / 2**20:.0f} MiB) for {LONG - SHORT} more frames"
    buffered = (LONG - SHORT) * FRAME_BYTES
    assert buffered > 3.5 * ALLOWED_GROWTH  # the test can fail: buffering the clip would exceed the margin 3.5x

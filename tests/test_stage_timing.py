"""One stage timer for ``vsr bench`` and the benchmark scripts, under the video pipeline's stage names."""
import time

import pytest

from video_fixtures import make_video
from vsr.bench.timing import DECODE, ENCODE, SR, StageTimer
from vsr.upscaler import Upscaler
from vsr.video import upscale_video


def test_seconds_and_frames_add_up_by_key_and_the_warm_up_is_not_timed():
    calls = []

    def work():
        calls.append(None)
        time.sleep(0.2 if len(calls) == 1 else 0.01)  # the first call is the slow one, as a cold start is
        return len(calls)

    timer = StageTimer("cpu")
    assert timer.run(SR, work, 4, warm_up=True) == 2 and len(calls) == 2
    assert timer.run(SR, work, 4) == 3
    timer.add(DECODE, 0.5, 8)
    assert timer.frames == {SR: 8, DECODE: 8}
    assert 0.02 <= timer.seconds[SR] < 0.15 and timer.seconds[DECODE] == 0.5


def test_filled_in_place():
    seconds, frames = {"x": 1.0}, {"x": 1}
    StageTimer("cpu", seconds, frames).add("x", 1.0, 2)
    assert seconds == {"x": 2.0} and frames == {"x": 3}


def test_the_pipeline_reports_its_stages_under_the_same_names(tmp_path, weights_file):
    clip = make_video(tmp_path / "c.y4m", width=32, height=24, frames=2, codec="rawvideo", audio=None).path
    summary = upscale_video(clip, tmp_path / "o.mkv", Upscaler(2, device="cpu", weights=weights_file(2)))
    assert set(summary.busy) == {DECODE, SR, ENCODE}
    assert summary.stage_fps(SR) == pytest.approx(summary.frames / summary.busy[SR])

"""Scale-out pieces that need no Ray: keyframe planning and seeking on real clips, the optional extra.

Planning reads packets only; these tests decode each planned segment from its keyframe (as a worker
does) and check that the segments hold every frame of the file exactly once, in order, with the
timestamps a plain decode gives. Real clips bring edit lists (MP4 with B-frames), a discarded packet
(box.mp4), Matroska and audio-first files.
"""
import subprocess
import sys
from pathlib import Path

import pytest

from vsr.cluster.plan import plan_video
from vsr.video.decode import open_video

from video_fixtures import make_video

REPO = Path(__file__).resolve().parents[1]
# (clip, segments when cut at every keyframe). box.mp4 has B-frames but no ctts box (every pts equals
# its dts), so only a decode from the start gives its frame times: one segment.
CLIPS = [("sam2/01_dog.mp4", 2), ("opencv/box.mp4", 1), ("imageio/test.webm", 2), ("imageio/realshort.mp4", 2),
         ("opencv/cup.mp4", 2)]


def decoded_pts(path: Path, window=None, limit=None):
    with open_video(path, window=window) as v:
        return [f.pts for f in v.items(limit) if hasattr(f, "planes")]


def check_segments_cover_the_file(path: Path, seconds: float) -> int:
    plan = plan_video(path, seconds)
    whole = decoded_pts(path)
    assert plan.frames == len(whole)
    got = []
    for seg in plan.segments:
        part = decoded_pts(path, seg.window, seg.frames)
        assert len(part) == seg.frames, f"segment {seg.index}"
        assert part[0] == seg.start or len(plan.segments) == 1
        got += part
    assert got == whole  # every frame once, in order, with the plain decode's timestamps
    starts = [s.start for s in plan.segments]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    return len(plan.segments)


@pytest.mark.parametrize("clip, segments", CLIPS)
def test_segments_of_real_clips_hold_every_frame_once(shared_data, clip, segments):
    path = shared_data / "video" / clip
    n = check_segments_cover_the_file(path, 0.5)  # cut at every keyframe
    assert n >= segments if segments > 1 else n == 1


def test_short_gop_clip_segment_length_and_open_gop(tmp_path):
    """x264 open GOP (leading B-frames shown before their keyframe) cut every ~1 s."""
    made = make_video(tmp_path / "open.mp4", 64, 48, frames=120,
                      options={"g": "10", "keyint_min": "10", "bf": "3", "open_gop": "1", "sc_threshold": "0"})
    plan = plan_video(made.path, 1.0)
    assert len(plan.segments) == 4  # keyframes every 0.4 s, cut at the first one >= 1 s after the last cut
    assert sum(s.frames for s in plan.segments) == 120
    check_segments_cover_the_file(made.path, 0.3)


def test_y4m_has_no_index_but_still_covers(tmp_path):
    src = REPO / "samples" / "dog_320x180.y4m"
    check_segments_cover_the_file(src, 0.1)


def run_vsr(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          cwd=REPO, env={**__import__("os").environ, "PYTHONPATH": str(REPO)})


def test_without_ray_flag_ray_is_never_imported(tmp_path):
    out = tmp_path / "o.mp4"
    r = run_vsr(f"import sys; from vsr.cli import main; "
                f"code = main(['upscale', 'samples/dog_320x180.y4m', {str(out)!r}, '--scale', '2', '--frames', '2']); "
                f"print(code, 'ray' in sys.modules, 'vsr.cluster.scheduler' in sys.modules)")
    assert r.stdout.split() == ["0", "False", "False"], r.stderr


def test_without_the_extra_ray_answers_how_to_install(tmp_path):
    r = run_vsr("import sys; sys.modules['ray'] = None; from vsr.cli import main; "
                f"sys.exit(main(['upscale', 'samples/dog_320x180.y4m', {str(tmp_path / 'o.mp4')!r}, '--ray', 'local']))")
    assert r.returncode == 1
    assert r.stderr.strip() == "vsr: error: --ray needs Ray, which is not installed: pip install 'vsr[ray]'"

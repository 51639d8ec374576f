"""The stream-copy join of encoded segments (``cluster/join.py``, the ``Muxer`` alone) without
Ray: segments written as a worker writes them (``upscale_video`` on a keyframe ``Window`` into NUT) and joined
give the single-machine file, packet for packet, with its audio once and its colour tags."""
from dataclasses import replace

from video_fixtures import BT709, make_video, packets, stream_tags
from vsr.cluster.join import join_segments
from vsr.cluster.plan import plan_video
from vsr.cluster.worker import SEGMENT_FORMAT
from vsr.upscaler import Upscaler
from vsr.video.decode import Window
from vsr.video.encode import EncodeOptions
from vsr.video.pipeline import upscale_video
from vsr.video.target import OutputTarget

FFV1 = EncodeOptions(codec="ffv1")


def test_joined_segments_are_the_single_run_packet_for_packet(tmp_path):
    src = make_video(tmp_path / "in.mp4", 96, 54, frames=60, color=BT709,
                     options={"g": "12", "keyint_min": "12", "bf": "2", "sc_threshold": "0"}).path
    up = Upscaler(2, device="cpu")
    single = tmp_path / "single.mkv"
    upscale_video(src, single, up, FFV1)

    plan = plan_video(src, 0.5)
    assert len(plan.segments) >= 3, plan.segments
    segments = []
    for k, seg in enumerate(plan.segments):
        path = tmp_path / f"seg-{k}.nut"
        upscale_video(src, path, up, replace(FFV1, audio=False, subtitles=False, format=SEGMENT_FORMAT),
                      window=Window(seg.seek, seg.start, seg.end))
        segments.append(path)
    joined = tmp_path / "joined.mkv"
    target = OutputTarget(joined, False, src)
    assert join_segments(str(src), segments, target, FFV1) == 60
    target.commit()

    a, b = packets(single), packets(joined)
    assert len(b[0]) == 60 and len(b[1]) > 60  # every frame; the audio once, not once per segment
    assert a == b
    assert stream_tags(joined) == stream_tags(single)
    assert stream_tags(joined)[3] == (1, 1, 1, 1)  # NUT keeps no colour tags: they come from the source

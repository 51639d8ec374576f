"""The stream-copy join of encoded segments (``cluster/join.py``, ``VideoSink(copy_video_from=...)``) without
Ray: segments written as a worker writes them (``upscale_video`` on a keyframe ``Window`` into NUT) and joined
give the single-machine file, packet for packet, with its audio once and its colour tags."""
from dataclasses import replace

import av
import pytest

from video_fixtures import BT709, make_video, packets, stream_tags
from vsr.cluster.join import join_segments
from vsr.cluster.plan import plan_video
from vsr.cluster.worker import SEGMENT_FORMAT
from vsr.upscaler import Upscaler
from vsr.video.decode import Window, open_video
from vsr.video.encode import EncodeOptions, VideoSink
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


def test_a_sink_is_either_an_encoder_or_a_copier(tmp_path):
    """Frames into a copying sink, or packets into an encoding one, would write a stream that is not what
    its header says: both are refused."""
    src = make_video(tmp_path / "in.mp4", 64, 48, frames=2, audio=None).path
    with open_video(src) as video, av.open(str(src)) as demuxer:
        info, frame = video.info, next(iter(video))
        stream = demuxer.streams.video[0]
        packet = next(p for p in demuxer.demux(stream) if p.size)
        with VideoSink(str(tmp_path / "copy.mkv"), info, copy_video_from=stream) as copier:
            with pytest.raises(TypeError):
                copier.write(frame)
        with VideoSink(str(tmp_path / "enc.mkv"), info) as encoder:
            with pytest.raises(TypeError):
                encoder.write_video_packet(packet)


"""The real ``ffmpeg``/``ffprobe`` binaries as vsr's peers on loopback: senders into vsr, servers and receivers
of its output, and the judge of what vsr wrote.

The other stream tests use a PyAV sender and PyAV readers, written here and linked against PyAV's own FFmpeg;
these use the system's FFmpeg (another build, another version: Debian's), which nobody in this project wrote.
ffmpeg encodes live the way a camera gateway or OBS does (x264 ``-tune zerolatency``, paced by ``-re``),
listens as an RTMP or RTSP server, and receives MPEG-TS over UDP; ffprobe decodes every frame of what vsr
wrote (``-count_frames``) and reads its frame sizes, picture types and colour tags.

Every process is bounded: ffmpeg by ``-t``/``-frames`` and its own I/O timeouts, everything by a subprocess
timeout, and whatever is still running when a test ends is killed. Tests wait for events (a port bound, a
process ending), never for a time. Assertions are about counts, sizes, picture types and tags.

The input is 3 s (90 frames) of SAM 2's dog at 192x108 with AAC audio, tagged BT.709 by ffmpeg's own
``h264_metadata`` bitstream filter: BT.709 on a small picture is not what a player guesses (BT.601), so tags
that are lost show.

Checked by temporary mutations of vsr (each failed the tests named): colour tags not set on the encoder
(all six); vsr's low-latency x264 defaults gone (the RTMP and UDP outputs: one keyframe, B-frames; the RTSP
server gave up on the B-frames' timestamps); UDP output muxed as FLV (the UDP receiver); RTMP output muxed
as MPEG-TS (the RTMP server); audio streams not copied (all six); the encoder never flushed (the file test:
79 of 90 frames); a live input's --frames limit off by one (both inputs).
"""
from dataclasses import dataclass
import json
import os
from pathlib import Path
import re
import shutil
import subprocess
import sys
from typing import Dict, List

import pytest

from stream_tools import finish, free_port, make_clip, wait_bound
from video_fixtures import BT709

ROOT = Path(__file__).resolve().parents[1]
CLIP_SRC = ROOT.parent / "shared" / "data" / "video" / "sam2" / "01_dog.mp4"
CLIP_FRAMES = 90  # 3 s at 29.97 fps
HARD = 60  # seconds any one process may run
FFMPEG, FFPROBE = shutil.which("ffmpeg"), shutil.which("ffprobe")

pytestmark = pytest.mark.skipif(FFMPEG is None or FFPROBE is None,
                                reason="the ffmpeg and ffprobe programs are not installed (apt-get install ffmpeg)")

# BT709 (video_fixtures) as the H.264 VUI numbers h264_metadata writes, and as ffprobe names them.
VUI = {"colour_primaries": BT709["color_primaries"], "transfer_characteristics": BT709["color_trc"],
       "matrix_coefficients": BT709["colorspace"], "video_full_range_flag": int(BT709["color_range"] == 2)}
BT709_NAMES = {"color_range": "tv", "color_space": "bt709", "color_primaries": "bt709", "color_transfer": "bt709"}


# ---- processes -----------------------------------------------------------------------------------
def ffmpeg(*args) -> List[str]:
    return [FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *map(str, args)]


@pytest.fixture
def start():
    """``start(argv)``: a process with its output piped; any still running when the test ends is killed."""
    started: List[subprocess.Popen] = []

    def run(argv: List[str]) -> subprocess.Popen:
        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=env)
        started.append(proc)
        return proc

    try:
        yield run
    finally:
        for proc in started:
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=HARD)


@pytest.fixture
def vsr(start, weights_file):
    """``vsr(SOURCE, OUTPUT, *flags)``: ``vsr upscale`` x2 on the CPU with small untrained weights."""

    def run(source, output, *flags: str, scale: int = 2) -> subprocess.Popen:
        return start([sys.executable, "-m", "vsr", "upscale", str(source), str(output), "--scale", str(scale),
                      "--device", "cpu", "--weights", str(weights_file(scale)), "--no-progress", *flags])

    return run


def written(err: str) -> int:
    """The frame count of vsr's summary line."""
    m = re.search(r"^vsr: (\d+) frames in ", err, re.M)
    assert m, err
    return int(m.group(1))


# ---- ffprobe ---------------------------------------------------------------------------------------
@dataclass
class Probe:
    video: Dict  # ffprobe's first video stream, nb_read_frames counted by decoding every frame
    audio: List[Dict]  # its audio streams, counted the same way
    frames: List[Dict]  # every decoded video frame: width, height, key_frame, pict_type

    @property
    def sizes(self) -> set:
        return {(f["width"], f["height"]) for f in self.frames}

    @property
    def tags(self) -> Dict[str, str]:
        return {k: self.video.get(k, "unknown") for k in BT709_NAMES}

    def count(self, **match) -> int:
        return sum(all(f.get(k) == v for k, v in match.items()) for f in self.frames)


def probe(path: Path) -> Probe:
    def run(*args) -> Dict:
        done = subprocess.run([FFPROBE, "-v", "error", *args, "-of", "json", str(path)], stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=HARD)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    streams = run("-count_frames", "-show_streams")["streams"]
    frames = run("-select_streams", "v:0", "-show_entries", "frame=width,height,key_frame,pict_type")["frames"]
    video = [s for s in streams if s["codec_type"] == "video"]
    assert len(video) == 1, streams
    return Probe(video[0], [s for s in streams if s["codec_type"] == "audio"], frames)


def frames_of(p: Probe) -> int:
    return int(p.video["nb_read_frames"])


def audio_frames(p: Probe) -> int:
    return sum(int(a.get("nb_read_frames", 0)) for a in p.audio)


# ---- the clip --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """The dog at 192x108 (H.264 + AAC), re-tagged BT.709 by ffmpeg without re-encoding."""
    if not CLIP_SRC.is_file():
        pytest.skip(f"shared clip not found: {CLIP_SRC}")
    folder = tmp_path_factory.mktemp("clip")
    plain = make_clip(CLIP_SRC, folder / "dog192.mp4", 192, 108, seconds=3.0)
    tagged = folder / "dog192-bt709.mp4"
    vui = ":".join(f"{k}={v}" for k, v in VUI.items())
    done = subprocess.run(ffmpeg("-i", plain, "-map", "0", "-c", "copy", "-bsf:v", f"h264_metadata={vui}", tagged),
                          capture_output=True, text=True, timeout=HARD)
    assert done.returncode == 0, done.stderr
    p = probe(tagged)
    assert p.tags == BT709_NAMES and frames_of(p) == CLIP_FRAMES and p.audio, p  # what every test starts from
    return tagged


def check_stream_output(p: Probe, frames: int, size=(384, 216)) -> None:
    """What a viewer of vsr's network output needs: every frame at the upscaled size, the colour tags, audio,
    and a stream a receiver can join: a keyframe every second (vsr's ``g`` = the frame rate), no B-frames."""
    assert frames_of(p) == len(p.frames) == frames, (frames_of(p), len(p.frames))
    assert p.sizes == {size} and (p.video["width"], p.video["height"]) == size
    assert p.tags == BT709_NAMES
    assert p.count(key_frame=1) >= frames // 30 and p.count(pict_type="B") == 0, p.frames
    assert audio_frames(p) > 0, p.audio


# ---- ffmpeg sends, vsr receives ---------------------------------------------------------------------
def check_received_file(p: Probe, audio_codec: str) -> None:
    """What vsr wrote from a sender's stream: exactly 45 frames, upscaled, BT.709 kept, the audio copied."""
    assert frames_of(p) == len(p.frames) == 45
    assert p.sizes == {(384, 216)} and p.tags == BT709_NAMES
    assert [a["codec_name"] for a in p.audio] == [audio_codec] and audio_frames(p) > 0


def test_ffmpeg_udp_mpegts_sender_into_vsr(clip, vsr, start, tmp_path):
    """ffmpeg encodes live (x264 zerolatency, MP2 audio: its MPEG-TS default) to vsr's UDP port; vsr upscales
    the first 45 frames (--realtime off keeps each) into Matroska.

    Catches: an MPEG-TS stream from a real encoder that vsr's UDP input cannot open or decode (its own tests'
    sender only stream-copies), frames lost, dropped or repeated although --realtime off, --frames not
    stopping the run cleanly (exit 0) at exactly 45, a wrong output size, the audio or colour tags lost."""
    port = free_port()
    out = tmp_path / "out.mkv"
    proc = vsr(f"udp://127.0.0.1:{port}", out, "--realtime", "off", "--frames", "45")
    wait_bound(port, "udp", proc=proc)
    sender = start(ffmpeg("-re", "-i", clip, "-t", 3, "-c:v", "libx264", "-tune", "zerolatency",
                          "-f", "mpegts", f"udp://127.0.0.1:{port}?pkt_size=1316"))
    err = finish(proc)
    finish(sender)
    assert proc.returncode == 0 and written(err) == 45, err
    check_received_file(probe(out), "mp2")  # copied, not re-encoded


def test_ffmpeg_rtmp_publisher_into_vsr_listening(clip, vsr, start, tmp_path):
    """OBS's part played by ffmpeg: it publishes FLV (x264 veryfast zerolatency + AAC, as OBS encodes) to vsr
    listening on rtmp:// with ``-I listen=1``; vsr writes the first 45 frames, upscaled, to MP4.

    Catches: vsr's RTMP server mode not accepting a real client's handshake and publish (the PyAV sender of
    the other tests runs vsr's own FFmpeg; this one is another build and version), frames lost with
    --realtime off, --frames not ending the run with exit 0 at exactly 45, a wrong size, the audio or colour
    tags lost."""
    port = free_port()
    out = tmp_path / "out.mp4"
    proc = vsr(f"rtmp://127.0.0.1:{port}/live/obs", out, "-I", "listen=1", "--realtime", "off", "--frames", "45")
    wait_bound(port, "tcp", proc=proc)
    # The publisher is cut off when vsr has its 45 frames and leaves: its exit status says nothing about vsr.
    sender = start(ffmpeg("-re", "-i", clip, "-t", 3, "-c:v", "libx264", "-preset", "veryfast",
                          "-tune", "zerolatency", "-c:a", "aac", "-f", "flv", f"rtmp://127.0.0.1:{port}/live/obs"))
    err = finish(proc)
    finish(sender)
    assert proc.returncode == 0 and written(err) == 45, err
    check_received_file(probe(out), "aac")


# ---- vsr sends, ffmpeg receives ---------------------------------------------------------------------
SERVERS = {  # how FFmpeg listens, the URL vsr publishes to, the file the server copies into
    "rtmp": (["-listen", 1, "-timeout", HARD], "rtmp://127.0.0.1:{port}/live/key", "rx.flv"),
    "rtsp": (["-rtsp_flags", "listen", "-listen_timeout", HARD], "rtsp://127.0.0.1:{port}/live", "rx.mkv"),
}


@pytest.mark.parametrize("protocol", sorted(SERVERS))
def test_vsr_publishes_to_an_ffmpeg_server(clip, vsr, start, tmp_path, protocol):
    """ffmpeg is the server (RTMP ``-listen 1``; RTSP ``-rtsp_flags listen``: vsr ANNOUNCEs and RECORDs) and
    stream-copies what vsr publishes into a file. (For RTSP vsr asks for TCP; FFmpeg's server takes UDP as
    well, so the transport is not checked here.)

    Catches: a stream FFmpeg's server refuses or cannot demux, a handshake not completed (SDP, SETUP,
    RECORD) or a session not ended so that the server finishes its file, frames missing at the receiver,
    a wrong size, audio not carried, colour tags lost on the way, and vsr's network encoder defaults
    missing (a keyframe a second so a viewer can join, no B-frames) - vsr's own tests cannot see those."""
    listen, url, name = SERVERS[protocol]
    port = free_port()
    rx = tmp_path / name
    server = start(ffmpeg(*listen, "-i", url.format(port=port), "-map", 0, "-c", "copy", "-t", 30, rx))
    wait_bound(port, "tcp", proc=server)
    proc = vsr(clip, url.format(port=port))
    err = finish(proc)
    finish(server)
    assert proc.returncode == 0 and written(err) == CLIP_FRAMES, err
    check_stream_output(probe(rx), CLIP_FRAMES)


def test_vsr_udp_mpegts_to_an_ffmpeg_receiver(clip, vsr, start, tmp_path):
    """ffmpeg receives vsr's MPEG-TS over UDP and stream-copies it to a file.

    UDP has no end, so the receiver stops by count: at 89 video frames (FFmpeg hands on a stream's last
    H.264 frame only when the next one starts or the input ends - its parser waits for the next access unit
    even though vsr writes PES lengths - and a UDP input never ends) and
    100 audio frames (of the clip's ~140); a stream short of either leaves it waiting until its 30 s read
    timeout, and the counts then fail. The receiver expects MPEG-TS (``-f mpegts``), as the docs promise:
    FFmpeg would otherwise detect another container, such as FLV, and read it as well.

    Catches: vsr writing UDP output in a container FFmpeg cannot read live (not MPEG-TS), frames lost or
    audio not sent, a wrong size, colour tags lost, no keyframe every second, B-frames in a live stream."""
    port = free_port()
    rx = tmp_path / "rx.ts"
    receiver = start(ffmpeg("-timeout", 30_000_000, "-analyzeduration", 1_000_000, "-f", "mpegts",
                            "-i", f"udp://127.0.0.1:{port}",
                            "-map", 0, "-c", "copy", "-frames:v", CLIP_FRAMES - 1, "-frames:a", 100, rx))
    wait_bound(port, "udp", proc=receiver)
    proc = vsr(clip, f"udp://127.0.0.1:{port}?pkt_size=1316")
    err = finish(proc)
    finish(receiver)
    assert proc.returncode == 0 and written(err) == CLIP_FRAMES, err
    p = probe(rx)
    check_stream_output(p, CLIP_FRAMES - 1)
    assert audio_frames(p) == 100


# ---- ffprobe judges a file ---------------------------------------------------------------------------
def test_ffprobe_counts_frames_and_reads_colour_tags_of_a_file(clip, vsr, tmp_path):
    """A BT.709-tagged file upscaled x3 to MP4: ffprobe decodes 90 frames of 576x324 and reads tv/bt709 for
    the range, matrix, primaries and transfer.

    Catches: colour tags not copied from the input to the encoder (a player would then use BT.601 for this
    small picture and shift every colour), frames lost or added in a file run, a wrong size, audio lost."""
    out = tmp_path / "out.mp4"
    proc = vsr(clip, out, scale=3)
    err = finish(proc)
    assert proc.returncode == 0 and written(err) == CLIP_FRAMES, err
    p = probe(out)
    assert frames_of(p) == len(p.frames) == CLIP_FRAMES
    assert p.sizes == {(576, 324)}
    assert p.tags == BT709_NAMES, p.video
    assert [a["codec_name"] for a in p.audio] == ["aac"] and audio_frames(p) > 0

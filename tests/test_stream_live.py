"""``vsr live --source URL``: a live network stream in the preview loop (headless), loopback only."""
import os
from pathlib import Path
import re
import subprocess
import sys

import pytest

from stream_tools import SENDER, free_port, make_clip, wait_bound

ROOT = Path(__file__).resolve().parents[1]
CLIP_SRC = ROOT.parent / "shared" / "data" / "video" / "sam2" / "01_dog.mp4"
HARD = 90


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    if not CLIP_SRC.is_file():
        pytest.skip(f"shared clip not found: {CLIP_SRC}")
    return make_clip(CLIP_SRC, tmp_path_factory.mktemp("clip") / "dog192.mp4", 192, 108, seconds=3.0, audio=False)


def _run(args, sender_args, port):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    vsr = subprocess.Popen([sys.executable, "-m", "vsr", "live", *args], env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        wait_bound(port, "udp", proc=vsr)
        sender = subprocess.Popen([sys.executable, str(SENDER), *sender_args], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        out, err = vsr.communicate(timeout=HARD)
    finally:
        vsr.kill()
    sender.kill()
    sender.communicate(timeout=HARD)
    return vsr.returncode, out, err


def test_live_udp_source_headless_until_frame_limit(clip):
    port = free_port()
    code, out, err = _run(["--source", f"udp://127.0.0.1:{port}", "--no-window", "--max-frames", "10",
                           "--scale", "2", "-I", "fifo_size=65536"],
                          [str(clip), f"udp://127.0.0.1:{port}?pkt_size=1316", "--format", "mpegts", "--loops", "10"],
                          port)
    assert code == 0, err
    m = re.search(r"vsr live: (\d+) frames .* dropped (\d+)", out)
    assert m and int(m.group(1)) == 10, out


def test_live_udp_source_that_stalls_ends_with_one_line(clip):
    port = free_port()
    code, out, err = _run(["--source", f"udp://127.0.0.1:{port}", "--no-window", "--scale", "2"],
                          [str(clip), f"udp://127.0.0.1:{port}?pkt_size=1316", "--format", "mpegts"], port)
    assert code == 1, (out, err)
    lines = [l for l in err.splitlines() if l.startswith("vsr: error:")]
    assert len(lines) == 1 and "stopped delivering frames" in lines[0] and "Traceback" not in err, err

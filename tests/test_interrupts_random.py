"""Randomly timed interrupts, the suite's share of ``benchmarks/interrupts.py``: two runs of each kind
(file, stdin, UDP to UDP/HLS/RTMP with real FFmpeg peers, live, train, bench) with fixed seeds, each
interrupted once by SIGINT, SIGTERM or SIGHUP. A run passes when it exits 0 or 130 (or 1 when its source
ended before the signal), with no traceback or C++ ``terminate``, no hang, and a playable output or none,
no temporary file, an HLS playlist with its end tag. The delays are fixed, the moment they hit is not:
that is the point; whatever the phase, the answer must be the same.
"""
from pathlib import Path
import random
import shutil
import sys

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import interrupts as bench  # noqa: E402  benchmarks/interrupts.py

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
                                reason="needs Debian's ffmpeg (sender, RTMP server, receiver, ffprobe)")
WINDOW = {"file": 8.0, "stdin": 8.0, "udp-udp": 9.0, "udp-hls": 9.0, "udp-rtmp": 9.0, "live": 6.0,
          "train": 5.0, "bench": 3.0}  # seconds over which the delay is drawn: about each kind's run here


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return bench.Inputs(tmp_path_factory.mktemp("interrupt-inputs"))


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("kind", bench.KINDS)
def test_a_randomly_timed_signal(kind, seed, inputs, tmp_path):
    rng = random.Random(f"{kind}-{seed}")
    sig, delay = rng.choice(bench.SIGNALS), rng.uniform(0.0, WINDOW[kind])
    outcome = bench.run_one(kind, sig, delay, inputs, tmp_path / "run", use_script=seed == 2)
    assert outcome.verdict == "ok", outcome

"""Fuzz: small valid clips, mutated by hypothesis (bit flips, overwritten, deleted and inserted bytes,
truncation), fed to ``vsr upscale``. Every example must keep the reliability contract; each runs in
its own process with a time limit, and the example count is fixed (derandomized) so CI stays fast.

The contract alone would pass a vsr that refused every file ("exit 1, one line"), so the test also asserts
what is known: each unmutated seed upscales cleanly (the control), and of the mutants that FFmpeg itself
decodes at least one frame from, vsr turns at least ``MIN_CLEAN`` of them into an output that plays
(``vsr`` skips damage as FFmpeg does), with no fewer frames than FFmpeg decoded, less ``FRAME_SLACK``.
"""
import itertools

from hypothesis import HealthCheck, given, settings, strategies as st
import pytest

from reliability_contract import check, ffmpeg_frames, record, run_cli, sha256
from video_fixtures import make_video, nearest_weights

EXAMPLES = 25
MIN_CLEAN = 0.8  # of the mutants FFmpeg decodes (measured: all of them)
FRAME_SLACK = 2  # frames vsr may lose against FFmpeg on a damaged file (a damaged first packet, the size probe)

# Where in the file, as a fraction of its length. Mostly past the first tenth: hypothesis favours
# small values, and a clip whose header is gone is only ever "cannot read".
where = st.floats(0.1, 1.0)
mutation = st.one_of(
    st.tuples(st.just("flip"), where, st.integers(0, 7)),
    st.tuples(st.just("set"), where, st.integers(0, 255)),
    st.tuples(st.just("delete"), where, st.integers(1, 64)),
    st.tuples(st.just("insert"), where, st.binary(min_size=1, max_size=64)),
    st.tuples(st.just("truncate"), st.floats(0.02, 1.0), st.just(0)),
)


def mutate(data: bytes, mutations) -> bytes:
    b = bytearray(data)
    for kind, where, arg in mutations:
        if not b:
            break
        i = min(int(where * len(b)), len(b) - 1)
        if kind == "flip":
            b[i] ^= 1 << arg
        elif kind == "set":
            b[i] = arg
        elif kind == "delete":
            del b[i:i + arg]
        elif kind == "insert":
            b[i:i] = arg
        else:
            del b[i:]
    return bytes(b)


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    d = tmp_path_factory.mktemp("fuzz")
    return {
        "mkv": make_video(d / "seed.mkv", width=32, height=24, frames=8).path.read_bytes(),
        "mp4": make_video(d / "seed.mp4", width=32, height=24, frames=8, audio=None).path.read_bytes(),
        "weights": nearest_weights(d / "nn2.pt", 2),
    }


@pytest.mark.parametrize("kind", ["mkv", "mp4"])
def test_control_seed_upscales_cleanly(seeds, tmp_path, kind):
    src = tmp_path / f"in.{kind}"
    src.write_bytes(seeds[kind])
    out = tmp_path / "out.mp4"
    run = run_cli(["upscale", src, out, "--scale", 2, "--weights", seeds["weights"]], timeout=60)
    outcome = check(run, out, (32, 24), 2, ["in." + kind])
    assert (outcome.code, outcome.frames) == (0, 8), run.stderr


def test_mutated_clips_keep_the_contract(seeds, tmp_path_factory):
    counter = itertools.count()
    tally = {0: 0, 1: 0, "damaged": 0, "decodable": 0, "clean": 0}

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(kind=st.sampled_from(["mkv", "mp4"]), mutations=st.lists(mutation, min_size=1, max_size=6))
    def example(kind, mutations):
        d = tmp_path_factory.mktemp(f"case{next(counter)}")
        src = d / f"in.{kind}"
        src.write_bytes(mutate(seeds[kind], mutations))
        before = sha256(src)
        out_dir = d / "out"
        out_dir.mkdir()
        out = out_dir / "out.mp4"
        run = run_cli(["upscale", src, out, "--scale", 2, "--weights", seeds["weights"]], timeout=60)
        outcome = check(run, out, None, 2, [])
        tally[outcome.code] += 1
        tally["damaged"] += "is damaged" in run.stderr
        assert sha256(src) == before
        reference = ffmpeg_frames(src)
        if reference:
            tally["decodable"] += 1
            tally["clean"] += outcome.code == 0 and outcome.frames >= reference - FRAME_SLACK

    example()
    record("fuzz", f"{EXAMPLES} mutated mkv/mp4 clips (hypothesis, derandomized)",
           f"{tally[0]} gave a playable output ({tally['damaged']} of them with the damaged-input warning), "
           f"{tally[1]} a one-line error; no traceback, hang or stray file; of the {tally['decodable']} that FFmpeg "
           f"decodes, {tally['clean']} upscaled to as many frames")
    print(tally)
    assert tally["decodable"] >= 5, tally  # the corpus exercises damage FFmpeg gets through
    assert tally["clean"] >= MIN_CLEAN * tally["decodable"], tally

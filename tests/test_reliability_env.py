"""A hostile environment: nowhere to write, a full disk, no GPU, bad weights.

Each is a one-line error with exit 1; nothing is left at the output path (nor a temporary file beside
it) and the input is byte for byte what it was. The full disk runs as a real ``python -m vsr``
process (its file-size limit is set before exec); the rest run the CLI in a forked process.
"""
from pathlib import Path
import resource

import pytest
import torch

from reliability_contract import check, leftovers, record, run_cli, run_vsr, sha256
from video_fixtures import make_video, nearest_weights


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("env")
    clip = make_video(d / "in.mkv", width=64, height=48, frames=30).path
    return clip, nearest_weights(d / "nn2.pt", 2)


def expect_error(tmp_path, case: str, args, message: str, output, **kw) -> None:
    clip = args[1]
    before = sha256(clip)
    inspect = output.parent.is_dir() and output.parent.resolve() != Path("/proc")
    existing = sorted(p.name for p in output.parent.iterdir()) if inspect else None
    run = run_vsr(args, **kw) if kw else run_cli(args)
    outcome = check(run, output, None, 2, existing)
    record("environment", case, outcome.summary)
    assert outcome.code == 1 and message in run.stderr, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    assert sha256(clip) == before


def test_output_folder_missing_or_unwritable(tmp_path, setup):
    clip, weights = setup
    common = ["--scale", 2, "--weights", weights]
    missing = tmp_path / "no-such-folder" / "out.mp4"
    expect_error(tmp_path, "output folder does not exist", ["upscale", clip, missing, *common],
                 "output folder does not exist", missing)
    (tmp_path / "a-file").write_text("not a folder")
    under_file = tmp_path / "a-file" / "out.mp4"
    expect_error(tmp_path, "output 'folder' is a regular file", ["upscale", clip, under_file, *common],
                 "output folder does not exist", under_file)
    # Root ignores permission bits, but nobody can create files in /proc.
    proc = tmp_path / "proc-link"
    proc.symlink_to("/proc")
    unwritable = proc / "out.mp4"
    expect_error(tmp_path, "output folder not writable (/proc)", ["upscale", clip, unwritable, *common],
                 "cannot write", unwritable)


def test_disk_full_is_a_one_line_error_and_leaves_nothing(tmp_path, setup):
    """A 20 kB file-size limit (RLIMIT_FSIZE) stands in for a full disk: writes fail with EFBIG."""
    clip, weights = setup

    def limit_file_size():
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    out = tmp_path / "out.mp4"
    expect_error(tmp_path, "disk full (20 kB RLIMIT_FSIZE)", ["upscale", clip, out, "--scale", 2, "--weights", weights],
                 "file too large", out, preexec_fn=limit_file_size)
    assert leftovers(tmp_path, []) == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_cuda_requested_but_absent(tmp_path, setup):
    clip, weights = setup
    out = tmp_path / "out.mp4"
    expect_error(tmp_path, "--device cuda without a GPU", ["upscale", clip, out, "--device", "cuda", "--weights",
                                                           weights, "--scale", 2], "no CUDA GPU", out)


def test_weights_missing_or_corrupt(tmp_path, setup):
    clip, weights = setup
    out = tmp_path / "out.mp4"
    expect_error(tmp_path, "weights file missing", ["upscale", clip, out, "--scale", 2, "--weights",
                                                    tmp_path / "nope.pt"], "weights file not found", out)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(weights.read_bytes()[:1000])
    expect_error(tmp_path, "weights file truncated", ["upscale", clip, out, "--scale", 2, "--weights", truncated],
                 "not a vsr weights file", out)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x80\x04junk" * 100)
    expect_error(tmp_path, "weights file of junk bytes", ["upscale", clip, out, "--scale", 2, "--weights", junk],
                 "not a vsr weights file", out)
    expect_error(tmp_path, "weights for the wrong scale", ["upscale", clip, out, "--scale", 3, "--weights", weights],
                 "is for x2, not x3", out)

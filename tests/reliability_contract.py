"""The reliability contract of ``vsr upscale``, checked the way a user meets it: in a subprocess.

Every run ends in one of two ways: exit 0 with an output that decodes, frame by frame, at ``scale``
times the input size; or exit 1 with a single ``vsr: error: ...`` line, no traceback, and nothing at
the output path. Either way no temporary file is left beside the output and the input is unchanged.
Each run has a time limit, so a hang fails the test instead of stalling the suite.

``run_cli`` runs the CLI's ``main`` in a process forked from a fork server that has already imported
vsr (and torch), so each of the many corpus cases costs a fork rather than a 2-second interpreter
start; ``run_vsr`` starts ``python -m vsr`` itself, for the cases that concern the whole process.
"""
from dataclasses import dataclass
import hashlib
import json
import multiprocessing
import os
from pathlib import Path
import subprocess
import sys
import tempfile
from typing import List, Optional, Sequence

import av

VSR = [sys.executable, "-m", "vsr"]
ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1")
TIMEOUT = 120  # seconds; tiny inputs take a few seconds even on a busy machine


@dataclass
class Outcome:
    code: int
    stderr: str
    frames: int  # frames decoded from the output (0 when there is none)
    size: Optional[tuple]  # (width, height) of the output

    @property
    def summary(self) -> str:
        """One line for reliability.md: the exit code and what the user saw last."""
        last = self.stderr.strip().splitlines()[-1] if self.stderr.strip() else ""
        return f"exit {self.code}; {self.frames} frames" + (f"; `{last}`" if last else "")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_vsr(args: Sequence, timeout: float = TIMEOUT, **kw) -> subprocess.CompletedProcess:
    """``vsr -q ARGS`` (warnings and errors only) with a time limit."""
    return subprocess.run(VSR + ["-q"] + [str(a) for a in args], capture_output=True, text=True, env=ENV,
                          timeout=timeout, **kw)


_FORKS = multiprocessing.get_context("forkserver")
_FORKS.set_forkserver_preload(["vsr.cli", "vsr.video.pipeline"])


def _cli_child(argv: List[str], log_path: str) -> None:
    """In the forked process: stdout and stderr to ``log_path``, run the CLI, exit with its code."""
    import torch

    from vsr.cli import main

    torch.set_num_threads(1)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse usage errors
        code = exc.code if isinstance(exc.code, int) else 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run_cli(args: Sequence, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    """``vsr -q ARGS`` through the CLI's ``main`` in a forked process, killed after ``timeout`` s."""
    argv = ["-q"] + [str(a) for a in args]
    fd, log_path = tempfile.mkstemp(prefix="vsr-cli-", suffix=".log")
    os.close(fd)
    try:
        child = _FORKS.Process(target=_cli_child, args=(argv, log_path))
        child.start()
        child.join(timeout)
        if child.is_alive():
            child.kill()
            child.join()
            raise subprocess.TimeoutExpired(["vsr"] + argv, timeout)
        with open(log_path, errors="replace") as f:
            return subprocess.CompletedProcess(["vsr"] + argv, child.exitcode, "", f.read())
    finally:
        os.unlink(log_path)


def decoded_frames(path: Path) -> List[av.VideoFrame]:
    """Every frame of the first video stream; raises if the file does not play to its end."""
    with av.open(str(path)) as c:
        return list(c.decode(video=0))


def ffmpeg_frames(path: Path) -> int:
    """How many video frames FFmpeg itself (PyAV, without vsr) decodes from a file, skipping packets it
    rejects as ``vsr`` does: the known answer for a damaged input (0: vsr must fail with one line)."""
    n = 0
    try:
        with av.open(str(path)) as c:
            for packet in c.demux(video=0):
                try:
                    n += len(packet.decode())
                except av.FFmpegError:
                    continue
    except (av.FFmpegError, IndexError, ValueError, OSError):
        pass
    return n


def leftovers(folder: Path, expected: Sequence[str]) -> List[str]:
    """Names in ``folder`` other than ``expected``: temporary or partial files a run left behind."""
    return sorted(p.name for p in folder.iterdir() if p.name not in expected)


def check(run: subprocess.CompletedProcess, output: Path, in_size: Optional[tuple], scale: int,
          folder_before: Optional[Sequence[str]]) -> Outcome:
    """Assert the contract for a finished run and describe what happened.

    ``folder_before`` lists the output folder before the run (None: not a folder to inspect).
    """
    err = run.stderr
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert run.returncode in (0, 1), (run.returncode, err)
    if run.returncode == 1:
        lines = err.strip().splitlines()
        assert lines and lines[-1].startswith("vsr: error: "), err
        assert all(line.startswith("vsr: ") for line in lines), err
        assert not output.exists(), f"a failed run left {output}"
        if folder_before is not None:
            assert leftovers(output.parent, folder_before) == []
        return Outcome(1, err, 0, None)
    assert output.is_file() and output.stat().st_size > 0
    assert leftovers(output.parent, list(folder_before) + [output.name]) == []
    frames = decoded_frames(output)
    assert frames, f"{output} holds no frame"
    size = (frames[0].width, frames[0].height)
    if in_size is not None:
        assert size == (scale * in_size[0], scale * in_size[1]), size
    return Outcome(0, err, len(frames), size)


def record(group: str, case: str, outcome: str) -> None:
    """Append a case's outcome to the JSON-lines file named by $VSR_RELIABILITY_LOG, if set.

    ``benchmarks/results/reliability.md`` is written from that log, so it lists exactly what ran.
    """
    log = os.environ.get("VSR_RELIABILITY_LOG")
    if log:
        with open(log, "a") as f:
            f.write(json.dumps({"group": group, "case": case, "outcome": outcome}) + "\n")

"""Regenerates benchmarks/results/reliability.md: every case the reliability and fuzz tests tried, with
its outcome, as the tests recorded it (they append to $VSR_RELIABILITY_LOG when it is set).

    python benchmarks/reliability.py                  # runs the tests (a few minutes on 2 cores)
    python benchmarks/reliability.py --log run.jsonl  # only formats the log of an earlier run
"""
import argparse
import json
import os
from pathlib import Path
import platform
import re
import subprocess
import sys
import tempfile
import time

ROOT = Path(__file__).resolve().parents[1]
TESTS = ["tests/test_reliability_inputs.py", "tests/test_reliability_env.py", "tests/test_reliability_signals.py",
         "tests/test_reliability_oom_security.py", "tests/test_fuzz_video.py"]
NOTES = """## What the outcomes mean

- `exit 0; N frames`: the output was decoded back to its end with PyAV: N frames, each exactly 2x the input
  size; no other file was left in the output folder.
- `exit 1`: stderr ended in the one `vsr: error: ...` line shown, every stderr line started with `vsr: `
  (no traceback), nothing was at the output path and no temporary file was left.
- `exit 130 after T s`: T is from sending the signal to the process exit, measured by the test on a
  shared, busy 2-core machine (the tests only fail on a hang, after 60 s). A partial file was decoded
  back to its end, with its frames at the input's timestamps (mid-stream).
- Every input was hashed before and after the run: none was modified.

## Not covered

- Not tested: a named pipe given by path (not `-`) whose writer stalls. FFmpeg's own blocking read
  there cannot be cancelled from Python, so an interrupt would wait for the writer (stdin is handled).
- Frames lost because the demuxer skipped damaged data by itself (e.g. a Matroska cluster it
  resynchronised past) are not counted as damaged: PyAV raises nothing for them, and the output
  simply has fewer frames.
- GPU out-of-memory is simulated on the CPU (the network refuses whole frames); no GPU run was made.
"""


def _clean(text: str) -> str:
    """Drop temporary folders from paths, so that lines say ``damaged.mkv`` rather than /tmp/pytest-...."""
    return re.sub(r"/tmp/\S*/", "", text)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--log", type=Path, help="format this log instead of running the tests")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "reliability.md")
    args = ap.parse_args()
    summary = "formatted from an earlier run's log"
    if args.log is None:
        args.log = Path(tempfile.mkdtemp()) / "reliability.jsonl"
        started = time.perf_counter()
        run = subprocess.run([sys.executable, "-m", "pytest", "-q", *TESTS], cwd=ROOT, capture_output=True, text=True,
                             env=dict(os.environ, VSR_RELIABILITY_LOG=str(args.log)))
        tail = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else "no output"
        summary = f"`{tail}` ({time.perf_counter() - started:.0f} s wall)"
    cases = [json.loads(line) for line in args.log.read_text().splitlines() if line.strip()]
    lines = [
        "# Reliability: every case tried, with its outcome",
        "",
        f"Produced by `python benchmarks/reliability.py` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}), "
        f"which runs {', '.join(f'`{t}`' for t in TESTS)}: {summary}. Machine: {platform.machine()}, "
        f"{os.cpu_count()} CPU cores shared with other work, no GPU. Scale x2 with a weights file whose output is "
        f"the nearest-neighbour enlargement (exact sizes, fast).",
        "",
    ]
    groups = {}
    for case in cases:
        groups.setdefault(case["group"], []).append(case)
    for group, rows in groups.items():
        lines += [f"## {group[0].upper()}{group[1:]}", "", "| case | outcome |", "|---|---|"]
        lines += [f"| {_clean(r['case'])} | {_clean(r['outcome']).replace('|', '/')} |" for r in rows]
        lines.append("")
    lines.append(NOTES)
    args.out.write_text("\n".join(lines))
    print(f"{len(cases)} cases -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

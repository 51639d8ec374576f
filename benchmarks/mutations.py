"""Mutation check: does the test suite catch deliberate bugs?

Each mutation is one small, plausible bug: (file, exact old text, new text, tests that should catch it). For
each, a temporary copy of the repository gets that one bug, and the named tests run there with pytest, with
PYTHONPATH pointing at the copy so that its ``vsr`` is the one imported, also by subprocesses
(``python -m vsr``). A mutation is *caught* when those tests fail. The old text must occur exactly once in
its file, so that a mutation whose code has moved breaks loudly instead of silently testing nothing.

Not part of the default test run (it takes a while). Run it before resolving a change to the tests:

    python benchmarks/mutations.py                 # all, writes benchmarks/results/mutations.md
    python benchmarks/mutations.py --only rgb-luma-bicubic video-swap-cbcr
    python benchmarks/mutations.py --list
    python benchmarks/mutations.py --baseline      # first run every selected test on the unmutated copy

Exit status: 0 when every mutation run was caught, 1 otherwise.
"""
import argparse
from dataclasses import dataclass
import datetime
import os
from pathlib import Path
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from typing import List, Sequence, Tuple

ROOT = Path(__file__).resolve().parents[1]
COPIED = ["vsr", "tests", "benchmarks", "samples", "docs", "setup.cfg", "pyproject.toml", "README.md"]
RESULTS = ROOT / "benchmarks" / "results" / "mutations.md"
TIMEOUT = 1800  # seconds per mutation


@dataclass
class Mutation:
    name: str
    area: str
    bug: str
    file: str
    old: str
    new: str
    tests: Tuple[str, ...]
    source: str = "own"  # "issue 16" for the bugs the issue named


KA = "tests/test_known_answers.py"
VP = "tests/test_video_promises.py"
LF = "tests/test_live_figures.py"

MUTATIONS: List[Mutation] = [
    # ---- the bugs named in issue 16 --------------------------------------------------------------
    Mutation("rgb-luma-bicubic", "SR", "upscale_rgb (images, live, snapshots, recording) makes luma with bicubic, "
             "not ESPCN", "vsr/upscaler.py",
             "        y_hr, cc_hr = self.upscale_planes(ycc[:, :1], ycc[:, 1:], (self.scale * h, self.scale * w))\n",
             "        y_hr, cc_hr = self.upscale_planes(ycc[:, :1], ycc[:, 1:], (self.scale * h, self.scale * w), "
             "bicubic=True)\n",
             (f"{KA}::test_upscale_rgb_luma_is_espcn_and_chroma_bicubic", f"{KA}::test_cli_image",
              f"{KA}::test_live_and_its_recording"), "issue 16"),
    Mutation("video-swap-cbcr", "SR", "the video SR stage swaps Cb and Cr", "vsr/video/sr.py",
             "planes = [(y[i, 0], uv[i, 0], uv[i, 1]) for i in range(len(batch.frames))]",
             "planes = [(y[i, 0], uv[i, 1], uv[i, 0]) for i in range(len(batch.frames))]",
             (f"{KA}::test_cli_video_luma_beats_bicubic_and_chroma_is_bicubic",
              f"{KA}::test_cli_video_hues_survive_a_lossy_encoder"), "issue 16"),
    Mutation("decode-all-first", "decode", "the whole video is decoded into a list before SR (unbounded memory)",
             "vsr/video/pipeline.py",
             "        items = self.video.items(self.max_frames)\n",
             "        items = iter(list(self.video.items(self.max_frames)))\n",
             ("tests/test_memory_bounded.py",), "issue 16"),
    Mutation("train-no-step", "train", "optimizer.step() removed from training", "vsr/train.py",
             "        self.optimizer.step()\n", "        pass\n",
             ("tests/test_train_learns.py",), "issue 16"),
    Mutation("open-video-refuses", "decode", "open_video refuses every file", "vsr/video/decode.py",
             "    return VideoSource(path, strict, window=window, options=options, timeout=timeout, low_delay=low_delay,\n",
             "    raise VsrError(f\"cannot read {path}: invalid data found when processing input\")\n"
             "    VideoSource(path, strict, window=window, options=options, timeout=timeout, low_delay=low_delay,\n",
             ("tests/test_fuzz_video.py",), "issue 16"),
    Mutation("eval-espcn-is-bicubic", "eval", "vsr eval's ESPCN column is computed with bicubic",
             "vsr/cli/evaluate.py",
             '"ESPCN": up.upscale_y}', '"ESPCN": lambda lr: matlab_bicubic(lr, args.scale)}',
             (f"{KA}::test_eval_espcn_column_equals_an_independent_computation",), "issue 16"),
    Mutation("bench-json-psnr-as-ssim", "bench", "bench JSON writes the PSNR arrays as SSIM", "vsr/bench/report.py",
             '"ssim": {m: r.ssim[m] for m in methods if m in r.ssim},',
             '"ssim": {m: r.psnr[m] for m in methods if m in r.ssim},',
             (f"{KA}::test_bench_json_equals_recomputed_values",), "issue 16"),
    Mutation("live-record-ignores-capture-time", "live", "recorded live timestamps are the write time, not the "
             "capture time", "vsr/live/app.py",
             "self.recorder.write(result.sr, frame.captured_at - self._start)",
             "self.recorder.write(result.sr, time.perf_counter() - self._start)",
             (f"{LF}::test_recording_timestamps_are_the_capture_times",), "issue 16"),
    Mutation("batch-drops-last-partial", "SR", "with batch > 1 the last, partial batch is never upscaled "
             "(batching never ran with batch > 1 in the tests)", "vsr/video/sr.py",
             "    if frames:\n        start()\n",
             "    if False:\n        start()\n",
             (f"{VP}::test_batches_of_1_3_and_8_give_the_same_frames_and_packets",), "issue 16"),
    # ---- our own, spread over decode, SR, encode, live, bench, eval, train ------------------------
    Mutation("decode-no-flush", "decode", "the decoder is never flushed at the end (its delayed frames are lost)",
             "vsr/video/decode.py",
             "            if packet.stream is self.stream:\n                for frame in self._decode(packet):",
             "            if packet.stream is self.stream and packet.size:\n                for frame in self._decode(packet):",
             (f"{VP}::test_batches_of_1_3_and_8_give_the_same_frames_and_packets",)),
    Mutation("decode-rgb-bt709", "decode", "RGB input converted with BT.709 instead of BT.601", "vsr/video/decode.py",
             'dst_colorspace="ITU601" if rgb else None,', 'dst_colorspace="ITU709" if rgb else None,',
             ("tests/test_video_pipeline.py::test_rgb_is_converted_with_bt601",)),
    Mutation("decode-ten-bit-as-8", "SR", "10-bit samples normalised by 255 instead of their peak",
             "vsr/upscaler.py",
             "        y = y.float().div_(_peak(bits))\n",
             "        y = y.float().div_(255)\n",
             ("tests/test_video_pipeline.py::test_ten_bit_keeps_ten_bit_precision",)),
    Mutation("chroma-bilinear", "SR", "chroma upscaled bilinearly instead of bicubically", "vsr/upscaler.py",
             'return F.interpolate(c, size=size, mode="bicubic", align_corners=False).clamp_(0, 1)',
             'return F.interpolate(c, size=size, mode="bilinear", align_corners=False).clamp_(0, 1)',
             (f"{KA}::test_upscale_yuv420",)),
    Mutation("batch-reversed", "SR", "frames of a batch leave the SR stage in reverse order", "vsr/video/sr.py",
             "        yield from out\n", "        yield from reversed(out)\n",
             (f"{VP}::test_batches_of_1_3_and_8_give_the_same_frames_and_packets",)),
    Mutation("bf16-is-fp32", "SR", "precision='bf16' silently runs in fp32", "vsr/upscaler.py",
             '"bf16": torch.bfloat16}', '"bf16": torch.float32}',
             (f"{VP}::test_reduced_precision_is_close_to_fp32",)),
    Mutation("grey-chroma-not-neutral", "encode", "grey input into a colour encoder gets chroma 0 (green), not 128",
             "vsr/video/sr.py",
             "return np.full((n, 1, h, w), 128 << (self.target.bits - 8), dtype=self.target.dtype)",
             "return np.full((n, 1, h, w), 0, dtype=self.target.dtype)",
             (f"{VP}::test_grey_input_into_colour_encoders",)),
    Mutation("audio-always-reencoded", "encode", "audio re-encoded even where the container can copy it",
             "vsr/video/mux.py",
             "        if codec in supported_codecs(self.container):\n",
             "        if src.type != \"audio\" and codec in supported_codecs(self.container):\n",
             (f"{VP}::test_audio_samples_are_copied_unchanged",)),
    Mutation("no-audio-ignored", "encode", "--no-audio is ignored", "vsr/cli/upscale.py",
             "audio=not args.no_audio,", "audio=True,",
             (f"{VP}::test_no_audio_and_no_subtitles",)),
    Mutation("nv12-not-honoured", "encode", "--pix-fmt nv12 encodes yuv420p instead", "vsr/video/encode.py",
             "        return target_layout(fmt), fmt.name\n", "        return target_layout(fmt), target_layout(fmt).name\n",
             (f"{VP}::test_pix_fmt_nv12",)),
    Mutation("partial-overwrites", "encode", "a second interrupted run overwrites the first .partial file",
             "vsr/video/target.py",
             "        while partial.exists():\n", "        while False:\n",
             (f"{VP}::test_second_interrupted_run_is_partial_1",)),
    Mutation("live-bgr-as-rgb", "live", "live converts OpenCV's BGR frames to planes as if RGB", "vsr/live/app.py",
             "y, cb, cr = bgr_to_planes(image, LIVE_PLANES)", "y, cb, cr = bgr_to_planes(image[..., ::-1], LIVE_PLANES)",
             (f"{KA}::test_live_and_its_recording",)),
    Mutation("live-latency-in-seconds", "live", "live latency recorded in seconds but shown as ms", "vsr/live/app.py",
             "self._latency.add(now, (now - max(frame.captured_at, self._resumed_at)) * 1000)",
             "self._latency.add(now, (now - max(frame.captured_at, self._resumed_at)))",
             (f"{LF}::test_fps_latency_and_drops_are_what_happened",)),
    Mutation("live-drops-uncounted", "live", "frames overwritten before being taken are not counted as dropped",
             "vsr/live/capture.py",
             "            if not self._taken:\n                self._dropped += 1\n",
             "            if False:\n                self._dropped += 1\n",
             (f"{LF}::test_fps_latency_and_drops_are_what_happened", f"{LF}::test_cli_summary_adds_up")),
    Mutation("live-snapshot-dir-ignored", "live", "--snapshot-dir is ignored (snapshots go to the current folder)",
             "vsr/cli/live.py",
             "        snapshot_dir=args.snapshot_dir,\n", "        snapshot_dir=Path(\".\"),\n",
             (f"{LF}::test_snapshot_dir",)),
    Mutation("bench-no-shave", "bench", "bench scores PSNR without shaving the border", "vsr/bench/run.py",
             "result.psnr.setdefault(label, []).extend(psnr_y_torch(sr, hr, r))",
             "result.psnr.setdefault(label, []).extend(psnr_y_torch(sr, hr, 0))",
             (f"{KA}::test_bench_json_equals_recomputed_values",)),
    Mutation("eval-no-shave", "eval", "vsr eval scores PSNR without shaving the border", "vsr/evaluate.py",
             "result.psnr.setdefault(name, []).append(psnr_y(sr, hr, scale))",
             "result.psnr.setdefault(name, []).append(psnr_y(sr, hr, 0))",
             (f"{KA}::test_eval_espcn_column_equals_an_independent_computation",)),
    Mutation("train-body-frozen", "train", "the body layers (conv1, conv2) get learning rate 0", "vsr/model.py",
             '[{"params": body_params, "lr": lr},', '[{"params": body_params, "lr": 0.0},',
             ("tests/test_train_learns.py",)),
]


def copy_repo(dest: Path) -> Path:
    """``dest/repo`` (the copy) beside ``dest/shared`` (a link to the shared data, where the tests look)."""
    repo = dest / "repo"
    repo.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".hypothesis", "results")
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, repo / name, ignore=ignore)
        elif src.exists():
            shutil.copy2(src, repo / name)
    shared = ROOT.parent / "shared"
    if shared.exists():
        (dest / "shared").symlink_to(shared, target_is_directory=True)
    return repo


def environment(repo: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(repo) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               PYTHONDONTWRITEBYTECODE="1")
    env.pop("VSR_RELIABILITY_LOG", None)
    return env


def check_import(repo: Path, env: dict) -> None:
    """The copy's vsr must be the one imported (an editable install must not shadow it)."""
    out = subprocess.run([sys.executable, "-c", "import vsr; print(vsr.__file__)"], cwd=repo, env=env,
                         capture_output=True, text=True, check=True).stdout.strip()
    if not Path(out).resolve().is_relative_to(repo.resolve()):
        raise SystemExit(f"mutations: the copy's vsr is not the one imported ({out})")


def run_tests(repo: Path, env: dict, tests: Sequence[str]) -> Tuple[int, float, str]:
    """pytest on ``tests`` in the copy; (exit status, seconds, the summary line or first failure)."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-o", "addopts=", "--tb=short",
           *tests]
    started = time.monotonic()
    try:
        done = subprocess.run(["nice", "-n", "10", *cmd], cwd=repo, env=env, capture_output=True, text=True,
                              timeout=TIMEOUT)
        code, output = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired:
        code, output = -1, f"timed out after {TIMEOUT} s"
    seconds = time.monotonic() - started
    lines = [line for line in output.splitlines() if line.strip()]
    failed = [line.split(" - ")[0] for line in lines if line.startswith(("FAILED", "ERROR"))]
    why = [line[1:].strip() for line in lines if line.startswith("E ")]
    summary = (failed[0] + (f": {why[0]}" if why else "")) if failed else (lines[-1] if lines else "")
    return code, seconds, summary[:300]


def apply(repo: Path, m: Mutation) -> str:
    """Write the mutated file into the copy; returns the original text, to restore it afterwards."""
    path = repo / m.file
    text = path.read_text()
    count = text.count(m.old)
    if count != 1:
        raise SystemExit(f"mutations: {m.name}: the old text occurs {count} times in {m.file} (expected once): "
                         f"the code has moved; update the mutation")
    path.write_text(text.replace(m.old, m.new))
    return text


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, torch {torch.__version__}; "
            f"load average at the start {os.getloadavg()[0]:.1f}")


def write_report(rows, started: str, host: str, baseline: str, selected: bool, append: str = None) -> None:
    caught = sum(r["caught"] for r in rows)
    lines = [
        f"## {append}" if append else "# Mutation check",
        "",
        f"`python benchmarks/mutations.py{' --only ...' if selected else ''}` — {started}, {host}.",
        "",
        "Each row is one deliberate bug put into a temporary copy of the repository (one at a time); the tests "
        "named were run there (pytest, PYTHONPATH on the copy, so subprocesses import the mutated vsr too). "
        "*Caught* means those tests failed. The old text of each mutation must occur exactly once in its "
        "file, so a mutation whose code has moved stops the run instead of passing silently.",
        "",
        f"**{caught} of {len(rows)} caught.** {baseline}",
        "",
        "| # | mutation | area | from | bug | file | tests run | caught | s | first failure |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(rows, 1):
        m = r["m"]
        tests = "<br>".join(f"`{t.replace('tests/', '')}`" for t in m.tests)
        failure = r["summary"].replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {i} | `{m.name}` | {m.area} | {m.source} | {m.bug} | `{m.file}` | {tests} | "
                     f"{'**yes**' if r['caught'] else 'NO'} | {r['seconds']:.0f} | {failure} |")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    if append and RESULTS.exists():
        RESULTS.write_text(RESULTS.read_text() + "\n" + "\n".join(lines) + "\n")
    else:
        RESULTS.write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", metavar="NAME", help="run only these mutations")
    ap.add_argument("--list", action="store_true", help="list the mutations and exit")
    ap.add_argument("--baseline", action="store_true",
                    help="first run every selected test on the unmutated copy (they must pass)")
    ap.add_argument("--no-report", action="store_true", help=f"do not write {RESULTS.relative_to(ROOT)}")
    ap.add_argument("--append", metavar="TITLE",
                    help="add this run to the report as a section with this title, keeping what is there")
    args = ap.parse_args(argv)
    chosen = [m for m in MUTATIONS if not args.only or m.name in args.only]
    if args.only and len(chosen) != len(set(args.only)):
        known = {m.name for m in MUTATIONS}
        raise SystemExit(f"mutations: unknown: {', '.join(sorted(set(args.only) - known))}")
    if args.list:
        for m in MUTATIONS:
            print(f"{m.name:34} {m.area:7} {m.file:24} {m.bug}")
        return 0
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    host = machine()
    rows = []
    with tempfile.TemporaryDirectory(prefix="vsr-mutations-") as tmp:
        repo = copy_repo(Path(tmp))
        env = environment(repo)
        check_import(repo, env)
        for m in chosen:  # every old text is checked before anything runs
            apply(repo, m)
            (repo / m.file).write_text((ROOT / m.file).read_text())
        baseline = "Baseline (unmutated copy) not run."
        if args.baseline:
            tests = sorted({t for m in chosen for t in m.tests})
            code, seconds, summary = run_tests(repo, env, tests)
            print(f"baseline: exit {code} in {seconds:.0f} s: {summary}", flush=True)
            if code != 0:
                raise SystemExit("mutations: the selected tests fail on the unmutated copy; fix that first")
            baseline = f"Baseline: the {len(tests)} test selections pass on the unmutated copy ({seconds:.0f} s)."
        for m in chosen:
            original = apply(repo, m)
            try:
                code, seconds, summary = run_tests(repo, env, m.tests)
            finally:
                (repo / m.file).write_text(original)
            caught = code != 0
            rows.append(dict(m=m, caught=caught, seconds=seconds, summary=summary if caught else "(all passed)"))
            print(f"{'caught' if caught else 'MISSED':6} {m.name:34} {seconds:6.0f} s  {summary}", flush=True)
    if not args.no_report:
        write_report(rows, started, host, baseline, bool(args.only), args.append)
        print(f"wrote {RESULTS}")
    return 0 if all(r["caught"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

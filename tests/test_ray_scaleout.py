"""Scale-out on Ray (issue 14): segments cut at keyframes, upscaled by Ray workers and joined, must give
the file a single-machine run gives, frame by frame; faults, Ctrl-C and --resume must not change that.

A local Ray with 2 CPUs is started once for the module. Clips are tiny (192x108, 4 s, a keyframe every
~1 s) and cut at every keyframe (0.5 s), so each file has several segments. Lossless output (ffv1, or libx264 at
crf 0) makes the comparison bit-exact.
"""
from fractions import Fraction
import json
import os
from pathlib import Path
import signal
import subprocess
import sys
import time

import av
import numpy as np
import pytest

from vsr.cli import main
from vsr.upscaler import Upscaler, UpscalerSpec
from vsr.video.encode import EncodeOptions
from vsr.video.pipeline import upscale_video

from video_fixtures import BT709, make_video, packets, stream_tags

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'vsr[ray]')")

from vsr.cluster.scheduler import ClusterOptions, ClusterRun, Interrupted  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SECONDS = 0.5
FFV1 = EncodeOptions(codec="ffv1")
X264_LOSSLESS = EncodeOptions(crf=0)  # lossless x264 uses no B-frames (decode delay only)
X265_LOSSLESS = EncodeOptions(codec="libx265", options={"x265-params": "lossless=1:log-level=error"})  # B-frames


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """One local Ray for the module; its workers import this checkout's vsr."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=200 << 20,
             runtime_env={"env_vars": {"PYTHONPATH": str(REPO)}})
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("ray-clips")
    gop = {"g": "24", "keyint_min": "24", "bf": "3", "sc_threshold": "0"}
    cfr = make_video(d / "cfr.mp4", 192, 108, frames=100, color=BT709, options=gop)
    # Variable frame rate: steps of 1, 2 and 3 ticks of 1/50 s.
    steps = [1, 2, 3, 2, 1, 1, 3]
    pts, t = [], 0
    for i in range(90):
        pts.append(t)
        t += steps[i % len(steps)]
    vfr = make_video(d / "vfr.mp4", 192, 108, pts=pts, time_base=Fraction(1, 50), rate=25, color=BT709,
                     options=gop)
    return {"cfr": cfr.path, "vfr": vfr.path, "dir": d}


def reference(src: Path, out: Path, options: EncodeOptions) -> Path:
    """The single-machine run the cluster must reproduce."""
    if not out.exists():
        upscale_video(src, out, Upscaler(2), options)
    return out


def run_cluster(pairs, options: EncodeOptions, on_segment=None, **kw):
    run = ClusterRun([(Path(s), Path(o)) for s, o in pairs],
                     ClusterOptions(UpscalerSpec(2), encode=options, segment_seconds=SECONDS, **kw), on_segment=on_segment)
    return run, run.run()


def frames(path: Path):
    """(pts, pixels) of every decoded video frame, in presentation order."""
    with av.open(str(path)) as c:
        return [(f.pts, f.to_ndarray()) for f in c.decode(c.streams.video[0])]


def same_frames(a: Path, b: Path) -> None:
    fa, fb = frames(a), frames(b)
    assert [f[0] for f in fa] == [f[0] for f in fb], "timestamps differ"
    for x, y in zip(fa, fb):
        assert np.array_equal(x[1], y[1]), f"frame at pts {x[0]} differs"


# ---- the joined file is the single-machine file ------------------------------------------------
def test_ffv1_mkv_join_is_packet_for_packet_the_single_run(clips, tmp_path):
    """Intra-only lossless video: every video and audio packet (bytes, pts, dts, duration) is the same."""
    ref = reference(clips["cfr"], tmp_path / "ref.mkv", FFV1)
    out = tmp_path / "out.mkv"
    run, [report] = run_cluster([(clips["cfr"], out)], FFV1)
    assert report.error is None and report.segments >= 4, report
    assert report.frames == 100
    a, b = packets(ref), packets(out)
    assert len(b[0]) == 100 and len(b[1]) > 100  # video, audio copied once (not once per segment)
    assert a == b
    assert stream_tags(ref) == stream_tags(out)
    assert stream_tags(out)[3] == (1, 1, 1, 1)
    assert not list(tmp_path.glob(".*")), "work folder or temporary file left behind"
    # two workers ran, each with this checkout's vsr (not another installed copy)
    assert len({i["pid"] for i in run.worker_infos}) == 2
    assert {Path(str(i["vsr"])).resolve() for i in run.worker_infos} == {REPO / "vsr" / "__init__.py"}


def check_b_frame_join(ref: Path, out: Path) -> None:
    """Lossless HEVC with B-frames (decode order != presentation order): the single run's frames and pts
    (variable frame rate included), its audio packets, decode times strictly increasing."""
    same_frames(ref, out)
    a, b = packets(ref), packets(out)
    assert a[1] == b[1]  # audio, copied once
    video = b[0]
    dts = [p[1] for p in video]
    assert all(x < y for x, y in zip(dts, dts[1:])), "decode times must increase strictly"
    assert all(p[1] <= p[0] for p in video), "a frame decoded after it is shown"
    shown = [p[0] for p in video]
    assert any(b < a for a, b in zip(shown, shown[1:])), "no B-frame reordering: the test would not test the joins"
    assert sum(p[3] for p in video) >= 3, "fewer than 3 segments joined"
    assert stream_tags(ref) == stream_tags(out)


def test_the_model_flags_reach_the_workers(clips, tmp_path, capsys):
    """--backend, --precision and --tile (refused with --ray before issue 22) are the workers' too: they
    build their Upscaler from the command's UpscalerSpec. The workers say which backend ran, and the
    joined file is the single run's with the same spec, frame for frame."""
    spec = UpscalerSpec(2, backend="torch", precision="fp32", tile=40)
    ref = tmp_path / "ref.mkv"
    upscale_video(clips["cfr"], ref, spec.build(), FFV1)
    out = tmp_path / "out.mkv"
    code = main(["-v", "upscale", str(clips["cfr"]), str(out), "--scale", "2", "--codec", "ffv1", "--ray", "local",
                 "--workers", "1", "--backend", "torch", "--precision", "fp32", "--tile", "40",
                 "--segment-seconds", str(SECONDS), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 0 and "(cpu/torch)" in err, err
    same_frames(ref, out)


# ---- many files, through the command line ------------------------------------------------------
def test_folder_of_files_one_failing_b_frames_and_vfr(clips, tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    for name in ("cfr", "vfr"):
        (src / f"{name}.mp4").symlink_to(clips[name])
    (src / "broken.mp4").write_bytes(b"not a video" * 100)
    out = tmp_path / "out"
    code = main(["upscale", str(src), str(out), "--scale", "2", "--ray", "local", "--codec", "libx265",
                 "-e", "x265-params=lossless=1:log-level=error", "--segment-seconds", str(SECONDS), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1
    assert "broken.mp4" in err and "1 of 3 files failed" in err, err
    assert sorted(p.name for p in out.iterdir()) == ["cfr.mp4", "vfr.mp4"]
    for name in ("cfr", "vfr"):
        check_b_frame_join(reference(clips[name], tmp_path / f"ref-{name}.mp4", X265_LOSSLESS), out / f"{name}.mp4")


# ---- faults -----------------------------------------------------------------------------------
def test_killed_worker_segment_is_retried_and_output_exact(clips, tmp_path):
    ref = reference(clips["cfr"], tmp_path / "ref.mkv", FFV1)
    out = tmp_path / "out.mkv"
    killed = []

    def kill_a_busy_worker(result):
        if not killed and run.busy_pids():
            pid = run.busy_pids()[0]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    run = ClusterRun([(clips["cfr"], out)], ClusterOptions(UpscalerSpec(2), encode=FFV1, segment_seconds=SECONDS),
                     on_segment=kill_a_busy_worker)
    [report] = run.run()
    assert killed, "no worker was busy when a segment finished"
    assert run.retries >= 1
    assert report.error is None
    assert packets(ref) == packets(out)


def test_interrupt_keeps_segments_and_resume_reuses_them(clips, tmp_path):
    """Ctrl-C just as the first file's last segment is kept (before its join): nothing at either output
    path; --resume joins the first file from its kept segments alone and finishes the second."""
    pairs = [(clips["cfr"], tmp_path / "a.mkv"), (clips["vfr"], tmp_path / "b.mkv")]
    work = tmp_path / "work"
    seen = []

    def ctrl_c_when_the_first_file_is_all_kept(result):
        seen.append((result.file, result.index))
        if sum(f == 0 for f, _ in seen) == run.files[0].report.segments:
            raise KeyboardInterrupt

    run = ClusterRun([(Path(s), o) for s, o in pairs],
                     ClusterOptions(UpscalerSpec(2), encode=FFV1, segment_seconds=SECONDS, work_dir=work),
                     on_segment=ctrl_c_when_the_first_file_is_all_kept)
    with pytest.raises(Interrupted) as info:
        run.run()
    assert info.value.exit_code == 130
    assert not list(tmp_path.glob("*.mkv")) and not list(tmp_path.glob(".[ab]*")), "something at an output path"
    kept_a = sorted(p.name for p in work.glob("a.mkv/seg-*.nut"))
    assert len(kept_a) == run.files[0].report.segments >= 3
    kept_b = len(list(work.glob("b.mkv/seg-*.nut")))

    # the same command with --resume: kept segments are reused, the outputs are exact
    again = []
    _, reports = run_cluster(pairs, FFV1, work_dir=work, resume=True,
                             on_segment=lambda r: again.append((r.file, r.index)))
    assert [r.error for r in reports] == [None, None]
    assert reports[0].reused == reports[0].segments and reports[1].reused == kept_b
    assert sorted(again + seen) == sorted({(f, i) for f, r in enumerate(reports) for i in range(r.segments)})
    for (src, out), name in zip(pairs, ("cfr", "vfr")):
        assert packets(reference(src, tmp_path / f"ref-{name}.mkv", FFV1)) == packets(out)
    assert not work.exists()


def test_resume_with_changed_options_never_mixes_segments(clips, tmp_path):
    out = tmp_path / "out.mp4"
    work = tmp_path / "work"

    def stop_after_one(result):
        raise KeyboardInterrupt

    with pytest.raises(Interrupted):
        ClusterRun([(clips["cfr"], out)], ClusterOptions(UpscalerSpec(2), encode=EncodeOptions(crf=30),
                                                         segment_seconds=SECONDS, work_dir=work),
                   on_segment=stop_after_one).run()
    assert len(list(work.glob("out.mp4/seg-*.nut"))) == 1
    _, [report] = run_cluster([(clips["cfr"], out)], X264_LOSSLESS, work_dir=work, resume=True)
    assert report.error is None and report.reused == 0
    same_frames(reference(clips["cfr"], tmp_path / "ref.mp4", X264_LOSSLESS), out)


def test_ctrl_c_on_the_command_line_exits_130_and_keeps_segments(clips, tmp_path):
    """A real SIGINT to `vsr upscale --ray local` (its own Ray) once a segment is kept."""
    out = tmp_path / "out.mkv"
    work = tmp_path / "work"
    manifest = work / "out.mkv" / "manifest.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "vsr", "upscale", str(clips["cfr"]), str(out), "--scale", "2", "--codec", "ffv1",
         "--ray", "local", "--workers", "1", "--segment-seconds", str(SECONDS), "--work-dir", str(work)],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            if manifest.exists() and json.loads(manifest.read_text())["done"]:
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the run ended before a segment was kept"
        proc.send_signal(signal.SIGINT)
        err = proc.communicate(timeout=120)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "for --resume" in err.splitlines()[-1]
    assert not out.exists() and not list(tmp_path.glob(".out*"))
    done = json.loads(manifest.read_text())["done"]
    assert done and all((work / "out.mkv" / d["file"]).stat().st_size == d["size"] for d in done.values())

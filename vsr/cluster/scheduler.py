"""The driver: plans every input, hands segments to the workers as they free up, keeps what comes
back, and joins each file once its last segment is in.

Data flows one way: plan -> workers -> segment store -> join -> output. Segments of all inputs share one
queue, so a folder of short files keeps every worker busy as well as one long film does. A worker that
dies (its process killed, its node lost) is replaced and its segment goes back to the front of the queue;
a segment that fails on its own (bad input) fails only its file. Ctrl-C kills the workers, keeps the
finished segments for ``--resume`` and leaves nothing half-written at any output path.
"""
from collections import deque
from dataclasses import asdict, dataclass, field, replace
import hashlib
import logging
import os
from pathlib import Path
import time
from typing import Callable, Deque, Dict, List, Optional

from .. import __version__
from .. import weight_files
from ..errors import VsrError
from ..upscaler import UpscalerSpec
from ..video.encode import EncodeOptions
from ..video.target import OutputTarget
from . import DEFAULT_SECONDS, import_ray
from .join import join_segments
from .plan import Plan, plan_video
from .store import SegmentStore
from .worker import SegmentJob, SegmentResult, SegmentWorker, WorkerSpec

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3  # a segment whose worker dies this many times fails its file
WAIT_POLL = 0.2  # seconds per ray.wait, so that Ctrl-C is noticed promptly


@dataclass
class ClusterOptions:
    """Everything a run needs besides its files. ``address``: local, auto, or a cluster address."""

    model: UpscalerSpec
    address: str = "local"
    batch: Optional[int] = None
    hwaccel: Optional[str] = None  # "cuda": workers decode with NVDEC where they can
    encode: EncodeOptions = field(default_factory=EncodeOptions)  # its ``format`` is the joined file's container
    segment_seconds: float = DEFAULT_SECONDS
    work_dir: Optional[Path] = None  # default: .vsr-work beside each output
    resume: bool = False
    overwrite: bool = False
    workers: Optional[int] = None  # default: one per GPU, or one per CPU when there is no GPU


@dataclass
class FileReport:
    """How one input went: frames written, segments (and how many were reused), or why it failed."""

    source: str
    output: str
    frames: int = 0
    segments: int = 0
    reused: int = 0
    seconds: float = 0.0
    error: Optional[str] = None


class Interrupted(VsrError):
    def __init__(self, kept: int, where: List[str]):
        where_text = ", ".join(sorted(set(where))) or "the work folder"
        super().__init__(f"interrupted; {kept} finished segments kept in {where_text} for --resume",
                         exit_code=130)


@dataclass
class _File:
    index: int
    source: Path
    output: Path
    report: FileReport
    plan: Optional[Plan] = None
    store: Optional[SegmentStore] = None
    started: float = 0.0
    left: int = 0  # segments still to finish

    def folder_exists(self) -> bool:
        return self.store is not None and self.store.folder.exists()

    @property
    def failed(self) -> bool:
        return self.report.error is not None


@dataclass
class _Worker:
    actor: object
    info: Dict[str, object]


class ClusterRun:
    """One ``vsr upscale --ray`` run over (input, output) pairs; ``run()`` returns a report per file.

    ``progress(done, total)`` gets frames finished over all files; ``on_segment(result)`` is called
    after each segment is kept (tests use it to kill a worker or interrupt mid-run).
    """

    def __init__(self, pairs: List["tuple[Path, Path]"], options: ClusterOptions,
                 progress: Optional[Callable[[int, int], None]] = None,
                 on_segment: Optional[Callable[[SegmentResult], None]] = None):
        self.options = options
        self.files = [_File(i, Path(s), Path(o), FileReport(str(s), str(o))) for i, (s, o) in enumerate(pairs)]
        self.progress = progress
        self.on_segment = on_segment
        self.workers: List[_Worker] = []
        self.worker_infos: List[Dict[str, object]] = []  # every worker started, replacements included
        self.busy: Dict[object, "tuple[_Worker, SegmentJob]"] = {}  # ObjectRef -> (worker, job)
        self.retries = 0
        self.timings: Dict[str, float] = {}
        self._ray = None
        self._started_ray = False

    # ---- public -----------------------------------------------------------------------------
    def run(self) -> List[FileReport]:
        ray = self._ray = import_ray()
        jobs = self._plan()
        try:
            for f in self.files:  # every segment reused (--resume): only the join is left
                if not f.failed and f.plan is not None and f.left == 0:
                    self._join(f)
            if jobs:
                self._connect()
                self._start_workers()
                self._dispatch(jobs)
        except KeyboardInterrupt:
            self._stop_workers()
            kept = sum(len(f.store.done) for f in self.files if f.store is not None)
            raise Interrupted(kept, [str(f.store.folder.parent) for f in self.files if f.store is not None]) from None
        finally:
            self._stop_workers()
            if self._started_ray:
                ray.shutdown()
            for f in self.files:  # a work folder with nothing worth resuming is not left behind
                if f.store is not None and not f.store.done and f.folder_exists():
                    f.store.remove()
                    _remove_if_empty(f.store.folder.parent)
        return [f.report for f in self.files]

    def busy_pids(self) -> List[int]:
        """Process ids of the workers that are running a segment now."""
        return [w.info["pid"] for w, _ in self.busy.values()]

    # ---- planning ---------------------------------------------------------------------------
    def _plan(self) -> List[SegmentJob]:
        o = self.options
        m = o.model
        weights_hash = _sha256(m.weights or weight_files.shipped_path(m.scale))
        jobs: List[SegmentJob] = []
        for f in self.files:
            try:
                OutputTarget(f.output, o.overwrite, f.source)  # fail early: exists, same as input, no folder
                f.plan = plan_video(f.source, o.segment_seconds)
                key = {
                    "vsr": __version__, "input": f.plan.fingerprint, "scale": m.scale, "device": m.device,
                    "tile": m.tile, "precision": m.precision, "backend": m.backend,
                    "weights_sha256": weights_hash, "encode": asdict(o.encode),
                    "segment_seconds": o.segment_seconds,
                    "plan": [[s.seek, s.start, s.end, s.frames] for s in f.plan.segments],
                }
                root = o.work_dir or f.output.parent / ".vsr-work"
                f.store = SegmentStore(root / f.output.name, key, o.resume)
            except VsrError as exc:
                f.report.error = str(exc)
                log.debug("%s: %s", f.source, exc)
                continue
            f.report.segments = len(f.plan.segments)
            f.report.reused = len(f.store.done)
            f.left = len(f.plan.segments) - len(f.store.done)
            f.started = time.perf_counter()
            whole = len(f.plan.segments) == 1 and f.plan.segments[0].seek is None and f.plan.segments[0].end is None
            for seg in f.plan.segments:
                if seg.index not in f.store.done:
                    jobs.append(SegmentJob(f.index, str(f.source.absolute()), f.plan.fingerprint, seg,
                                           _segment_options(o.encode), checked=not whole))
        self._total = sum(f.plan.frames for f in self.files if f.plan is not None and not f.failed)
        self._done = sum(r["frames"] for f in self.files if f.store is not None for r in f.store.done.values())
        return jobs

    # ---- Ray --------------------------------------------------------------------------------
    def _connect(self) -> None:
        ray = self._ray
        if ray.is_initialized():
            return
        started = time.perf_counter()
        package = Path(__file__).resolve().parents[1]
        if self.options.address == "local":
            # Workers here import the driver's vsr (an editable checkout or a worktree included).
            path = os.pathsep.join(filter(None, [str(package.parent), os.environ.get("PYTHONPATH")]))
            runtime_env = {"env_vars": {"PYTHONPATH": path}}
        else:
            # Other nodes get this very vsr package; its dependencies must be installed there.
            runtime_env = {"py_modules": [str(package)]}
        try:
            ray.init(address=self.options.address, runtime_env=runtime_env, include_dashboard=False,
                     log_to_driver=False, logging_level=logging.ERROR)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise VsrError(f"cannot start or join Ray at {self.options.address}: {exc}".splitlines()[0]) from None
        self._started_ray = True
        self.timings["ray_init"] = time.perf_counter() - started

    def _start_workers(self) -> None:
        ray = self._ray
        resources = ray.cluster_resources()
        m = self.options.model
        gpus = int(resources.get("GPU", 0)) if m.device != "cpu" else 0
        slots = gpus or max(1, int(resources.get("CPU", 1)))
        n = self.options.workers or slots
        if n > slots:
            log.warning("%d workers asked for, but the cluster has %d %s; using %d", n, slots,
                        "GPUs" if gpus else "CPUs", slots)
            n = slots
        self._actor_options = {"num_gpus": 1, "num_cpus": 0} if gpus else {"num_cpus": 1}
        self._actor_options["max_restarts"] = 0
        spec = WorkerSpec(replace(m, device=m.device if not gpus else "cuda", weights=None),
                          m.weights.read_bytes() if m.weights else None, self.options.batch, self.options.hwaccel)
        self._spec_ref = ray.put(spec)
        started = time.perf_counter()
        self.workers = self._new_workers(n)
        self.timings["workers_start"] = time.perf_counter() - started
        self.timings["model_load"] = max(float(w.info["load_seconds"]) for w in self.workers)
        log.info("%d workers on %s (%s)", n, ", ".join(sorted({str(w.info["host"]) for w in self.workers})),
                 ", ".join(sorted({f'{w.info["device"]}/{w.info["backend"]}' for w in self.workers})))

    def _new_workers(self, n: int) -> List[_Worker]:
        ray = self._ray
        actor_class = ray.remote(SegmentWorker)
        actors = [actor_class.options(**self._actor_options).remote(self._spec_ref) for _ in range(n)]
        try:
            infos = ray.get([a.info.remote() for a in actors])
        except ray.exceptions.RayError as exc:
            for a in actors:
                ray.kill(a)
            raise VsrError(f"cannot start workers: {_cause(exc)}") from None
        self.worker_infos += infos
        for info in infos:
            log.debug("worker %s", info)
        return [_Worker(a, i) for a, i in zip(actors, infos)]

    def _stop_workers(self) -> None:
        for w in self.workers:
            try:
                self._ray.kill(w.actor)
            except Exception:  # noqa: BLE001 - already gone
                pass
        self.workers = []
        self.busy = {}

    # ---- the loop ---------------------------------------------------------------------------
    def _dispatch(self, jobs: List[SegmentJob]) -> None:
        ray = self._ray
        queue: Deque[SegmentJob] = deque(jobs)
        idle: Deque[_Worker] = deque(self.workers)
        attempts: Dict["tuple[int, int]", int] = {}
        while queue or self.busy:
            while idle and queue:
                job = queue.popleft()
                if self.files[job.file].failed:
                    continue
                w = idle.popleft()
                self.busy[w.actor.run.remote(job)] = (w, job)
            if not self.busy:
                break
            ready, _ = ray.wait(list(self.busy), num_returns=1, timeout=WAIT_POLL)
            for ref in ready:
                w, job = self.busy.pop(ref)
                f = self.files[job.file]
                try:
                    result: SegmentResult = ray.get(ref)
                except ray.exceptions.RayActorError as exc:  # the worker died or its node was lost
                    key = (job.file, job.segment.index)
                    attempts[key] = attempts.get(key, 0) + 1
                    self.retries += 1
                    log.warning("worker %s died during %s segment %d (%s); %s", w.info["pid"], f.source.name,
                                job.segment.index, _cause(exc),
                                "retrying it" if attempts[key] < MAX_ATTEMPTS else "giving up")
                    if attempts[key] < MAX_ATTEMPTS:
                        queue.appendleft(job)
                    else:
                        self._fail(f, f"segment {job.segment.index} lost {MAX_ATTEMPTS} workers")
                    self.workers.remove(w)
                    fresh = self._new_workers(1)
                    self.workers += fresh
                    idle += fresh
                    continue
                except ray.exceptions.RayTaskError as exc:
                    idle.append(w)
                    self._fail(f, _cause(exc))
                    continue
                idle.append(w)
                if f.failed:
                    continue
                f.store.save(result.index, result.data, result.sha256, result.frames)
                f.left -= 1
                self._done += result.frames
                if self.progress is not None:
                    self.progress(self._done, self._total)
                if self.on_segment is not None:
                    self.on_segment(result)
                if f.left == 0:
                    self._join(f)

    def _fail(self, f: _File, reason: str) -> None:
        if not f.failed:
            f.report.error = reason
            log.debug("%s failed: %s", f.source, reason)

    def _join(self, f: _File) -> None:
        started = time.perf_counter()
        target = OutputTarget(f.output, self.options.overwrite, f.source)
        try:
            frames = join_segments(str(f.source), [f.store.path(s.index) for s in f.plan.segments], target,
                                   self.options.encode)
            if frames != f.plan.frames:
                raise VsrError(f"joined {frames} frames, {f.plan.frames} expected")
            f.report.output = target.commit()
        except VsrError as exc:
            target.discard()
            self._fail(f, str(exc))
            return
        except BaseException:
            target.discard()
            raise
        f.store.remove()
        _remove_if_empty(f.store.folder.parent)
        f.report.frames = frames
        f.report.seconds = time.perf_counter() - f.started
        self.timings["join"] = self.timings.get("join", 0.0) + time.perf_counter() - started


def _segment_options(options: EncodeOptions) -> EncodeOptions:
    """Workers encode video only: audio and subtitles are copied once, from the source, by the join."""
    return replace(options, options=dict(options.options), audio=False, subtitles=False)


def _cause(exc: BaseException) -> str:
    """The one-line reason inside a Ray error: the worker's own exception where there is one."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException) and not isinstance(cause, type(exc)):
        return str(cause) if isinstance(cause, VsrError) else f"{type(cause).__name__}: {cause}"
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _sha256(path: Path) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError as exc:
        raise VsrError(f"cannot read weights {path}: {exc.strerror or exc}") from None


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass

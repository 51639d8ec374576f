"""The Xiph "derf" 1080p clips (media.xiph.org/video/derf/), the set the ESPCN paper benchmarked video on.

All are uncompressed 8-bit 4:2:0 y4m, 1920x1080. File names, rates and frame counts were taken from
public scripts and catalogues of the collection (one lists all twelve counts, others agree on the names
and on crowd_run's 500 frames); they were not re-measured here because this project's machines cannot
reach xiph.org. ``expected_size`` is
*computed* from them, assuming Xiph's usual 60-byte stream header
(``YUV4MPEG2 W1920 H1080 F50:1 Ip A1:1 C420jpeg XYSCSS=420JPEG``); the downloader therefore checks a
file against its own header and the server's length, and the frame count here, never against this
estimate alone.
"""
from dataclasses import dataclass
from fractions import Fraction
import os
from pathlib import Path
import re
from typing import Dict, List, Optional, Sequence, Tuple

from ..errors import VsrError

BASE_URL = "https://media.xiph.org/video/derf/y4m"
WIDTH, HEIGHT = 1920, 1080
FRAME_MARKER = b"FRAME\n"
ASSUMED_HEADER_BYTES = 60
_SAFE_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*\.y4m$")


@dataclass(frozen=True)
class Clip:
    name: str
    file: str
    fps: Fraction
    frames: int

    @property
    def frame_bytes(self) -> int:
        """Bytes of one 4:2:0 frame including its ``FRAME`` marker."""
        return len(FRAME_MARKER) + WIDTH * HEIGHT * 3 // 2

    @property
    def expected_size(self) -> int:
        """Computed size in bytes (assumes a 60-byte header); for progress bars and disk-space notes."""
        return ASSUMED_HEADER_BYTES + self.frames * self.frame_bytes

    @property
    def seconds(self) -> float:
        return float(self.frames / self.fps)

    def url(self, base: str = BASE_URL) -> str:
        return f"{base.rstrip('/')}/{self.file}"


def _clip(name: str, fps: int, frames: int) -> Clip:
    return Clip(name, f"{name}_1080p{fps}.y4m", Fraction(fps), frames)


CATALOGUE: Dict[str, Clip] = {c.name: c for c in (
    _clip("crowd_run", 50, 500),
    _clip("ducks_take_off", 50, 500),
    _clip("in_to_tree", 50, 500),
    _clip("old_town_cross", 50, 500),
    _clip("park_joy", 50, 500),
    _clip("blue_sky", 25, 217),
    _clip("pedestrian_area", 25, 375),
    _clip("riverbed", 25, 250),
    _clip("rush_hour", 25, 500),
    _clip("station2", 25, 313),
    _clip("sunflower", 25, 500),
    _clip("tractor", 25, 690),
)}

# The paper used eight ~10 s 1080p Xiph clips without naming them; these eight are 8.7-12.5 s long.
DEFAULT_SUBSET: Tuple[str, ...] = (
    "crowd_run", "ducks_take_off", "in_to_tree", "old_town_cross", "park_joy", "blue_sky", "riverbed", "station2",
)


def lookup(names: Sequence[str]) -> List[Clip]:
    """Catalogue entries by name (``crowd_run`` or its file name); ``all`` means the whole catalogue."""
    if list(names) == ["all"]:
        return list(CATALOGUE.values())
    by_file = {c.file: c for c in CATALOGUE.values()}
    clips = []
    for name in names:
        clip = CATALOGUE.get(name) or by_file.get(name)
        if clip is None:
            raise VsrError(f"unknown Xiph clip {name!r}; known: {', '.join(CATALOGUE)} (or 'all')", exit_code=2)
        clips.append(clip)
    return clips


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/vsr/xiph``, falling back to ``~/.cache/vsr/xiph`` as the XDG spec says."""
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "vsr" / "xiph"


def cache_path(cache_dir: Path, clip: Clip) -> Path:
    """Where ``clip`` lives in the cache; refuses any name that could point outside ``cache_dir``."""
    if not _SAFE_FILE.match(clip.file) or ".." in clip.file:
        raise VsrError(f"refusing unsafe cache file name {clip.file!r}")
    path = cache_dir / clip.file
    if path.resolve().parent != cache_dir.resolve():
        raise VsrError(f"cache file {path} would fall outside {cache_dir}")
    return path


def cached(cache_dir: Path, clips: Optional[Sequence[Clip]] = None) -> List[Path]:
    """The downloaded (complete, verified on arrival) files among ``clips`` (default: the default subset)."""
    clips = clips if clips is not None else lookup(DEFAULT_SUBSET)
    return [p for p in (cache_path(cache_dir, c) for c in clips) if p.is_file()]

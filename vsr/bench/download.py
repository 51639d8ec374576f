"""Fetching Xiph clips into the cache: resumable, verified, and never a complete-looking bad file.

Bytes arrive in ``NAME.y4m.part``; an interrupted transfer resumes from there with an HTTP Range
request (now or on the next run). Only a file whose length matches the server's, whose y4m header says
1920x1080 4:2:0 and whose size is exactly the catalogue's frame count of frames is renamed to
``NAME.y4m``; a file that fails is deleted, so it is fetched afresh rather than resumed.
"""
import http.client
import logging
import os
from pathlib import Path
import re
import shutil
import socket
from typing import Optional, Tuple
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit
import urllib.request

from tqdm import tqdm

from .. import __version__
from ..errors import VsrError
from .xiph import BASE_URL, FRAME_MARKER, HEIGHT, WIDTH, Clip, cache_path

log = logging.getLogger(__name__)

CHUNK = 1 << 20
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")
_TRANSIENT = (ConnectionError, http.client.IncompleteRead, socket.timeout, TimeoutError)


class _NoDowngrade(urllib.request.HTTPRedirectHandler):
    """Follow redirects, except from HTTPS to anything else."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D102 (urllib's signature)
        if urlsplit(req.full_url).scheme == "https" and urlsplit(newurl).scheme != "https":
            raise VsrError(f"refusing a redirect from {req.full_url} to non-HTTPS {newurl}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_NoDowngrade)


def check_base_url(base: str, mirror: bool) -> None:
    """Xiph is fetched over HTTPS only; a mirror given by the user (``--mirror``) may also be plain HTTP."""
    scheme = urlsplit(base).scheme
    allowed = ("https", "http") if mirror else ("https",)
    if scheme not in allowed or not urlsplit(base).netloc:
        raise VsrError(f"download URL must be {' or '.join(allowed)}://HOST/...: {base!r}", exit_code=2)


def fetch(clip: Clip, cache_dir: Path, base_url: str = BASE_URL, progress: bool = True,
          attempts: int = 3, timeout: float = 30.0) -> Path:
    """Download ``clip`` into ``cache_dir`` (or reuse a verified copy) and return its path."""
    final = cache_path(cache_dir, clip)
    if final.is_file():
        try:
            verify(final, clip)
        except VsrError as exc:
            raise VsrError(f"{exc} (delete {final} to download it again)") from None
        log.info("%s: already downloaded", final)
        return final
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise VsrError(f"cannot create cache folder {cache_dir}: {exc.strerror or exc}") from None
    part = final.with_name(final.name + ".part")
    _check_space(cache_dir, clip.expected_size - (part.stat().st_size if part.exists() else 0), clip)
    url = clip.url(base_url)
    total = None
    for attempt in range(1, attempts + 1):
        try:
            total = _transfer(url, part, progress, timeout)
            break
        except _TRANSIENT as exc:
            have = part.stat().st_size if part.exists() else 0
            if attempt == attempts:
                raise VsrError(f"download of {clip.file} failed after {attempts} tries ({_reason(exc)}); "
                               f"run the same command again to resume from {have} bytes") from None
            log.warning("%s: connection lost (%s); resuming at %d bytes", clip.file, _reason(exc), have)
        except HTTPError as exc:
            raise VsrError(f"cannot download {url}: HTTP {exc.code} {exc.reason}") from None
        except URLError as exc:
            host = urlsplit(url).netloc
            raise VsrError(f"cannot reach {host} ({_reason(exc.reason)}): offline? "
                           f"{clip.file} was not downloaded") from None
    try:
        verify(part, clip, total)
    except VsrError:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, final)
    log.info("%s: downloaded and verified (%d frames)", final, clip.frames)
    return final


def _check_space(folder: Path, needed: int, clip: Clip) -> None:
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise VsrError(f"{clip.file} needs {needed / 1e9:.2f} GB but {folder} has {free / 1e9:.2f} GB free")


def _transfer(url: str, part: Path, progress: bool, timeout: float) -> Optional[int]:
    """Append the rest of ``url`` to ``part``; returns the full length the server announced, if any."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": f"vsr/{__version__}"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        response = _OPENER.open(urllib.request.Request(url, headers=headers), timeout=timeout)
    except HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to send: the part file is already whole (or too long)
            return _total_of_unsatisfiable(exc.headers.get("Content-Range"))
        raise
    with response:
        if have and response.status == 206:
            start, total = _content_range(response.headers.get("Content-Range", ""))
            if start != have:
                raise VsrError(f"{url}: server resumed at byte {start}, not {have}")
            mode = "ab"
        else:  # a full body: the server ignored or was not sent a Range
            if have:
                log.info("%s: server does not resume; starting again", part.name)
            have, mode = 0, "wb"
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        with open(part, mode) as out, tqdm(total=total, initial=have, unit="B", unit_scale=True, unit_divisor=1024,
                                           desc=part.name[: -len(".part")], disable=None if progress else True,
                                           leave=False) as bar:
            while True:
                chunk = response.read(CHUNK)
                if not chunk:
                    break
                out.write(chunk)
                bar.update(len(chunk))
    got = part.stat().st_size
    if total is not None and got < total:
        raise ConnectionError(f"connection closed at {got} of {total} bytes")
    return total


def _content_range(value: str) -> Tuple[int, int]:
    match = _CONTENT_RANGE.fullmatch(value.strip())
    if not match:
        raise VsrError(f"server sent an unusable Content-Range: {value!r}")
    return int(match.group(1)), int(match.group(3))


def _total_of_unsatisfiable(value: Optional[str]) -> Optional[int]:
    match = re.fullmatch(r"bytes \*/(\d+)", (value or "").strip())
    return int(match.group(1)) if match else None


def _reason(exc: object) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def parse_header(head: bytes) -> Tuple[int, int, int, str]:
    """(header length incl. newline, width, height, chroma tag) of a y4m stream header."""
    end = head.find(b"\n")
    if not head.startswith(b"YUV4MPEG2 ") or end < 0:
        raise VsrError("not a y4m file (no YUV4MPEG2 header)")
    fields = {tok[:1]: tok[1:] for tok in head[:end].split(b" ")[1:] if tok}
    try:
        width, height = int(fields[b"W"]), int(fields[b"H"])
    except (KeyError, ValueError):
        raise VsrError("y4m header has no valid W/H") from None
    return end + 1, width, height, fields.get(b"C", b"420jpeg").decode("ascii", "replace")


def verify(path: Path, clip: Clip, total: Optional[int] = None) -> None:
    """Check length, header (1920x1080, 4:2:0) and exact frame count; ``VsrError`` naming the mismatch."""
    size = path.stat().st_size
    if total is not None and size != total:
        raise VsrError(f"{clip.file}: received {size} bytes but the server announced {total}")
    with open(path, "rb") as f:
        try:
            header_len, width, height, chroma = parse_header(f.read(512))
        except VsrError as exc:
            raise VsrError(f"{clip.file}: {exc}") from None
        if (width, height) != (WIDTH, HEIGHT) or not chroma.startswith("420"):
            raise VsrError(f"{clip.file}: header says {width}x{height} C{chroma}, expected {WIDTH}x{HEIGHT} 4:2:0")
        expected = header_len + clip.frames * clip.frame_bytes
        if size != expected:
            raise VsrError(f"{clip.file}: {size} bytes, but {clip.frames} frames of {WIDTH}x{HEIGHT} make {expected}")
        for offset in (header_len, expected - clip.frame_bytes):
            f.seek(offset)
            if f.read(len(FRAME_MARKER)) != FRAME_MARKER:
                raise VsrError(f"{clip.file}: no frame marker at byte {offset}")

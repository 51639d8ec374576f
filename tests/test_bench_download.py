"""The Xiph downloader against a real HTTP server on 127.0.0.1 serving a small generated 1080p y4m."""
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import socket
import threading

import numpy as np
import pytest

from vsr.bench import download, xiph
from vsr.bench.xiph import Clip
from vsr.cli import main
from vsr.errors import VsrError

HEADER = b"YUV4MPEG2 W1920 H1080 F50:1 Ip A1:1 C420jpeg XYSCSS=420JPEG\n"
CLIP = Clip("tiny", "tiny_1080p50.y4m", Fraction(50), 2)


def make_y4m(frames: int = 2, header: bytes = HEADER) -> bytes:
    rng = np.random.default_rng(0)
    return header + b"".join(xiph.FRAME_MARKER + rng.bytes(1920 * 1080 * 3 // 2) for _ in range(frames))


class Server:
    """Serves ``files`` with Range support; ``cut_after`` bytes, the first ``cuts`` responses drop the connection."""

    def __init__(self, files, cut_after=None, cuts=0, honour_range=True):
        self.files, self.cut_after, self.cuts, self.honour_range = files, cut_after, cuts, honour_range
        self.requests = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                data = outer.files.get(self.path.rsplit("/", 1)[-1])
                outer.requests.append((self.path, self.headers.get("Range")))
                if data is None:
                    self.send_error(404)
                    return
                start = 0
                rng = self.headers.get("Range")
                if rng and outer.honour_range:
                    start = int(rng.split("=")[1].rstrip("-"))
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                body = data[start:]
                if outer.cuts > 0:
                    outer.cuts -= 1
                    self.wfile.write(body[: outer.cut_after])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/y4m"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve():
    servers = []

    def start(*args, **kwargs):
        servers.append(Server(*args, **kwargs))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def test_download_verifies_and_caches(serve, tmp_path):
    data = make_y4m()
    server = serve({CLIP.file: data})
    path = download.fetch(CLIP, tmp_path, server.url, progress=False)
    assert path == tmp_path / CLIP.file and path.read_bytes() == data
    assert not (tmp_path / (CLIP.file + ".part")).exists()
    assert download.fetch(CLIP, tmp_path, server.url, progress=False) == path
    assert len(server.requests) == 1  # the second call reused the verified file


def test_resume_after_cut_connection(serve, tmp_path):
    data = make_y4m()
    server = serve({CLIP.file: data}, cut_after=1_000_000, cuts=2)
    path = download.fetch(CLIP, tmp_path, server.url, progress=False, attempts=3)
    assert path.read_bytes() == data
    ranges = [r for _, r in server.requests]
    assert ranges == [None, "bytes=1000000-", "bytes=2000000-"]


def test_interrupted_run_leaves_only_a_part_file_then_resumes(serve, tmp_path):
    data = make_y4m()
    server = serve({CLIP.file: data}, cut_after=3_000_000, cuts=1)
    with pytest.raises(VsrError, match="run the same command again"):
        download.fetch(CLIP, tmp_path, server.url, progress=False, attempts=1)
    assert not (tmp_path / CLIP.file).exists()
    assert (tmp_path / (CLIP.file + ".part")).stat().st_size == 3_000_000
    path = download.fetch(CLIP, tmp_path, server.url, progress=False, attempts=1)
    assert path.read_bytes() == data
    assert server.requests[-1][1] == "bytes=3000000-"


def test_server_without_range_restarts_from_zero(serve, tmp_path):
    data = make_y4m()
    server = serve({CLIP.file: data}, honour_range=False)
    (tmp_path / (CLIP.file + ".part")).write_bytes(b"garbage" * 10)
    assert download.fetch(CLIP, tmp_path, server.url, progress=False).read_bytes() == data


BAD_FILES = {
    "extra frame": (lambda: make_y4m(frames=3), "2 frames of 1920x1080 make"),
    "truncated": (lambda: make_y4m()[:-10], "2 frames of 1920x1080 make"),
    "720p": (lambda: make_y4m(header=b"YUV4MPEG2 W1280 H720 F50:1 Ip A1:1 C420jpeg\n"), "expected 1920x1080"),
    "html": (lambda: b"<html>not found</html>" * 1000, "no YUV4MPEG2 header"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_file_is_rejected_and_removed(serve, tmp_path, case):
    make, message = BAD_FILES[case]
    server = serve({CLIP.file: make()})
    with pytest.raises(VsrError, match=message):
        download.fetch(CLIP, tmp_path, server.url, progress=False)
    assert list(tmp_path.iterdir()) == []  # nothing that looks complete, nothing to resume from


def test_http_error_and_offline_are_one_line_errors(serve, tmp_path):
    server = serve({})
    with pytest.raises(VsrError, match="HTTP 404"):
        download.fetch(CLIP, tmp_path, server.url, progress=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    with pytest.raises(VsrError, match="offline"):
        download.fetch(CLIP, tmp_path, f"http://127.0.0.1:{closed_port}/y4m", progress=False)


def test_cli_download_offline_message(tmp_path, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    code = main(["bench", "--download", "crowd_run", "--cache-dir", str(tmp_path),
                 "--mirror", f"http://127.0.0.1:{closed_port}/y4m"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and "offline" in err[0] and err[0].startswith("vsr: error:")


def test_urls_and_cache_names_are_safe(tmp_path):
    with pytest.raises(VsrError):
        download.check_base_url("http://media.xiph.org/video/derf/y4m", mirror=False)
    with pytest.raises(VsrError):
        download.check_base_url("file:///etc", mirror=True)
    download.check_base_url("http://127.0.0.1:8000/y4m", mirror=True)
    for bad in ("../evil.y4m", "/etc/passwd.y4m", ".hidden.y4m", "a/b.y4m"):
        with pytest.raises(VsrError, match="unsafe"):
            xiph.cache_path(tmp_path, Clip("x", bad, Fraction(50), 1))


def test_catalogue():
    clips = xiph.lookup(xiph.DEFAULT_SUBSET)
    assert len(clips) == 8 and all(8 <= c.seconds <= 13 for c in clips)
    assert xiph.lookup(["crowd_run"])[0].url() == "https://media.xiph.org/video/derf/y4m/crowd_run_1080p50.y4m"
    assert xiph.CATALOGUE["tractor"].expected_size == 60 + 690 * (6 + 1920 * 1080 * 3 // 2)
    assert len(xiph.lookup(["all"])) == len(xiph.CATALOGUE) >= 12
    with pytest.raises(VsrError, match="unknown Xiph clip"):
        xiph.lookup(["nope"])


def test_default_cache_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert xiph.default_cache_dir() == tmp_path / "vsr" / "xiph"


def test_refuses_to_start_without_disk_space(serve, tmp_path, monkeypatch):
    server = serve({CLIP.file: make_y4m()})
    monkeypatch.setattr(download.shutil, "disk_usage", lambda p: type("U", (), {"free": 1000})())
    with pytest.raises(VsrError, match="GB free"):
        download.fetch(CLIP, tmp_path, server.url, progress=False)
    assert server.requests == []

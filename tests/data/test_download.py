"""Downloader tests against a local HTTP server that supports (or ignores) Range requests."""

from __future__ import annotations

import hashlib
import io
import re
import socket
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from genrec.data.download import (
    ALIASES,
    REGISTRY,
    DatasetSpec,
    RemoteFile,
    dataset_dir,
    download,
    get_dataset,
    list_datasets,
)
from genrec.errors import DownloadError

TIMEOUT = 5.0  # seconds per network operation: a hung test fails instead of hanging
PATH = "/data/amazon/productGraph/categoryFiles"
REVIEWS = bytes(range(256)) * 40  # 10,240 bytes
META = b"{'asin': 'A1', 'title': 'Lipstick'}\n" * 50


@dataclass
class Server:
    """What the test server serves and what it saw."""

    url: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    honour_range: bool = True
    truncate_next: int | None = None  # send only this many body bytes once, then hang up
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    sent: int = 0


def _handler(state: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            rng = self.headers.get("Range")
            state.requests.append((self.path, rng))
            body = state.files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            start = 0
            if rng and state.honour_range:
                start = int(re.fullmatch(r"bytes=(\d+)-", rng)[1])  # type: ignore[index]
                if start >= len(body):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            chunk = body[start:]
            self.send_header("Content-Length", str(len(chunk)))
            self.end_headers()
            if state.truncate_next is not None:
                chunk, state.truncate_next = chunk[: state.truncate_next], None
            # Counted before writing: the client may finish reading, and the test check
            # `sent`, before this thread runs another line after the write.
            state.sent += len(chunk)
            self.wfile.write(chunk)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.fixture()
def server() -> Iterator[Server]:
    state = Server()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=TIMEOUT)


def _serve_beauty(server: Server) -> None:
    server.files[f"{PATH}/reviews_Beauty_5.json.gz"] = REVIEWS
    server.files[f"{PATH}/meta_Beauty.json.gz"] = META


def _one_file(**kw: object) -> DatasetSpec:
    remote = RemoteFile(f"https://example.org{PATH}/reviews_Beauty_5.json.gz", **kw)  # type: ignore[arg-type]
    return DatasetSpec("custom", "amazon2014", (remote,), "one file")


def _fetch(server: Server, name: str | DatasetSpec, cache: Path) -> Path:
    return download(name, cache, base_url=server.url, progress=False, timeout=TIMEOUT)


def test_full_download_uses_registry_paths(server: Server, tmp_path: Path) -> None:
    _serve_beauty(server)
    out = _fetch(server, "amazon2014-beauty", tmp_path)
    assert out == tmp_path / "amazon2014-beauty"
    assert (out / "reviews_Beauty_5.json.gz").read_bytes() == REVIEWS
    assert (out / "meta_Beauty.json.gz").read_bytes() == META
    assert not list(out.glob("*.part"))
    assert [rng for _, rng in server.requests] == [None, None]


def test_complete_files_are_not_fetched_again(server: Server, tmp_path: Path) -> None:
    _serve_beauty(server)
    _fetch(server, "amazon2014-beauty", tmp_path)
    n = len(server.requests)
    _fetch(server, "amazon2014-beauty", tmp_path)
    assert len(server.requests) == n


def test_resume_sends_range_and_only_missing_bytes(server: Server, tmp_path: Path) -> None:
    _serve_beauty(server)
    folder = dataset_dir("custom", tmp_path)
    folder.mkdir(parents=True)
    (folder / "reviews_Beauty_5.json.gz.part").write_bytes(REVIEWS[:4000])
    sha = hashlib.sha256(REVIEWS).hexdigest()
    _fetch(server, _one_file(size=len(REVIEWS), sha256=sha), tmp_path)
    assert server.requests == [(f"{PATH}/reviews_Beauty_5.json.gz", "bytes=4000-")]
    assert server.sent == len(REVIEWS) - 4000
    assert (folder / "reviews_Beauty_5.json.gz").read_bytes() == REVIEWS


def test_part_that_is_already_complete_is_finished(server: Server, tmp_path: Path) -> None:
    _serve_beauty(server)
    folder = dataset_dir("custom", tmp_path)
    folder.mkdir(parents=True)
    (folder / "reviews_Beauty_5.json.gz.part").write_bytes(REVIEWS)
    _fetch(server, _one_file(), tmp_path)  # the server answers 416 with the total size
    assert server.sent == 0
    assert (folder / "reviews_Beauty_5.json.gz").read_bytes() == REVIEWS


def test_server_ignoring_range_restarts_from_zero(server: Server, tmp_path: Path) -> None:
    _serve_beauty(server)
    server.honour_range = False
    folder = dataset_dir("custom", tmp_path)
    folder.mkdir(parents=True)
    (folder / "reviews_Beauty_5.json.gz.part").write_bytes(b"stale bytes, not a prefix")
    _fetch(server, _one_file(), tmp_path)
    assert server.requests[0][1] == "bytes=25-"
    assert server.sent == len(REVIEWS)
    assert (folder / "reviews_Beauty_5.json.gz").read_bytes() == REVIEWS


def test_interrupted_transfer_keeps_part_and_resumes(server: Server, tmp_path: Path) -> None:
    _serve_beauty(server)
    server.truncate_next = 3000
    with pytest.raises(DownloadError, match="3000 of 10240 bytes.*resume"):
        _fetch(server, _one_file(), tmp_path)
    part = dataset_dir("custom", tmp_path) / "reviews_Beauty_5.json.gz.part"
    assert part.read_bytes() == REVIEWS[:3000]
    _fetch(server, _one_file(), tmp_path)
    assert server.requests[-1][1] == "bytes=3000-"
    assert (part.parent / "reviews_Beauty_5.json.gz").read_bytes() == REVIEWS


def test_checksum_mismatch_names_values_and_deletes(server: Server, tmp_path: Path) -> None:
    _serve_beauty(server)
    wrong = "0" * 64
    with pytest.raises(DownloadError) as err:
        _fetch(server, _one_file(sha256=wrong), tmp_path)
    message = str(err.value)
    assert "reviews_Beauty_5.json.gz" in message and wrong in message
    assert hashlib.sha256(REVIEWS).hexdigest() in message
    assert not dataset_dir("custom", tmp_path).exists()  # nothing fetched: no folder left


def test_size_mismatch_names_values_and_deletes(server: Server, tmp_path: Path) -> None:
    _serve_beauty(server)
    with pytest.raises(DownloadError, match=r"reviews_Beauty_5.*expected 999, got 10240"):
        _fetch(server, _one_file(size=999), tmp_path)
    assert not dataset_dir("custom", tmp_path).exists()  # nothing fetched: no folder left


def test_offline_error_says_unreachable_and_how_to_import(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DownloadError) as err:
        download(
            "amazon2014-beauty",
            tmp_path,
            base_url=f"http://127.0.0.1:{port}",
            progress=False,
            timeout=TIMEOUT,
        )
    message = str(err.value)
    assert "unreachable" in message
    assert "copy reviews_Beauty_5.json.gz and meta_Beauty.json.gz into" in message
    assert f"genrec data prepare amazon2014 {tmp_path / 'amazon2014-beauty'}" in message


def test_http_error_is_reported(server: Server, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="HTTP 404"):
        _fetch(server, "amazon2014-beauty", tmp_path)


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_zip_is_extracted_once(server: Server, tmp_path: Path) -> None:
    ratings = b"1::1193::5::978300760\n"
    server.files["/datasets/movielens/ml-1m.zip"] = _zip({"ml-1m/ratings.dat": ratings})
    out = _fetch(server, "ml-1m", tmp_path)
    assert out == tmp_path / "ml-1m" / "ml-1m"
    assert (out / "ratings.dat").read_bytes() == ratings
    (out / "ratings.dat").write_bytes(b"edited")
    _fetch(server, "ml-1m", tmp_path)  # already fetched and unpacked: touches nothing
    assert (out / "ratings.dat").read_bytes() == b"edited"
    assert len(server.requests) == 1


ESCAPING = ["../evil.txt", "ml-1m/../../evil.txt", "/abs.txt", "a\\..\\..\\evil.txt", "C:/evil.txt"]


@pytest.mark.parametrize("member", ESCAPING)
def test_zip_with_escaping_member_is_rejected(server: Server, tmp_path: Path, member: str) -> None:
    cache = tmp_path / "cache"
    archive = _zip({"ml-1m/ratings.dat": b"ok", member: b"pwned"})
    server.files["/datasets/movielens/ml-1m.zip"] = archive
    with pytest.raises(DownloadError, match=re.escape(repr(member))):
        _fetch(server, "ml-1m", cache)
    assert not list(tmp_path.rglob("evil.txt")) and not list(tmp_path.rglob("ratings.dat"))
    assert not (cache / "ml-1m" / "ml-1m.zip").exists()


def test_unknown_name_lists_known_names() -> None:
    with pytest.raises(DownloadError, match=r"Did you mean amazon2014-beauty.*ml-1m"):
        get_dataset("amazon2014-beuty")


def test_cache_dir_defaults_to_genrec_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GENREC_CACHE", str(tmp_path))
    assert dataset_dir("ml-1m") == tmp_path / "datasets" / "ml-1m"
    monkeypatch.delenv("GENREC_CACHE")
    assert dataset_dir("ml-1m") == Path.home() / ".cache" / "genrec" / "datasets" / "ml-1m"


def test_registry_has_the_published_urls() -> None:
    snap = "https://snap.stanford.edu/data/amazon/productGraph/categoryFiles"
    ucsd = "https://mcauleylab.ucsd.edu/public_datasets/data/amazon_2023/raw"
    assert [f.url for f in get_dataset("amazon2014-beauty").files] == [
        f"{snap}/reviews_Beauty_5.json.gz",
        f"{snap}/meta_Beauty.json.gz",
    ]
    assert [f.url for f in get_dataset("amazon2023-all-beauty").files] == [
        f"{ucsd}/review_categories/All_Beauty.jsonl.gz",
        f"{ucsd}/meta_categories/meta_All_Beauty.jsonl.gz",
    ]
    ml = get_dataset("ml-1m")
    assert ml.files[0].url == "https://files.grouplens.org/datasets/movielens/ml-1m.zip"
    assert ml.format == "movielens" and ml.root == "ml-1m"
    for cat in [
        "sports-and-outdoors",
        "toys-and-games",
        "office-products",
        "video-games",
        "clothing-shoes-and-jewelry",
        "home-and-kitchen",
        "cds-and-vinyl",
    ]:
        assert get_dataset(f"amazon2014-{cat}").format == "amazon2014"
    for cat in ["beauty-and-personal-care", "sports-and-outdoors", "industrial-and-scientific"]:
        assert get_dataset(f"amazon2023-{cat}").format == "amazon2023"
    assert {"ml-100k", "ml-20m"} <= set(REGISTRY)
    assert all(target in REGISTRY for target in ALIASES.values())
    assert get_dataset("amazon2014-sports").name == "amazon2014-sports-and-outdoors"
    # No invented checksums: every known value must come from a measured file.
    assert all(f.sha256 is None for spec in list_datasets() for f in spec.files)
    assert [s.name for s in list_datasets()] == sorted(REGISTRY)

"""Public dataset registry and a resumable, verified downloader (standard library only).

Files land in ``<cache>/datasets/<name>/`` (``<cache>`` = ``$GENREC_CACHE``, else
``~/.cache/genrec``). A transfer streams into ``<file>.part`` and resumes it with an HTTP
``Range`` request after an interruption; the file gets its final name only after its size and
(when the registry knows it) sha256 check out, so a file under its final name is complete and
is never fetched again. Zip archives are unpacked beside it after checking every member path.
Machines without internet get an error that says how to import files fetched elsewhere.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from http.client import HTTPException, HTTPResponse
from pathlib import Path, PurePosixPath
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit
from urllib.request import Request, urlopen

from tqdm import tqdm

from genrec.errors import DownloadError

_CHUNK = 1 << 20  # 1 MiB reads: few syscalls, small memory
_BAR = {"unit": "B", "unit_scale": True, "unit_divisor": 1024}  # tqdm: KiB / MiB, not "it"


@dataclass(frozen=True)
class RemoteFile:
    """One published file; ``size`` (bytes) and ``sha256`` are checked when known."""

    url: str
    size: int | None = None
    sha256: str | None = None  # only ever a published or measured value, never a guess

    @property
    def filename(self) -> str:
        return PurePosixPath(urlsplit(self.url).path).name


@dataclass(frozen=True)
class DatasetSpec:
    """A downloadable dataset: its files and the format (genrec reader) that parses them."""

    name: str
    format: str  # its `genrec data prepare` reader: amazon2014, amazon2023, movielens, recbole...
    files: tuple[RemoteFile, ...]
    description: str
    root: str = ""  # folder (inside the download folder) to hand the reader, e.g. an archive's


_AMAZON2014 = "https://snap.stanford.edu/data/amazon/productGraph/categoryFiles"
_AMAZON2023 = "https://mcauleylab.ucsd.edu/public_datasets/data/amazon_2023/raw"
_MOVIELENS = "https://files.grouplens.org/datasets/movielens"

# Categories as published (5-core review files exist for each 2014 one).
_AMAZON2014_CATEGORIES = (
    "Amazon_Instant_Video", "Apps_for_Android", "Automotive", "Baby", "Beauty", "Books",
    "CDs_and_Vinyl", "Cell_Phones_and_Accessories", "Clothing_Shoes_and_Jewelry",
    "Digital_Music", "Electronics", "Grocery_and_Gourmet_Food", "Health_and_Personal_Care",
    "Home_and_Kitchen", "Kindle_Store", "Movies_and_TV", "Musical_Instruments",
    "Office_Products", "Patio_Lawn_and_Garden", "Pet_Supplies", "Sports_and_Outdoors",
    "Tools_and_Home_Improvement", "Toys_and_Games", "Video_Games",
)  # fmt: skip
_AMAZON2023_CATEGORIES = (
    "All_Beauty", "Amazon_Fashion", "Appliances", "Arts_Crafts_and_Sewing", "Automotive",
    "Baby_Products", "Beauty_and_Personal_Care", "Books", "CDs_and_Vinyl",
    "Cell_Phones_and_Accessories", "Clothing_Shoes_and_Jewelry", "Digital_Music", "Electronics",
    "Gift_Cards", "Grocery_and_Gourmet_Food", "Handmade_Products", "Health_and_Household",
    "Health_and_Personal_Care", "Home_and_Kitchen", "Industrial_and_Scientific", "Kindle_Store",
    "Magazine_Subscriptions", "Movies_and_TV", "Musical_Instruments", "Office_Products",
    "Patio_Lawn_and_Garden", "Pet_Supplies", "Software", "Sports_and_Outdoors",
    "Subscription_Boxes", "Tools_and_Home_Improvement", "Toys_and_Games", "Video_Games",
)  # fmt: skip


def _amazon(year: int, category: str, what: str, *urls: str) -> DatasetSpec:
    return DatasetSpec(
        f"amazon{year}-{category.lower().replace('_', '-')}",
        f"amazon{year}",
        tuple(RemoteFile(u) for u in urls),
        f"Amazon Reviews {year}, {category}: {what} reviews + item metadata (McAuley lab)",
    )


def _build_registry() -> dict[str, DatasetSpec]:
    a14, a23 = _AMAZON2014, _AMAZON2023
    specs = [
        _amazon(2014, c, "5-core", f"{a14}/reviews_{c}_5.json.gz", f"{a14}/meta_{c}.json.gz")
        for c in _AMAZON2014_CATEGORIES
    ] + [
        _amazon(2023, c, "all", f"{a23}/review_categories/{c}.jsonl.gz",
                f"{a23}/meta_categories/meta_{c}.jsonl.gz")
        for c in _AMAZON2023_CATEGORIES
    ] + [
        # Each zip holds one folder named like the archive: that is what the reader gets.
        DatasetSpec(v, "movielens", (RemoteFile(f"{_MOVIELENS}/{v}.zip"),),
                    f"MovieLens {v[3:].upper()}: rated movies + titles (GroupLens)", root=v)
        for v in ("ml-100k", "ml-1m", "ml-20m")
    ]  # fmt: skip
    return {s.name: s for s in specs}


#: Every downloadable dataset by name.
REGISTRY: dict[str, DatasetSpec] = _build_registry()

#: Short names used in papers and in ../shared/data.
ALIASES: dict[str, str] = {
    "amazon2014-sports": "amazon2014-sports-and-outdoors",
    "amazon2014-toys": "amazon2014-toys-and-games",
    "amazon2014-office": "amazon2014-office-products",
}


def list_datasets() -> list[DatasetSpec]:
    """All registered datasets, sorted by name (for `genrec data list`)."""
    return [REGISTRY[name] for name in sorted(REGISTRY)]


def get_dataset(name: str) -> DatasetSpec:
    """The registry entry for ``name`` (or one of its ``ALIASES``)."""
    spec = REGISTRY.get(ALIASES.get(name, name))
    if spec is None:
        close = difflib.get_close_matches(name, [*REGISTRY, *ALIASES], n=3)
        guess = f" Did you mean {', '.join(close)}?" if close else ""
        raise DownloadError(
            f"unknown dataset {name!r}.{guess} Known datasets: {', '.join(sorted(REGISTRY))}."
        )
    return spec


def dataset_dir(name: str, cache_dir: str | Path | None = None) -> Path:
    """Where ``name``'s files live: ``<cache_dir>/<name>``, by default under the genrec cache."""
    if cache_dir is None:
        cache_dir = Path(os.environ.get("GENREC_CACHE") or Path.home() / ".cache" / "genrec")
        cache_dir = cache_dir / "datasets"
    return Path(cache_dir).expanduser() / name


def download(
    name: str | DatasetSpec,
    cache_dir: str | Path | None = None,
    *,
    base_url: str | None = None,
    progress: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Fetch (or find already fetched) every file of a dataset; returns the reader's folder.

    ``cache_dir`` holds one folder per dataset (see ``dataset_dir``). ``base_url`` replaces
    the scheme and host of every URL, keeping its path (mirrors, tests). ``timeout`` is per
    network operation, in seconds. Raises ``DownloadError`` when the host cannot be reached
    (with how to import files instead), on HTTP errors and on size / checksum mismatches.
    """
    spec = name if isinstance(name, DatasetSpec) else get_dataset(name)
    target = dataset_dir(spec.name, cache_dir)
    existed = target.exists()
    target.mkdir(parents=True, exist_ok=True)
    try:
        _download_files(spec, target, base_url, progress, timeout)
    except BaseException:
        if not existed and not any(target.iterdir()):  # nothing fetched: leave no empty folder
            target.rmdir()
        raise
    return target / spec.root


def _download_files(
    spec: DatasetSpec, target: Path, base_url: str | None, progress: bool, timeout: float
) -> None:
    """Fetch and unpack every file of ``spec`` into folder ``target`` (``download``)."""
    for remote in spec.files:
        path = target / remote.filename
        if path.is_file() and remote.size not in (None, path.stat().st_size):
            raise DownloadError(
                f"{path}: has {path.stat().st_size} bytes, the published file has {remote.size}; "
                "delete it to download it again."
            )
        if not path.is_file():  # a file under its final name was verified when fetched
            url = remote.url
            if base_url is not None:  # a mirror: the same path on another host
                url = base_url.rstrip("/") + urlsplit(remote.url).path
            _fetch(url, path, remote, progress, timeout, _import_hint(spec, target))
        if path.suffix == ".zip":
            _extract(path, target)


def _import_hint(spec: DatasetSpec, target: Path) -> str:
    """How to go on without network: import files fetched elsewhere."""
    names = " and ".join(f.filename for f in spec.files)
    prepare = f"genrec data prepare {spec.format}"
    if any(f.filename.endswith(".zip") for f in spec.files):
        return (
            f"If you already have {names}, copy it into {target} and run the download again "
            "(a local archive is unpacked without network access), or unpack it yourself and "
            f"run `{prepare} <unpacked folder> --out <dataset folder>`."
        )
    return (
        f"If you already have the files, copy {names} into {target} (the download then uses "
        f"them without network access) and run `{prepare} {target} --out <dataset folder>`."
    )


def _fetch(
    url: str, path: Path, remote: RemoteFile, progress: bool, timeout: float, hint: str
) -> None:
    """Stream ``url`` into ``path.part`` (resuming it), verify, then rename to ``path``."""
    part = path.with_name(path.name + ".part")
    offset = part.stat().st_size if part.is_file() else 0
    if remote.size is not None and offset > remote.size:
        part.unlink()  # longer than the file: not a prefix of it
        offset = 0
    headers = {"User-Agent": "genrec", "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response: HTTPResponse = urlopen(Request(url, headers=headers), timeout=timeout)
    except HTTPError as exc:
        exc.close()
        total = _content_range((exc.headers or {}).get("Content-Range", ""))[1]
        if exc.code == 416 and offset and total == offset:  # .part already holds every byte
            return _finish(part, path, remote, total)
        if exc.code == 416 and offset:  # the range is wrong for this file: start over
            part.unlink()
            return _fetch(url, path, remote, progress, timeout, hint)
        raise DownloadError(
            f"{url}: the server answered HTTP {exc.code} {exc.reason}. {hint}"
        ) from exc
    except (URLError, OSError, HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(
            f"cannot reach {urlsplit(url).netloc} to download {path.name} ({reason}): the "
            f"network is unreachable or the host is down. {hint}"
        ) from exc

    with response:
        start, total = _content_range(response.headers.get("Content-Range", ""))
        if offset and response.status == 206 and start != offset:
            part.unlink()  # a range we did not ask for: start over without Range
            return _fetch(url, path, remote, progress, timeout, hint)
        if response.status != 206:
            offset = 0  # the server ignored Range and sends the whole file
        length = response.headers.get("Content-Length")
        if total is None and length is not None:
            total = offset + int(length)
        bar = tqdm(
            total=total or remote.size, initial=offset, desc=path.name, disable=not progress, **_BAR
        )
        with open(part, "ab" if offset else "wb") as out, bar:
            while chunk := _read(response, url, part):
                out.write(chunk)
                bar.update(len(chunk))
    _finish(part, path, remote, total)


def _read(response: HTTPResponse, url: str, part: Path) -> bytes:
    """One chunk; a broken connection keeps the ``.part`` for the next run to resume."""
    try:
        return response.read(_CHUNK)
    except (OSError, HTTPException) as exc:
        raise DownloadError(
            f"{url}: the connection broke during the transfer ({exc!r}); the partial file is "
            f"kept at {part}, run the download again to resume it."
        ) from exc


def _finish(part: Path, path: Path, remote: RemoteFile, server_total: int | None) -> None:
    """Check size and checksum of the finished ``part``, then give it its final name."""
    size = part.stat().st_size
    if server_total is not None and size < server_total:
        raise DownloadError(
            f"{path.name}: the transfer stopped after {size} of {server_total} bytes; the "
            f"partial file is kept at {part}, run the download again to resume it."
        )
    for what, expected, actual in (
        ("size in bytes (server)", server_total, size),
        ("size in bytes (registry)", remote.size, size),
        ("sha256", remote.sha256, _sha256(part) if remote.sha256 else None),
    ):
        if expected is not None and expected != actual:
            part.unlink()
            raise DownloadError(
                f"{path.name}: {what} mismatch, expected {expected}, got {actual}; the bad "
                "file was deleted. Run the download again; if this repeats, the server or "
                "mirror serves a different file."
            )
    os.replace(part, path)


def _content_range(header: str) -> tuple[int | None, int | None]:
    """(first byte, total size) from ``bytes 100-199/1000`` or ``bytes */1000``."""
    match = re.fullmatch(r"\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)\s*", header or "")
    if match is None:
        return None, None
    start, total = match.groups()
    return (int(start) if start else None), (int(total) if total != "*" else None)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _extract(archive: Path, target: Path) -> None:
    """Unpack ``archive`` into ``target`` once; refuse members that would land outside it."""
    stat = archive.stat()
    marker = target / f".{archive.name}.extracted"
    stamp = f"{stat.st_size}:{stat.st_mtime_ns}"
    if marker.is_file() and marker.read_text() == stamp:
        return
    try:
        with zipfile.ZipFile(archive) as zf:
            unsafe = [m for m in zf.namelist() if _unsafe_member(m)]
            if not unsafe:
                _extract_all(zf, target)
    except zipfile.BadZipFile as exc:
        archive.unlink()
        raise DownloadError(
            f"{archive}: not a valid zip ({exc}); deleted, download again."
        ) from exc
    if unsafe:
        archive.unlink()
        raise DownloadError(
            f"{archive}: refusing to unpack member {unsafe[0]!r}: an absolute path or '..' "
            f"would write outside {target}. This is not the published archive; it was deleted. "
            "Check the source or mirror and download again."
        )
    marker.write_text(stamp)


def _unsafe_member(name: str) -> bool:
    """Absolute (POSIX or Windows) paths and '..' components could escape the target folder."""
    parts = name.replace("\\", "/").split("/")
    return name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name) is not None or ".." in parts


def _extract_all(zf: zipfile.ZipFile, target: Path) -> None:
    """Unpack into a staging folder, then move entries in: never a half-unpacked tree."""
    staging = Path(tempfile.mkdtemp(prefix=".unpack.", dir=target))
    try:
        zf.extractall(staging)
        for entry in staging.iterdir():
            dest = target / entry.name
            if dest.is_dir() and not dest.is_symlink():
                shutil.rmtree(dest)
            os.replace(entry, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)

"""Official MovieLens archives: where they are, how to fetch them safely, and the local cache.

An archive is streamed to a temporary file beside the cache (with progress callbacks), verified against
its published SHA-256, unpacked with every member path checked, and moved into
``cache_dir()/NAME`` with a ``.complete`` marker; the next call finds it there and downloads nothing.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from recengine import memory
from recengine.errors import ArchiveError, DownloadError

Progress = Callable[[int, int | None], None]
COMPLETE = ".complete"
BLOCK = 1 << 20
TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class KnownDataset:
    """An official archive: its address, checksum and size, and what it unpacks to."""

    url: str
    sha256: str
    size: int  # bytes of the zip
    folder: str  # the folder the zip unpacks to
    format: str  # the layout of that folder (see recengine.data.FORMATS)
    ratings: int
    description: str

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


_GROUPLENS = "https://files.grouplens.org/datasets/movielens/"
# Sizes and SHA-256 digests: ml-100k, ml-1m, ml-20m, ml-25m and ml-latest-small from tensorflow/datasets,
# tensorflow_datasets/url_checksums/movielens.txt; ml-10m and ml-32m as recorded by public projects that
# pin them (each also checked against the MD5 GroupLens publishes beside the zip, ``NAME.zip.md5``:
# ml-10m ce571fd55effeba0271552578f2648bd, ml-32m d472be332d4daa821edc399621853b57).
KNOWN_DATASETS: dict[str, KnownDataset] = {
    "ml-latest-small": KnownDataset(
        _GROUPLENS + "ml-latest-small.zip",
        "696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436",
        978_202, "ml-latest-small", "movielens", 100_836,
        "MovieLens latest small (2018): 610 users, 9,724 rated movies, half stars; also bundled",
    ),
    "ml-100k": KnownDataset(
        _GROUPLENS + "ml-100k.zip",
        "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
        4_924_029, "ml-100k", "movielens-100k", 100_000,
        "MovieLens 100k (1998): 943 users, 1,682 movies, demographics, canonical splits",
    ),
    "ml-1m": KnownDataset(
        _GROUPLENS + "ml-1m.zip",
        "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
        5_917_549, "ml-1m", "movielens-dat", 1_000_209,
        "MovieLens 1M (2003): 6,040 users, 3,706 rated movies, demographics",
    ),
    "ml-10m": KnownDataset(
        _GROUPLENS + "ml-10m.zip",
        "813c411ccb6122564edfe752e7f80c4dcc5aa25fa94c93622f6877a7ba252862",
        65_566_137, "ml-10M100K", "movielens-dat", 10_000_054,
        "MovieLens 10M (2009): 69,878 users, 10,677 rated movies, half stars",
    ),
    "ml-20m": KnownDataset(
        _GROUPLENS + "ml-20m.zip",
        "96f243c338a8665f6bcc89c53edf6ee39162a846940de6b7c8c48aeada765ff3",
        198_702_078, "ml-20m", "movielens", 20_000_263,
        "MovieLens 20M (2015): 138,493 users, 26,744 rated movies",
    ),
    "ml-25m": KnownDataset(
        _GROUPLENS + "ml-25m.zip",
        "8b21cfb7eb1706b4ec0aac894368d90acf26ebdfb6aced3ebd4ad5bd1eb9c6aa",
        261_978_986, "ml-25m", "movielens", 25_000_095,
        "MovieLens 25M (2019): 162,541 users, 59,047 rated movies",
    ),
    "ml-32m": KnownDataset(
        _GROUPLENS + "ml-32m.zip",
        "e4a68655d7386b8f95f2f2424b2ff975dfdd15ffd59e0d864a14dca43e99d6ee",
        238_950_008, "ml-32m", "movielens", 32_000_204,
        "MovieLens 32M (2023): 200,948 users, 84,432 rated movies",
    ),
}  # fmt: skip


def cache_dir() -> Path:
    """Where downloads live: ``$RECENGINE_CACHE``, else the per-user cache folder (``~/.cache/recengine``)."""
    if configured := os.environ.get("RECENGINE_CACHE"):
        return Path(configured).expanduser()
    if sys.platform == "win32" and (local := os.environ.get("LOCALAPPDATA")):
        return Path(local) / "recengine" / "cache"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "recengine"


def _root(folder: str | os.PathLike | None) -> Path:
    return Path(folder).expanduser() if folder is not None else cache_dir()


def cached_datasets(folder: str | os.PathLike | None = None) -> dict[str, Path]:
    """Name → folder of every data set in the cache (downloaded, or unpacked there by hand)."""
    root = _root(folder)
    if not root.is_dir():
        return {}
    return {p.name: p for p in sorted(root.iterdir()) if _is_complete(p)}


def _is_complete(folder: Path) -> bool:
    if not folder.is_dir() or folder.name.startswith("."):
        return False
    if (folder / COMPLETE).is_file():
        return True
    entry = KNOWN_DATASETS.get(folder.name)
    return entry is not None and (folder / _MARKERS[entry.format]).is_file()


def known(name: str) -> KnownDataset:
    if name not in KNOWN_DATASETS:
        raise DownloadError(f"There is no known data set named {name!r}. Known: {', '.join(KNOWN_DATASETS)}.")
    return KNOWN_DATASETS[name]


def where_to_put(name: str, folder: str | os.PathLike | None = None) -> str:
    """How to get ``name`` (also by hand, e.g. for a machine without internet)."""
    entry, target = known(name), _root(folder) / name
    return (
        f"Run `recengine download {name}` on a machine with internet access, or download {entry.url} "
        f"yourself and unzip it so that its files (such as {_MARKERS[entry.format]}) sit in {target}."
    )


_MARKERS = {"movielens": "ratings.csv", "movielens-100k": "u.data", "movielens-dat": "ratings.dat"}


def download(
    name: str,
    *,
    cache_dir: str | os.PathLike | None = None,
    progress: Progress | None = None,
    base_url: str | None = None,
) -> Path:
    """The folder of data set ``name`` in the cache, downloading and unpacking it first if needed.

    ``base_url`` replaces the GroupLens address (a mirror, or a local server in tests); the archive
    must still match the known checksum.
    """
    entry = known(name)
    root = _root(cache_dir)
    target = root / name
    if _is_complete(target):
        return target
    root.mkdir(parents=True, exist_ok=True)
    url = f"{base_url.rstrip('/')}/{entry.filename}" if base_url else entry.url
    archive = _fetch(url, root, entry, name, progress)
    try:
        unpack(archive, target)
    finally:
        archive.unlink(missing_ok=True)
    return target


def _fetch(url: str, root: Path, entry: KnownDataset, name: str, progress: Progress | None) -> Path:
    """Stream ``url`` into a temporary file in ``root``, checking its SHA-256; return that file."""
    descriptor, name_of_partial = tempfile.mkstemp(dir=root, prefix=f".{name}-", suffix=".zip.partial")
    partial = Path(name_of_partial)
    digest = hashlib.sha256()
    done = 0
    try:
        with (
            open(descriptor, "wb") as handle,
            urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response,
        ):
            total = int(response.headers.get("Content-Length") or entry.size)
            if total > entry.size:
                raise _too_large(name, url, total, entry)
            while block := response.read(min(BLOCK, entry.size + 1 - done)):
                done += len(block)
                if done > entry.size:  # the official file has exactly entry.size bytes
                    raise _too_large(name, url, done, entry)
                handle.write(block)
                digest.update(block)
                if progress:
                    progress(done, total)
    except (urllib.error.URLError, OSError, ValueError) as error:  # URLError, HTTPError, timeouts
        partial.unlink(missing_ok=True)
        reason = getattr(error, "reason", None) or error
        raise DownloadError(
            f"Could not download {name} from {url} ({reason}). {where_to_put(name, root)}"
        ) from None
    except BaseException:  # the size cap, an interrupt, SIGTERM (the command line raises SystemExit)
        partial.unlink(missing_ok=True)
        raise
    if digest.hexdigest() != entry.sha256:
        partial.unlink(missing_ok=True)
        raise DownloadError(
            f"The download of {name} is damaged or not the official file: {done:,} bytes with SHA-256 "
            f"{digest.hexdigest()[:16]}…, expected {entry.size:,} bytes with {entry.sha256[:16]}…. "
            f"Try again. {where_to_put(name, root)}"
        )
    return partial


def _too_large(name: str, url: str, size: int, entry: KnownDataset) -> DownloadError:
    return DownloadError(
        f"{url} sends more than {size:,} bytes, but the official {name} archive has {entry.size:,}: the "
        f"download was stopped. {where_to_put(name)}"
    )


# --- archives -------------------------------------------------------------------------------------------

MAX_MEMBERS = 1_000
# Ratings text compresses 3-10 times; deflate's ceiling is about 1,030. A member over a megabyte that
# claims more than this is a zip bomb, not data.
MAX_RATIO = 200
RATIO_FLOOR_BYTES = 1 << 20


def unpack(archive: Path, target: Path, *, budget: int | None = None) -> Path:
    """Unpack a zip into ``target`` safely; when all members sit under one folder, that folder's content.

    The zip's central directory is checked before anything is written: member count, names (no absolute
    path, no ``..``), each member's and the total declared size against the memory budget (``budget``,
    else the engine's) and the free disk, and each member's compression ratio. Members are then streamed
    out with a hard cap of their declared sizes. A refusal, a truncated or a corrupted zip raises
    ArchiveError and leaves nothing behind. ``target`` gets a ``.complete`` marker.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-unpacking-"))
    try:
        with _open_zip(archive) as zf:
            members = zf.infolist()
            check_archive(archive, members, target.parent, budget)
            for member in members:
                _extract(zf, member, scratch)
        top = {PurePosixPath(m.filename).parts[0] for m in members if m.filename.strip("/")}
        source = scratch
        if len(top) == 1 and (scratch / next(iter(top))).is_dir():
            source = scratch / next(iter(top))
        if target.exists():
            shutil.rmtree(target)
        source.rename(target)
        (target / COMPLETE).touch()
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as error:
        raise ArchiveError(
            f"{archive.name} is truncated or corrupted ({error}). Download it again."
        ) from None
    except RuntimeError as error:  # zipfile's word for an encrypted member
        raise ArchiveError(
            f"{archive.name} could not be unpacked ({error}). Give an unencrypted zip."
        ) from None
    except OSError as error:  # a name too long, one name for a file and a folder, a full disk
        raise ArchiveError(
            f"{archive.name} could not be unpacked ({error.strerror or error}: "
            f"{Path(error.filename or '?').name[:80]!r}). Unzip it yourself and give the folder instead."
        ) from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def check_archive(
    archive: Path, members: list[zipfile.ZipInfo], folder: Path, budget: int | None = None
) -> None:
    """Refuse, from the zip's directory alone, an archive that is unsafe or too large to unpack here."""
    if len(members) > MAX_MEMBERS:
        raise ArchiveError(
            f"{archive.name} holds {len(members):,} members; at most {MAX_MEMBERS:,} are unpacked. "
            "Zip only the data set's files."
        )
    for member in members:
        _check_member(archive, member.filename)
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > RATIO_FLOOR_BYTES and ratio > MAX_RATIO:
            raise ArchiveError(
                f"{archive.name} holds a member compressed {ratio:,.0f} times ({member.file_size:,} bytes "
                f"from {member.compress_size:,}): no data set compresses that well, so it was not unpacked."
            )
    largest = max((member.file_size for member in members), default=0)
    need = sum(member.file_size for member in members)
    advice = (
        "Unzip it yourself and load only the ratings file, or raise the budget (RECENGINE_MEMORY_BUDGET)."
    )
    memory.check(
        largest, f"The largest member of {archive.name} ({largest:,} bytes unpacked)", advice, budget
    )
    memory.check(need, f"Unpacking {archive.name} ({need:,} bytes)", advice, budget)
    free = shutil.disk_usage(folder).free
    if need > free:
        raise ArchiveError(
            f"{archive.name} would unpack to {need:,} bytes but {folder} has only {free:,} bytes free. "
            "Free some space or set RECENGINE_CACHE to a larger disk."
        )


def _extract(zf: zipfile.ZipFile, member: zipfile.ZipInfo, scratch: Path) -> None:
    """Stream one member into ``scratch``, writing at most its declared size (the directory was checked)."""
    parts = [part for part in member.filename.split("/") if part not in ("", ".")]
    if not parts:
        return
    destination = scratch.joinpath(*parts)
    if member.is_dir():
        destination.mkdir(parents=True, exist_ok=True)
        return
    destination.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with zf.open(member) as source, open(destination, "xb") as sink:
        while block := source.read(min(BLOCK, member.file_size - written + 1)):
            written += len(block)
            if written > member.file_size:
                raise ArchiveError(
                    f"{member.filename!r} unpacks to more than the size its zip entry declares."
                )
            sink.write(block)


def _open_zip(archive: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(archive)
    except zipfile.BadZipFile:
        raise ArchiveError(
            f"{archive.name} is not a complete zip archive (it may be truncated or corrupted). "
            "Download it again."
        ) from None


def _check_member(archive: Path, name: str) -> None:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise ArchiveError(
            f"{archive.name} holds an unsafe path {name!r} (absolute or with '..'); it was not unpacked."
        )

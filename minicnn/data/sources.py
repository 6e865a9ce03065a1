"""Where dataset files come from: the search order, checksums and the download into the cache.

Order of places, first match wins: `--data-dir`, `$MINICNN_DATA`, the cache `~/.cache/minicnn`,
the system folders of distribution packages (Debian/Ubuntu `dataset-fashion-mnist` installs
into /usr/share/datasets/fashion-mnist), then a download from the official address into the
cache. In --data-dir and $MINICNN_DATA we look both at the folder itself and at a sub-folder
named after the dataset (`DIR/fashion-mnist/...`). Every file is checked against its md5
before use.
"""
import gzip
import hashlib
import os
import urllib.request
from dataclasses import dataclass, field

from tqdm import tqdm

from minicnn.files import write_atomically


class DataNotFoundError(FileNotFoundError):
    """No copy of the dataset anywhere we looked; the message lists every place."""

    def __init__(self, message, looked=()):
        super().__init__(message)
        self.looked = list(looked)  # the places, one description each

    def __str__(self):
        return self.args[0]


class ChecksumError(ValueError):
    """A file whose md5 matches neither the published archive nor its known content."""


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset.

    md5: of the file exactly as published at the official address.
    content_md5: of the decompressed bytes, for `.gz` files that a distribution re-compressed
        (the Debian package's Fashion-MNIST files differ from the official `.gz` only in their
        gzip header, so their md5 differs while their content is the same). None: not known.
    """
    name: str
    md5: str
    content_md5: str = None


@dataclass(frozen=True)
class DatasetSpec:
    """Everything needed to find, fetch and verify one dataset's files."""
    name: str
    files: dict                 # role ("train_images", "archive", ...) -> RemoteFile
    mirrors: tuple              # base URLs, tried in order; a file's URL is base + name
    system_dirs: tuple = field(default_factory=tuple)
    hint: str = ""              # how to get the data, shown when it cannot be found


def cache_root():
    """`~/.cache/minicnn` (read at call time, so a changed $HOME is honoured)."""
    return os.path.join(os.path.expanduser("~"), ".cache", "minicnn")


def md5_of_file(path, chunk=1 << 20):
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def md5_of_gzip_content(path, chunk=1 << 20):
    """md5 of the decompressed bytes, or None if the file does not decompress."""
    digest = hashlib.md5()
    try:
        with gzip.open(path, "rb") as f:
            for block in iter(lambda: f.read(chunk), b""):
                digest.update(block)
    except (OSError, EOFError, ValueError):
        return None
    return digest.hexdigest()


def verify(path, remote):
    """Raise ChecksumError unless `path` is the published file or holds its known content."""
    actual = md5_of_file(path)
    if actual == remote.md5:
        return
    if remote.content_md5 is not None and path.endswith(".gz"):
        if md5_of_gzip_content(path) == remote.content_md5:
            return
    raise ChecksumError(
        f"{path}: md5 {actual} does not match the published {remote.md5} for {remote.name}; "
        "the file is truncated, corrupted or a different version: delete it and fetch it again")


def candidate_dirs(spec, data_dir=None):
    """The folders searched, in order, each as (description, folder)."""
    places = []
    for label, folder in (("--data-dir", data_dir), ("$MINICNN_DATA", os.environ.get(
            "MINICNN_DATA"))):
        if folder:  # a user's folder may hold several datasets, each in its own sub-folder
            folder = os.path.expanduser(str(folder))
            places += [(label, folder), (label, os.path.join(folder, spec.name))]
    places.append(("cache", os.path.join(cache_root(), spec.name)))
    places += [("system package", folder) for folder in spec.system_dirs]
    return places


def _dir_has_all(folder, spec):
    return all(os.path.isfile(os.path.join(folder, f.name)) for f in spec.files.values())


def locate(spec, data_dir=None):
    """Search local folders. Returns ({role: path}, folder, looked) or (None, None, looked).

    Files found are verified; a damaged file raises ChecksumError naming it rather than being
    skipped silently.
    """
    looked = []
    for label, folder in candidate_dirs(spec, data_dir):
        looked.append(f"{folder} ({label})")
        if _dir_has_all(folder, spec):
            paths = {role: os.path.join(folder, f.name) for role, f in spec.files.items()}
            for role, remote in spec.files.items():
                verify(paths[role], remote)
            return paths, folder, looked
    return None, None, looked


def download_file(url, remote, dest_dir, opener=urllib.request.urlopen, timeout=30):
    """Fetch `url` into `dest_dir/remote.name` with a progress bar; checked before it appears.

    The bytes go to a temporary file in `dest_dir`, which is renamed only once its md5 matches;
    on any failure (network, checksum, Ctrl-C) the temporary file is removed, so the cache never
    holds a partial or wrong file.
    """
    os.makedirs(dest_dir, exist_ok=True)
    final_path = os.path.join(dest_dir, remote.name)

    def fetch(tmp_path):
        digest = hashlib.md5()
        with open(tmp_path, "wb") as out, opener(url, timeout=timeout) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=remote.name,
                      disable=None) as bar:  # no carriage-return frames in piped logs
                for block in iter(lambda: response.read(1 << 16), b""):
                    out.write(block)
                    digest.update(block)
                    bar.update(len(block))
        if digest.hexdigest() != remote.md5:
            raise ChecksumError(f"{url}: downloaded md5 {digest.hexdigest()} does not match the "
                                f"published {remote.md5}; nothing was saved. Try again later "
                                "or fetch the file by hand into --data-dir")
    write_atomically(final_path, fetch)
    return final_path


def download(spec, opener=urllib.request.urlopen):
    """Download every file of `spec` into the cache. Returns ({role: path}, folder).

    Raises OSError (network) or ChecksumError if no mirror delivers a correct copy.
    """
    dest_dir = os.path.join(cache_root(), spec.name)
    paths = {}
    for role, remote in spec.files.items():
        existing = os.path.join(dest_dir, remote.name)
        if os.path.isfile(existing):  # fetched earlier, before another file failed
            verify(existing, remote)
            paths[role] = existing
            continue
        errors = []
        for base in spec.mirrors:
            try:
                paths[role] = download_file(base + remote.name, remote, dest_dir, opener)
                break
            except (OSError, ChecksumError) as error:
                errors.append(f"{base + remote.name}: {error}")
        else:
            raise OSError("download failed: " + "; ".join(errors))
    return paths, dest_dir


def check_data_dir(spec, data_dir):
    """An explicit --data-dir must hold the whole dataset: raise DataNotFoundError saying what
    is wrong with it (missing, not a folder, empty, incomplete) instead of looking elsewhere."""
    folder = os.path.expanduser(str(data_dir))
    if not os.path.exists(folder):
        problem = "does not exist"
    elif not os.path.isdir(folder):
        problem = "is not a folder"
    else:
        wanted = [f.name for f in spec.files.values()]
        present = max((sum(os.path.isfile(os.path.join(d, n)) for n in wanted)
                       for d in (folder, os.path.join(folder, spec.name))))
        if present == len(wanted):
            return
        problem = ("holds none of " if present == 0 else "is incomplete: it needs all of ")
        problem += ", ".join(wanted) + f" (directly or in a sub-folder {spec.name}/)"
    raise DataNotFoundError(f"--data-dir {folder}: {problem} for {spec.name}; put the files "
                            "there, or leave out --data-dir to use the usual places",
                            [f"{folder} (--data-dir)"])


def find_or_download(spec, data_dir=None, allow_download=True, opener=urllib.request.urlopen):
    """Local copy first, else download. Returns ({role: path}, where) or raises
    DataNotFoundError with a message listing every place looked and why the download failed.
    An explicit data_dir is the only place looked: missing or incomplete, it is an error.
    """
    if data_dir is not None:
        check_data_dir(spec, data_dir)
    paths, folder, looked = locate(spec, data_dir)
    if paths is not None:
        return paths, folder
    if allow_download:
        try:
            paths, folder = download(spec, opener)
            return paths, folder
        except (OSError, ChecksumError) as error:
            looked.append(f"download from {', '.join(spec.mirrors)} ({error})")
    else:
        looked.append("download (not attempted: downloads are switched off)")
    files = ", ".join(f.name for f in spec.files.values())
    raise DataNotFoundError(
        f"{spec.name}: could not find {files}. Looked in:\n  - " + "\n  - ".join(looked)
        + (f"\n{spec.hint}" if spec.hint else "")
        + "\nPut the files in a folder and pass --data-dir DIR, or set $MINICNN_DATA.",
        looked)

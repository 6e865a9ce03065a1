"""Writing files so that a crash mid-write never leaves a half-written one.

Every file minicnn writes (checkpoints, metrics, plots, downloads, the bundled subset) goes
first to a temporary file with a unique name in the same folder, then is renamed over the
final name in one step (`os.replace` is atomic on one file system). Readers therefore see the
old file or the new one, never a mix. On any failure, Ctrl-C included, the temporary file is
removed; a hard kill (kill -9, power loss) can leave one behind, and `remove_stale_temporaries`
clears those when a run starts or resumes.
"""
import glob
import os
import tempfile


def temporary_name_parts(path):
    """('.checkpoint-', '.npz.tmp') for 'runs/x/checkpoint.npz': the pattern of its temporaries."""
    stem, extension = os.path.splitext(os.path.basename(path))
    return f".{stem}-", f"{extension}.tmp"


def write_atomically(path, write, sync=True):
    """Call write(tmp_path) to fill a unique temporary file, then rename it to `path`.

    write: a function that writes the whole file at the path it is given (it may raise, e.g.
    a checksum error, and then nothing changes at `path`). sync: flush to disk before the
    rename, so the new name never points at data still in the page cache after a power loss.
    """
    folder = os.path.dirname(os.path.abspath(path))
    prefix, suffix = temporary_name_parts(path)
    fd, tmp_path = tempfile.mkstemp(dir=folder, prefix=prefix, suffix=suffix)
    os.close(fd)
    os.chmod(tmp_path, _mode_for_new_files())  # mkstemp's 0600 would hide results from others
    try:
        write(tmp_path)
        if sync:
            with open(tmp_path, "rb+") as f:
                os.fsync(f.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)
        raise


def _mode_for_new_files():
    """The permissions `open(path, "w")` would give: 0666 less the process's umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def remove_stale_temporaries(folder, names):
    """Delete temporaries left by a killed writer of any of `names` in `folder`. Returns them."""
    removed = []
    for name in names:
        prefix, suffix = temporary_name_parts(name)
        for path in glob.glob(os.path.join(glob.escape(folder), f"{prefix}*{suffix}")):
            os.remove(path)
            removed.append(path)
    return removed

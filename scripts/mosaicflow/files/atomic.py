"""Write outputs under a temporary name and rename them into place.

An interrupted job then leaves either the previous state or the complete new
file, never a truncated one under the final name.
"""

import contextlib
import itertools
import os

# Unique per host, process and call. Not tempfile: per-image jobs start
# hundreds of times and tempfile's imports cost ~10 ms each time.
_UNIQUE = f"{os.uname().nodename}.{os.getpid()}"
_COUNTER = itertools.count()


# Every temporary file and scratch folder starts so: a run's start removes what
# killed jobs left (layout.debris), the archive cache its own (archive.remove_stale).
TEMPORARY_PREFIX = ".tmp-"


def unique_name(prefix=TEMPORARY_PREFIX):
    return f"{prefix}{_UNIQUE}.{next(_COUNTER)}"


def temp_path_for(final_path, suffix=""):
    """A unique temporary path in the same directory as ``final_path``.

    Same directory so that ``os.replace`` is an atomic rename on the same
    filesystem (also on NFS). The name starts with ``.tmp-`` so it is easy to
    recognise and clean up after a crash.
    """
    directory = os.path.dirname(final_path) or "."
    os.makedirs(directory, exist_ok=True)
    return os.path.join(directory, unique_name(f"{TEMPORARY_PREFIX}{os.path.basename(final_path)}.") + suffix)


def commit(temp_path, final_path):
    """Rename the complete ``temp_path`` to ``final_path``.

    The rename is what makes the write atomic: a reader, or the next run after
    a killed job, sees the old file or the whole new one. No ``fsync`` first:
    on NFS ``close`` already sends the data to the server, and forcing every
    projected image, tile and mosaic to a local disk held each job (and the
    run's end) for the disk; like Snakemake's own files, the kernel writes
    them back. What a power loss can still leave is handled where a file is
    reused (``frames.is_whole_fits``: see per_item.projection_is_current, README).
    """
    os.replace(temp_path, final_path)


@contextlib.contextmanager
def folder_output(final_folder):
    """A folder written under a temporary name beside ``final_folder`` (yielded) and
    renamed to it when the block ends without error: a killed or failed job leaves no
    folder, only a temporary one that the next run removes (``stale_scratch``' kin,
    ``layout.remove_debris``). An empty folder already there (made for the job) is
    replaced; a non-empty one is an error."""
    temp = temp_path_for(final_folder)
    os.makedirs(temp)
    try:
        yield temp
        if os.path.isdir(final_folder):
            os.rmdir(final_folder)
        os.rename(temp, final_folder)
    finally:
        if os.path.isdir(temp):
            remove_scratch(temp)


SCRATCH_PREFIX = TEMPORARY_PREFIX + "scratch-"


def scratch_root(near):
    """Where a job's scratch goes: the job's local scratch on an HTCondor node,
    else $TMPDIR (Snakemake sets it for every job), else next to ``near``.
    Intermediate files then stay off the shared filesystem; only the final
    rename of each output happens there."""
    return os.environ.get("_CONDOR_SCRATCH_DIR") or os.environ.get("TMPDIR") or os.path.dirname(near) or "."


def make_scratch(near):
    """A new private scratch folder (see ``scratch_root``); ``remove_scratch`` removes it."""
    directory = os.path.join(scratch_root(near), unique_name(SCRATCH_PREFIX))
    os.makedirs(directory)
    return directory


@contextlib.contextmanager
def scratch_dir(near):
    """A private scratch folder (see ``scratch_root``), removed afterwards."""
    directory = make_scratch(near)
    try:
        yield directory
    finally:
        remove_scratch(directory)


def remove_scratch(directory):
    """Remove a scratch folder and its files. On NFS a file still open somewhere
    lingers as ``.nfsXXXX`` and keeps the folder: that is left for NFS to clear."""
    # subfolders too: the coadd's scratch mirrors batch-N/ of projected/
    for folder, subfolders, names in os.walk(directory, topdown=False):
        for name in names:
            with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                os.remove(os.path.join(folder, name))
        for name in subfolders:
            with contextlib.suppress(OSError):
                os.rmdir(os.path.join(folder, name))
    try:
        os.rmdir(directory)
    except OSError:
        left = [name for _, _, names in os.walk(directory) for name in names]
        if not all(name.startswith(".nfs") for name in left):
            raise


def stale_scratch(root):
    """Scratch folders in ``root`` made on this host by processes that are gone
    (jobs that were killed), as paths."""
    host = os.uname().nodename
    stale = []
    try:
        names = os.listdir(root)
    except OSError:
        return stale
    for name in names:
        if not name.startswith(SCRATCH_PREFIX):
            continue
        owner, _, pid = name[len(SCRATCH_PREFIX) :].rpartition(".")[0].rpartition(".")
        if owner != host or not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            stale.append(os.path.join(root, name))
        except PermissionError:
            pass  # alive, someone else's
    return stale


def discard(*paths):
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def write_text(final_path, text):
    """Atomically write ``text`` to ``final_path``."""
    temp = temp_path_for(final_path)
    try:
        with open(temp, "w", encoding="utf-8") as handle:
            handle.write(text)
        commit(temp, final_path)
    except BaseException:
        discard(temp)
        raise


@contextlib.contextmanager
def fits_pair(final_image, want_area=True):
    """Temporary names for a Montage image and its ``_area`` companion.

    Montage functions derive the area file's name from the image name
    (``x.fits`` -> ``x_area.fits``). Yields the temporary image path; on
    success both files are renamed into place (area first, so a present image
    implies a present area file), on failure both are removed.
    """
    directory = os.path.dirname(final_image) or "."
    os.makedirs(directory, exist_ok=True)
    stem = os.path.join(directory, unique_name())
    temp_image = stem + ".fits"
    temp_area = stem + "_area.fits"
    final_area = area_name(final_image)
    try:
        yield temp_image
        if want_area:
            commit(temp_area, final_area)
        commit(temp_image, final_image)
    finally:
        discard(temp_image, temp_area)


def copy_file(source, destination):
    """Copy bytes inside the kernel (no shutil: it costs ~8 ms to import)."""
    with open(source, "rb") as reader, open(destination, "wb") as writer:
        remaining = os.fstat(reader.fileno()).st_size
        while remaining > 0:
            copied = os.sendfile(writer.fileno(), reader.fileno(), None, remaining)
            if copied == 0:
                raise OSError(f"{source} ended early while copying it")
            remaining -= copied


def area_name(image_path):
    """Montage's name for the area image that goes with ``image_path``."""
    root = image_path[: -len(".fits")] if image_path.endswith(".fits") else image_path
    return root + "_area.fits"

"""Where a mosaic's per-image and per-overlap files live, and removing the
ones that no longer belong to the current inputs.

After an image leaves the field (the region shrank, a file was deleted) or an
overlap disappears, its projection, fits, corrections, logs and benchmark
records would stay on disk and be counted by the performance table. The
jobs that know the current set (the projected table for images, the fits
gather for overlaps, the coadd for tiles) call ``prune`` so that a rerun
leaves the same files a fresh run would. Standard library only.
"""

import os
import shutil


def mosaic_dir(mosaic):
    return os.path.join("results", mosaic)


def log_dir(mosaic):
    return os.path.join("logs", mosaic)


# Folders of one file (or a few) per item, by kind of item: (folder, suffixes).
# An item's files are named ITEM + suffix.
def item_folders(mosaic, kind):
    base, logs, bench = mosaic_dir(mosaic), log_dir(mosaic), os.path.join(mosaic_dir(mosaic), "benchmarks")
    if kind == "image":
        return [
            (os.path.join(base, "projected"), (".fits", "_area.fits", ".fits.failed", ".fits.recovered")),
            (os.path.join(bench, "project"), (".tsv",)),
            (os.path.join(logs, "project"), (".log",)),
        ]
    if kind == "corrected":
        return [
            (os.path.join(base, "corrected"), (".fits", "_area.fits")),
            (os.path.join(bench, "background_correct"), (".tsv",)),
            (os.path.join(logs, "background_correct"), (".log",)),
        ]
    if kind == "fit":  # ITEM is "PLUS+MINUS" (a fit per overlap) or "PLUS" (per image)
        return [
            (os.path.join(base, "fits"), (".tsv",)),
            (os.path.join(base, "diffs"), (".fits", "_area.fits")),
            (os.path.join(bench, "difference_fit"), (".tsv",)),
            (os.path.join(logs, "difference_fit"), (".log",)),
        ]
    if kind == "tile":
        return [
            (os.path.join(base, "tiles"), (".fits", "_area.fits")),
            (os.path.join(bench, "coadd_tile"), (".tsv",)),
            (os.path.join(logs, "coadd_tile"), (".log",)),
        ]
    raise ValueError(f"unknown kind of item {kind!r}")


def stale_files(mosaic, kind, current):
    """Files of ``kind`` items that are not in ``current`` (a set of item names)."""
    stale = []
    for folder, suffixes in item_folders(mosaic, kind):
        try:
            entries = os.scandir(folder)
        except FileNotFoundError:
            continue
        with entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue  # temporary files: removed by the run's start (see ``debris``)
                items = {entry.name[: -len(s)] for s in suffixes if entry.name.endswith(s)}
                if items.isdisjoint(current):
                    stale.append(entry.path)
    return stale


def prune(mosaic, kind, current):
    """Remove the files of ``kind`` items not in ``current``; returns how many."""
    removed = 0
    for path in stale_files(mosaic, kind, current):
        try:
            os.remove(path)
            removed += 1
        except FileNotFoundError:
            pass
        except IsADirectoryError:
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed


# Background matching's once-per-mosaic steps: (output files, rule).
BACKGROUND_STEPS = [
    (("fits.tbl",), "gather_fits"),
    (("corrections.tbl", "corrections.tsv"), "background_model"),
]


def prune_background(mosaic):
    """Remove every file of background matching (for ``background.model: none``)."""
    removed = prune(mosaic, "fit", set())
    base, logs = mosaic_dir(mosaic), log_dir(mosaic)
    for outputs, rule in BACKGROUND_STEPS:
        paths = [os.path.join(base, name) for name in outputs]
        paths += [os.path.join(base, "benchmarks", f"{rule}.tsv"), os.path.join(logs, f"{rule}.log")]
        for path in paths:
            try:
                os.remove(path)
                removed += 1
            except FileNotFoundError:
                pass
    return removed


TEMPORARY_PREFIX = ".tmp-"


def debris(root="results"):
    """Temporary files and scratch folders (``.tmp-*``) below ``root``.

    Every job writes under such names and renames into place, so at the start
    of a run, before any job of it runs, each one is what a killed job left.
    """
    found = []
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            if name.startswith(TEMPORARY_PREFIX):
                found.append(os.path.join(folder, name))
        dirs[:] = [d for d in dirs if not d.startswith(TEMPORARY_PREFIX)]
    return found


def remove_debris(root="results"):
    """Remove what ``debris`` finds, and the scratch folders that killed jobs of
    this host left in the temporary folder; returns the paths removed."""
    import tempfile

    from .atomic import stale_scratch

    found = debris(root) + stale_scratch(os.environ.get("TMPDIR") or tempfile.gettempdir())
    for path in found:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                os.remove(path)
            except FileNotFoundError:
                pass
    return found

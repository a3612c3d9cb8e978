"""Montage's own single-process chain, the reference the workflow is checked
against (tests) and raced against (benchmarks).

mImgtbl, mProjExec, mImgtbl, mOverlaps, mDiffFitExec, mBgModel, mBgExec,
mImgtbl, mAdd: the sequence of Montage's tutorials, with the settings the
workflow uses by default (area-weighted mean coadd).
"""

import os
import time

from mosaicflow import tables
from mosaicflow.steps import check_status, load_montage


def run_chain(inputs_dir, names, header, work_dir, iterations, level_only=False, coadd=0):
    """Run the chain on ``names`` (files in ``inputs_dir``); return stage times.

    Writes ``work_dir/mosaic.fits``.
    """
    montage = load_montage()
    os.makedirs(work_dir, exist_ok=True)
    path = lambda name: os.path.join(work_dir, name)  # noqa: E731
    for sub in ("projected", "diffs", "corrected"):
        os.makedirs(path(sub), exist_ok=True)
    times = {}

    def timed(stage, call, what):
        start = time.perf_counter()
        result = check_status(call(), what)
        times[stage] = times.get(stage, 0.0) + time.perf_counter() - start
        return result

    tables.write_ipac(path("list.tbl"), ["fname"], [{"fname": n} for n in names])
    timed("image_table", lambda: montage.mImgtbl(inputs_dir, path("raw.tbl"), imgListFile=path("list.tbl")), "mImgtbl")
    result = timed(
        "project",
        lambda: montage.mProjExec(inputs_dir, path("raw.tbl"), header, projdir=path("projected")),
        "mProjExec",
    )
    if int(result["failed"]):
        raise RuntimeError(f"mProjExec: {result}")
    timed("projected_table", lambda: montage.mImgtbl(path("projected"), path("projected.tbl")), "mImgtbl")
    timed("overlaps", lambda: montage.mOverlaps(path("projected.tbl"), path("diffs.tbl")), "mOverlaps")
    timed(
        "difference_fit",
        lambda: montage.mDiffFitExec(
            path("projected"), path("diffs.tbl"), header, path("diffs"), path("fits.tbl"), levelOnly=level_only
        ),
        "mDiffFitExec",
    )
    timed(
        "background_model",
        lambda: montage.mBgModel(
            path("projected.tbl"), path("fits.tbl"), path("corrections.tbl"), noslope=level_only, niteration=iterations
        ),
        "mBgModel",
    )
    timed(
        "background",
        lambda: montage.mBgExec(path("projected"), path("projected.tbl"), path("corrections.tbl"), path("corrected")),
        "mBgExec",
    )
    timed("corrected_table", lambda: montage.mImgtbl(path("corrected"), path("corrected.tbl")), "mImgtbl")
    timed(
        "coadd",
        lambda: montage.mAdd(
            path("corrected"), path("corrected.tbl"), header, path("mosaic.fits"), haveAreas=True, coadd=coadd
        ),
        "mAdd",
    )
    return times

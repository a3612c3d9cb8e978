"""Montage's own single-process chain, the reference the workflow is checked
against (tests) and raced against (benchmarks).

mImgtbl, (mMakeHdr,) mProjExec, mImgtbl, mOverlaps, mDiffFitExec, mBgModel,
mBgExec, mImgtbl, mAdd: the sequence of Montage's tutorials, with the
settings the workflow uses by default (area-weighted mean coadd).

    benchmarks/montage_chain.py INPUTS_DIR REGION_HDR WORK_DIR [--make-header] [--times times.json]
"""

import argparse
import json
import os
import time

from ..config.loader import SCHEMA
from ..files import tables
from ..montage.per_item import check_status, load_montage


def _schema():
    import yaml

    with open(SCHEMA, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def default_iterations():
    """mBgModel's iteration count by default in the workflow (config/schema.yaml, its one source)."""
    return _schema()["$defs"]["mosaic"]["properties"]["background"]["properties"]["iterations"]["default"]


def auto_region_options():
    """mMakeHdr's options for the workflow's automatic region with its defaults (config/schema.yaml)."""
    from ..sky.region import MONTAGE_CSYS

    settings = _schema()["$defs"]["auto_region"]["properties"]
    return {
        "csys": MONTAGE_CSYS[settings["frame"]["default"]],
        "pixelScale": settings["pixel_scale"]["default"] / 3600.0,
        "northAligned": 1 if settings["north_aligned"]["default"] else 0,
    }


def work_folder(work_dir):
    """Make ``work_dir`` with the chain's sub-folders; return ``path(name)`` inside it."""
    os.makedirs(work_dir, exist_ok=True)
    path = lambda name: os.path.join(work_dir, name)  # noqa: E731
    for sub in ("projected", "diffs", "corrected"):
        os.makedirs(path(sub), exist_ok=True)
    return path


class StageTimer:
    """Seconds per stage of a chain; ``timed`` runs one Montage call and checks its status."""

    def __init__(self):
        self.times = {}

    def add(self, stage, seconds):
        self.times[stage] = self.times.get(stage, 0.0) + seconds

    def timed(self, stage, call, what):
        start = time.perf_counter()
        result = check_status(call(), what)
        self.add(stage, time.perf_counter() - start)
        return result


def image_table(montage, timer, inputs_dir, names, path):
    """mImgtbl of ``names`` (files in ``inputs_dir``) into ``path("raw.tbl")``."""
    tables.write_ipac(path("list.tbl"), ["fname"], [{"fname": n} for n in names])
    timer.timed(
        "image_table", lambda: montage.mImgtbl(inputs_dir, path("raw.tbl"), imgListFile=path("list.tbl")), "mImgtbl"
    )


def region_header(montage, timer, path, header, make_header):
    """With ``make_header``, write ``header`` as the workflow's automatic region does: mMakeHdr of
    the raw image table (what a script needs when it has no header of its own)."""
    if make_header:
        timer.timed(
            "region_header", lambda: montage.mMakeHdr(path("raw.tbl"), header, **auto_region_options()), "mMakeHdr"
        )


def background_model(montage, timer, path, iterations, level_only):
    """mBgModel of the projected and fits tables into ``path("corrections.tbl")``."""
    timer.timed(
        "background_model",
        lambda: montage.mBgModel(
            path("projected.tbl"), path("fits.tbl"), path("corrections.tbl"), noslope=level_only, niteration=iterations
        ),
        "mBgModel",
    )


def add_corrected(montage, timer, path, header, coadd=0):
    """mImgtbl of the corrected images and mAdd (area-weighted) into ``path("mosaic.fits")``."""
    timer.timed("corrected_table", lambda: montage.mImgtbl(path("corrected"), path("corrected.tbl")), "mImgtbl")
    timer.timed(
        "coadd",
        lambda: montage.mAdd(
            path("corrected"), path("corrected.tbl"), header, path("mosaic.fits"), haveAreas=True, coadd=coadd
        ),
        "mAdd",
    )


def run_chain(inputs_dir, names, header, work_dir, iterations, level_only=False, coadd=0, make_header=False):
    """Run the chain on ``names`` (files in ``inputs_dir``); return stage times.

    Writes ``work_dir/mosaic.fits`` (and ``header`` first with ``make_header``).
    """
    montage = load_montage()
    path = work_folder(work_dir)
    timer = StageTimer()
    image_table(montage, timer, inputs_dir, names, path)
    region_header(montage, timer, path, header, make_header)
    result = timer.timed(
        "project",
        lambda: montage.mProjExec(inputs_dir, path("raw.tbl"), header, projdir=path("projected")),
        "mProjExec",
    )
    if int(result["failed"]):
        raise RuntimeError(f"mProjExec: {result}")
    timer.timed("projected_table", lambda: montage.mImgtbl(path("projected"), path("projected.tbl")), "mImgtbl")
    timer.timed("overlaps", lambda: montage.mOverlaps(path("projected.tbl"), path("diffs.tbl")), "mOverlaps")
    timer.timed(
        "difference_fit",
        lambda: montage.mDiffFitExec(
            path("projected"), path("diffs.tbl"), header, path("diffs"), path("fits.tbl"), levelOnly=level_only
        ),
        "mDiffFitExec",
    )
    background_model(montage, timer, path, iterations, level_only)
    timer.timed(
        "background",
        lambda: montage.mBgExec(path("projected"), path("projected.tbl"), path("corrections.tbl"), path("corrected")),
        "mBgExec",
    )
    add_corrected(montage, timer, path, header, coadd)
    return timer.times


def command_line(run, description, **options):
    """The command line of a chain script: ``run(inputs, names, header, work, iterations, **options)``
    on every FITS file of INPUTS_DIR; prints the stage times (and writes them with --times)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("inputs", help="folder of FITS images")
    parser.add_argument("header", help="the mosaic's header template (written there with --make-header)")
    parser.add_argument(
        "--make-header",
        action="store_true",
        help="make the header with mMakeHdr, as the workflow's automatic region (region: {auto: true}) does",
    )
    parser.add_argument("work", help="work folder (made; mosaic.fits is written there)")
    parser.add_argument(
        "--iterations", type=int, default=default_iterations(), help="mBgModel iterations (the workflow's default)"
    )
    parser.add_argument("--times", help="write the stage times (seconds) to this JSON file")
    for name, (kind, default, text) in options.items():
        parser.add_argument("--" + name, type=kind, default=default, help=text)
    args = parser.parse_args()
    names = sorted(name for name in os.listdir(args.inputs) if name.lower().endswith((".fits", ".fit")))
    extra = {name: getattr(args, name) for name in options}
    start = time.perf_counter()
    times = run(args.inputs, names, args.header, args.work, args.iterations, make_header=args.make_header, **extra)
    print(f"{len(names)} images: {time.perf_counter() - start:.1f} s")
    for stage, seconds in times.items():
        print(f"  {stage:18s} {seconds:7.2f} s")
    if args.times:
        with open(args.times, "w", encoding="utf-8") as handle:
            json.dump(times, handle)

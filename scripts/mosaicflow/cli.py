"""Command line for the workflow's shell jobs: ``montage_job.py STEP ...``.

Rules call this through ``shell:`` rather than ``script:`` because a shell job
costs a Python start (~20 ms) plus MontagePy (~15 ms), while a ``script:``
job also loads Snakemake's script machinery (~100 ms more), and per-image jobs
number in the hundreds. Arguments are workflow-made paths and identifiers
only; user file names reach Montage through the image table's links.
"""

import argparse
import sys

from . import UserError


def _project(args):
    from .steps import project

    project(args.raw, args.hdu, args.header, args.out, args.method)


def _fit(args):
    from .steps import difference_fit

    row = difference_fit(args.plus, args.minus, args.header, args.out, args.level_only, args.keep_diff)
    if row["status"] != "ok":
        print(f"fit failed (left out of the background model): {row['message']}")


def _correct(args):
    from .stages import read_correction
    from .steps import background

    a, b, c = read_correction(args.corrections, args.id)
    background(args.projected, args.out, a, b, c)


def _projected_table(args):
    from . import tables
    from .stages import projected_table

    ids = [row["id"] for row in tables.read_tsv(args.images)]
    projected_table(ids, args.projected_dir, args.out)


def _overlaps(args):
    from .stages import overlaps

    overlaps(args.projected_table, args.out)


def _gather_fits(args):
    import os

    from .stages import gather_fits, overlap_pairs

    pairs = overlap_pairs(args.overlaps)
    files = {(p, m): os.path.join(args.fits_dir, f"{p}+{m}.tsv") for p, m in pairs}
    fitted, failed = gather_fits(args.projected_table, files, args.out)
    print(f"overlaps: {len(pairs)}, fitted: {fitted}, failed fits left out: {failed}")


def _model(args):
    from .stages import background_model

    background_model(args.projected_table, args.fits, args.out_tbl, args.out_tsv, args.iterations, args.level_only)


def _coadd(args):
    from .stages import coadd

    coadd(args.images_dir, args.table, args.header, args.out, args.method)


def _preview(args):
    from .stages import preview

    factor = preview(args.mosaic, args.out, args.max_size, args.stretch, args.colour_table)
    print(f"preview shrunk by {factor}")


def build_parser():
    parser = argparse.ArgumentParser(prog="montage_job.py", description=__doc__.splitlines()[0])
    steps = parser.add_subparsers(dest="step", required=True)

    p = steps.add_parser("project", help="reproject one image (mProjectPP/mProject/mProjectQL)")
    p.add_argument("--raw", required=True)
    p.add_argument("--hdu", type=int, default=0)
    p.add_argument("--method", default="mProjectPP")
    p.add_argument("--header", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=_project)

    p = steps.add_parser("fit", help="fit the difference of one overlap (mDiffFit)")
    p.add_argument("--plus", required=True)
    p.add_argument("--minus", required=True)
    p.add_argument("--header", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--level-only", action="store_true")
    p.add_argument("--keep-diff", default=None)
    p.set_defaults(func=_fit)

    p = steps.add_parser("correct", help="apply one image's background correction (mBackground)")
    p.add_argument("--projected", required=True)
    p.add_argument("--corrections", required=True)
    p.add_argument("--id", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=_correct)

    p = steps.add_parser("projected-table", help="mImgtbl of the projected images")
    p.add_argument("--images", required=True, help="images.tsv")
    p.add_argument("--projected-dir", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=_projected_table)

    p = steps.add_parser("overlaps", help="mOverlaps")
    p.add_argument("--projected-table", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=_overlaps)

    p = steps.add_parser("gather-fits", help="combine per-overlap fits for mBgModel")
    p.add_argument("--projected-table", required=True)
    p.add_argument("--overlaps", required=True)
    p.add_argument("--fits-dir", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=_gather_fits)

    p = steps.add_parser("model", help="mBgModel")
    p.add_argument("--projected-table", required=True)
    p.add_argument("--fits", required=True)
    p.add_argument("--out-tbl", required=True)
    p.add_argument("--out-tsv", required=True)
    p.add_argument("--iterations", type=int, default=10000)
    p.add_argument("--level-only", action="store_true")
    p.set_defaults(func=_model)

    p = steps.add_parser("coadd", help="mAdd")
    p.add_argument("--images-dir", required=True)
    p.add_argument("--table", required=True)
    p.add_argument("--header", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--method", default="mean", choices=["mean", "median", "count"])
    p.set_defaults(func=_coadd)

    p = steps.add_parser("preview", help="mShrink + mViewer PNG")
    p.add_argument("--mosaic", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--max-size", type=int, default=2000)
    p.add_argument("--stretch", default="-2s max gaussian-log")
    p.add_argument("--colour-table", type=int, default=0)
    p.set_defaults(func=_preview)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    from .steps import StepError

    try:
        args.func(args)
    except (UserError, StepError) as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    return 0

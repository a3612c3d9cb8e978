"""mBgModel against the direct least-squares solver (background.solver: lsq)
on pixel-free fields of known backgrounds.

For each grid of N x N tiles (128 x 128 px, 20% overlaps, slopes and levels
drawn at random; synth.overlap_fits), writes the projected and fits tables
as Montage's, then times each solver in this process on them and measures
its background error against the known planes (mosaicflow.reference.truth: RMS of true
background minus correction, one common plane per group removed).

    python benchmarks/background_solver.py --tiles 1000 --iterations 10000 100000
    python benchmarks/background_solver.py --tiles 10000 --iterations 10000
    python benchmarks/background_solver.py --tiles 5x4 8x6 20x2 10x10 --outliers 3 --level-only

mBgModel's cost grows with iterations x overlaps (about 3 minutes at 1,000
images and 100000 iterations here).
"""

import argparse
import math
import os
import sys
import tempfile
import time

import numpy as np

from mosaicflow.files import tables
from mosaicflow.montage import bgsolve
from mosaicflow.montage.per_item import check_status, load_montage
from mosaicflow.reference import truth
from mosaicflow.sky import synth


def read_planes(path):
    return {int(row["id"]): tuple(float(row[k]) for k in "abc") for row in tables.read_ipac(path)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--tiles", nargs="+", default=["1000", "10000"], help="fields: N images (a square grid) or COLUMNSxROWS"
    )
    parser.add_argument(
        "--iterations", type=int, nargs="*", default=[100000], help="mBgModel iterations to run (none: lsq only)"
    )
    parser.add_argument("--outliers", type=int, default=0, help="fits thrown off by 5-30 data units, per field")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--level-only", action="store_true", help="levels only (background.model: level)")
    args = parser.parse_args()
    montage = load_montage()
    print(f"images  fits   solver            seconds  background error (seed {args.seed}, outliers {args.outliers})")
    for field in args.tiles:
        columns, rows = (int(n) for n in field.split("x")) if "x" in field else [round(math.sqrt(int(field)))] * 2
        images, fits, planes = synth.overlap_fits(columns, rows, seed=args.seed, outliers=args.outliers)
        plus = np.array([f["plus"] for f in fits])
        minus = np.array([f["minus"] for f in fits])
        _, labels = bgsolve.image_groups(len(images), plus, minus)
        groups = {i: int(label) for i, label in enumerate(labels)}
        samples = truth.plane_samples(images, planes)
        with tempfile.TemporaryDirectory() as folder:
            projected, fits_tbl = synth.write_overlap_fits(folder, images, fits)
            out = os.path.join(folder, "corrections.tbl")
            start = time.perf_counter()
            solution = bgsolve.solve_tables(projected, fits_tbl, out, args.level_only)
            seconds = time.perf_counter() - start
            error = truth.background_error(samples, read_planes(out), groups)
            print(
                f"{len(images):6d} {len(fits):6d}  lsq              {seconds:8.2f}  {error:.4f}  ({solution.summary()})"
            )
            for iterations in args.iterations:
                start = time.perf_counter()
                result = montage.mBgModel(projected, fits_tbl, out, noslope=args.level_only, niteration=iterations)
                check_status(result, "mBgModel")
                seconds = time.perf_counter() - start
                error = truth.background_error(samples, read_planes(out), groups)
                print(f"{len(images):6d} {len(fits):6d}  mBgModel {iterations:7d} {seconds:8.2f}  {error:.4f}")
            sys.stdout.flush()


if __name__ == "__main__":
    main()

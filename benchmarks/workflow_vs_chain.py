#!/usr/bin/env -S sh -c 'exec "$(dirname "$0")/../.venv/bin/python" "$0" "$@"'
"""Race the workflow against Montage's own single-process chain.

    benchmarks/workflow_vs_chain.py --tiles 100 --cores 2

Makes a synthetic field of real-size tiles (512 x 1024, 1"/px; not timed),
runs ``snakemake --cores N`` on it as a local source, then MontagePy's chain
(mImgtbl, mProjExec, mImgtbl, mOverlaps, mDiffFitExec, mBgModel, mBgExec,
mImgtbl, mAdd) on the same files and header, and prints wall times, their
ratio, the jobs run, per-stage time, and whether the two mosaics agree.
By default the workflow makes what the chain makes, mosaic.fits, with
background.fit_jobs: image and correct_jobs: coadd (the workflow's defaults);
--target all adds every other output, --fit-jobs overlap and --correct-jobs
image measure the per-overlap and per-image jobs.
Results are appended as CSV to ``--csv`` (default benchmarks/results/runs.csv).
The temporary work folder is removed at the end unless --keep is given (a
folder given with --workdir is kept).
"""

import argparse
import csv
import glob
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import yaml
from astropy.io import fits

from mosaicflow.files import layout, tables
from mosaicflow.reference.chain import default_iterations, run_chain
from mosaicflow.sky import synth
from mosaicflow.sky.region import read_header_template

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def make_field(folder, tiles, seed):
    columns = max(1, round(math.sqrt(tiles * 2)))  # tiles are 1:2, so a squarish field
    rows = max(1, math.ceil(tiles / columns))
    truth = synth.make_truth({"columns": columns, "rows": rows, "seed": seed, "stars": 40 * tiles, "nebulae": 6})
    os.makedirs(folder, exist_ok=True)
    for tile in truth["tiles"][:tiles]:
        header, data = synth.render_tile(tile, truth)
        fits.PrimaryHDU(data, header).writeto(os.path.join(folder, tile["name"] + ".fits"), overwrite=True)
    return columns, rows


def per_rule_benchmarks(workdir):
    """{rule: (jobs, summed seconds)} from the rules' benchmark files."""
    summary = {}
    benchmarks = os.path.join(workdir, layout.path("*", "benchmarks"), "**", "*.tsv")
    for path in glob.glob(benchmarks, recursive=True):
        relative = os.path.relpath(path, os.path.join(workdir, layout.RESULTS))
        rule = relative.split(os.sep)[2].removesuffix(".tsv")
        seconds = float(tables.read_tsv(path)[0]["s"])
        jobs, total = summary.get(rule, (0, 0.0))
        summary[rule] = (jobs + 1, total + seconds)
    return summary


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiles", type=int, default=100)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", help="work here, and keep it (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary work folder")
    parser.add_argument("--csv", default=os.path.join(HERE, "results", "runs.csv"))
    parser.add_argument("--snakemake-args", default="", help="extra arguments, e.g. '--profile profiles/local'")
    parser.add_argument(
        "--fit-jobs",
        choices=["overlap", "image"],
        default="image",
        help="background.fit_jobs (default image, the workflow's default)",
    )
    parser.add_argument(
        "--correct-jobs",
        choices=["image", "coadd"],
        default="coadd",
        help="background.correct_jobs (default coadd, the workflow's default)",
    )
    parser.add_argument("--tiles-above", type=int, help="coadd.tiles_above (pixels; default: the workflow's)")
    parser.add_argument(
        "--target",
        choices=["all", "mosaic"],
        default="mosaic",
        help="mosaic (default): only mosaic.fits, which is what the chain makes; all: every output "
        "(adds the PNG and the quality report)",
    )
    args = parser.parse_args()

    workdir = args.workdir or tempfile.mkdtemp(prefix="mosaic-bench-")
    os.makedirs(workdir, exist_ok=True)
    try:
        race(args, workdir)
    finally:
        if args.workdir or args.keep:
            print(f"\nwork folder: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def race(args, workdir):
    tiles_dir = os.path.join(workdir, "tiles")
    columns, rows = make_field(tiles_dir, args.tiles, args.seed)
    settings = {"source": {"type": "local", "path": "tiles"}, "region": {"auto": True}}
    # solver: the chain's mBgModel, like for like
    settings["background"] = {"fit_jobs": args.fit_jobs, "correct_jobs": args.correct_jobs, "solver": "mbgmodel"}
    if args.tiles_above is not None:
        settings["coadd"] = {"tiles_above": args.tiles_above}
    config = {"mosaics": {"bench": settings}}
    with open(os.path.join(workdir, "config.yaml"), "w") as handle:
        yaml.safe_dump(config, handle)

    command = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        os.path.join(REPO, "Snakefile"),
        "-d",
        workdir,
        "--configfile",
        os.path.join(workdir, "config.yaml"),
        "--cores",
        str(args.cores),
        "all" if args.target == "all" else layout.path("bench", "mosaic"),
        "--quiet",
        "all",
        *args.snakemake_args.split(),
    ]
    start = time.perf_counter()
    subprocess.run(command, check=True, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workflow_wall = time.perf_counter() - start

    base = os.path.join(workdir, layout.mosaic_dir("bench"))
    images = tables.read_tsv(layout.in_folder(base, "images"))
    names = [os.path.basename(row["link"]) for row in images]
    start = time.perf_counter()
    stage_times = run_chain(
        layout.in_folder(base, "links"),
        names,
        layout.in_folder(base, "region"),
        os.path.join(workdir, "chain"),
        iterations=default_iterations(),
    )
    chain_wall = time.perf_counter() - start

    ours = fits.getdata(layout.in_folder(base, "mosaic")).astype(float)
    theirs = fits.getdata(os.path.join(workdir, "chain", "mosaic.fits")).astype(float)
    finite = np.isfinite(ours) & np.isfinite(theirs)
    max_difference = float(np.abs(ours[finite] - theirs[finite]).max())

    rules = per_rule_benchmarks(workdir)
    jobs = sum(count for count, _ in rules.values())
    overlaps = len(tables.read_ipac(layout.in_folder(base, "overlaps")))
    header = read_header_template(layout.in_folder(base, "region"))
    print(
        f"field: {len(images)} tiles ({columns} x {rows} grid), {overlaps} overlaps, "
        f"mosaic {header['NAXIS1']} x {header['NAXIS2']} px; {platform.node()}, {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.2f}"
    )
    settings_text = (
        f"fit_jobs={args.fit_jobs} correct_jobs={args.correct_jobs} tiles_above={args.tiles_above} target={args.target}"
    )
    print(f"workflow --cores {args.cores}: {workflow_wall:7.1f} s  ({jobs} jobs; {settings_text})")
    print(f"Montage chain (1 process): {chain_wall:7.1f} s")
    print(f"ratio workflow / chain:    {workflow_wall / chain_wall:7.2f}")
    print(f"max |workflow - chain| pixel difference: {max_difference:.3g}")
    print("\nper stage: workflow jobs, summed job seconds | chain seconds")
    chain_of = {
        "project": "project",
        "difference_fit": "difference_fit",
        "background_correct": "background",
        "coadd": "coadd",
        "background_model": "background_model",
        "overlaps": "overlaps",
        "image_table": "image_table",
        "projected_table": "projected_table",
    }
    for rule, (count, seconds) in sorted(rules.items(), key=lambda kv: -kv[1][1]):
        chain_seconds = stage_times.get(chain_of.get(rule, ""), float("nan"))
        print(f"  {rule:20s} {count:5d} {seconds:8.2f} s | {chain_seconds:8.2f} s")

    os.makedirs(os.path.dirname(args.csv), exist_ok=True)
    new = not os.path.exists(args.csv)
    with open(args.csv, "a", newline="") as handle:
        writer = csv.writer(handle)
        if new:
            columns = ["date", "tiles", "overlaps", "cores", "workflow_s", "chain_s", "ratio", "jobs", "settings"]
            writer.writerow(columns)
        ratio = workflow_wall / chain_wall
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        writer.writerow(
            [
                stamp,
                len(images),
                overlaps,
                args.cores,
                f"{workflow_wall:.2f}",
                f"{chain_wall:.2f}",
                f"{ratio:.3f}",
                jobs,
                settings_text,
            ]
        )


if __name__ == "__main__":
    main()

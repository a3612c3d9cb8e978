#!/usr/bin/env -S sh -c 'exec "$(dirname "$0")/../.venv/bin/python" "$0" "$@"'
"""The workflow's HiPS of a mosaic against one ``reproject_to_hips`` call on the same mosaic.fits.

    benchmarks/hips_speed.py --columns 6 --rows 5 --cores 2

Builds a synthetic field of real-size (512 x 1024, 1"/px) tiles into a mosaic (not timed),
then times, on the same ``mosaic.fits``, in turn:

  workflow    ``snakemake --cores N results/NAME/hips`` with ``hips: true`` (only the HiPS jobs
              run: plan, tile batches, one job for the lower orders, the folder; FITS and PNG tiles)
  reproject   astropy's ``reproject.hips.reproject_to_hips`` (bilinear ``reproject_interp``, the
              same order; FITS tiles, its default for a FITS file) in a fresh interpreter: one process

and prints wall seconds, tile counts and the load average (one minute) before and after as a
Markdown table row per run; with ``--repeats N`` the two take turns at going first. The work
folder is removed unless ``--keep``; a kept ``--workdir`` given again reuses its mosaic.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import yaml

from mosaicflow.files import layout

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPROJECT = """
import sys
from reproject import reproject_interp
from reproject.hips import reproject_to_hips
reproject_to_hips(sys.argv[1], coord_system_out="equatorial", reproject_function=reproject_interp,
                  output_directory=sys.argv[2], level=int(sys.argv[3]))
"""


def count_tiles(folder):
    return sum(name.endswith(".fits") and name.startswith("Npix") for _, _, names in os.walk(folder) for name in names)


def snakemake(workdir, *args, cores=2):
    command = [sys.executable, "-m", "snakemake", "-s", os.path.join(REPO, "Snakefile"), "-d", workdir]
    command += [*args, "--configfile", os.path.join(workdir, "config.yaml"), "--cores", str(cores), "--quiet", "all"]
    started = time.monotonic()
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"snakemake failed:\n{result.stderr[-3000:]}")
    return time.monotonic() - started


def time_workflow(workdir, cores):
    """Seconds of the workflow's HiPS jobs (its earlier HiPS removed first), and the plan."""
    for folder in (layout.path("big", "hips"), os.path.dirname(layout.path("big", "hips_plan"))):
        shutil.rmtree(os.path.join(workdir, folder), ignore_errors=True)
    seconds = snakemake(workdir, layout.path("big", "hips"), cores=cores)
    return seconds, read_plan(workdir)


def read_plan(workdir):
    with open(os.path.join(workdir, layout.path("big", "hips_plan")), encoding="utf-8") as handle:
        return json.load(handle)


def hips_order(workdir, cores):
    """The HiPS's order, from the workflow's plan (made, untimed, if not there yet)."""
    if not os.path.exists(os.path.join(workdir, layout.path("big", "hips_plan"))):
        snakemake(workdir, layout.path("big", "hips_plan"), cores=cores)
    return read_plan(workdir)["order"]


def time_reproject(workdir, mosaic_path, order):
    """Seconds of one reproject_to_hips call in a fresh interpreter, and its folder."""
    reference = os.path.join(workdir, "reproject-hips")
    shutil.rmtree(reference, ignore_errors=True)
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", REPROJECT, mosaic_path, reference, str(order)], check=True)
    return time.monotonic() - started, reference


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--columns", type=int, default=6)
    parser.add_argument("--rows", type=int, default=5)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--batches", type=int, default=8, help="hips_batches")
    parser.add_argument("--repeats", type=int, default=1, help="runs of both, interleaved")
    parser.add_argument("--workdir", help="kept with --keep: a second call reuses its mosaic")
    parser.add_argument("--keep", action="store_true")
    options = parser.parse_args()
    workdir = options.workdir or tempfile.mkdtemp(prefix="hips-speed-")
    os.makedirs(workdir, exist_ok=True)
    mosaic = {
        "source": {"type": "synthetic", "columns": options.columns, "rows": options.rows, "seed": 11, "stars": 3000},
        "region": {"auto": True},
        "hips_batches": options.batches,
    }
    config_path = os.path.join(workdir, "config.yaml")
    try:
        with open(config_path, "w", encoding="utf-8") as handle:
            yaml.safe_dump({"mosaics": {"big": mosaic}}, handle)
        snakemake(workdir, layout.path("big", "mosaic"), cores=options.cores)
        mosaic["hips"] = True
        with open(config_path, "w", encoding="utf-8") as handle:
            yaml.safe_dump({"mosaics": {"big": mosaic}}, handle)
        mosaic_path = os.path.join(workdir, layout.path("big", "mosaic"))
        with open(mosaic_path, "rb") as handle:  # into the page cache for both
            while handle.read(1 << 24):
                pass
        from astropy.io import fits

        shape = fits.getheader(mosaic_path)["NAXIS1"], fits.getheader(mosaic_path)["NAXIS2"]
        print(
            "| run | field | mosaic px | order | workflow tiles (deepest) | workflow s"
            " | reproject tiles | reproject s | ratio | load before, after |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|")
        for run in range(options.repeats):
            load_before = os.getloadavg()[0]
            # interleaved, each system first in turn, so a change in the machine's load hits both
            if run % 2:
                reproject_s, reference = time_reproject(workdir, mosaic_path, hips_order(workdir, options.cores))
                workflow_s, plan = time_workflow(workdir, options.cores)
            else:
                workflow_s, plan = time_workflow(workdir, options.cores)
                reproject_s, reference = time_reproject(workdir, mosaic_path, plan["order"])
            ours = os.path.join(workdir, layout.path("big", "hips"))
            deepest = count_tiles(os.path.join(ours, "Norder" + str(plan["order"])))
            print(
                f"| {run + 1} | {options.columns * options.rows} tiles | {shape[0]} x {shape[1]} | {plan['order']} |"
                f" {count_tiles(ours)} ({deepest}) | {workflow_s:.1f} | {count_tiles(reference)} |"
                f" {reproject_s:.1f} | {reproject_s / workflow_s:.2f} | {load_before:.1f}, {os.getloadavg()[0]:.1f} |",
                flush=True,
            )
    finally:
        if not options.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

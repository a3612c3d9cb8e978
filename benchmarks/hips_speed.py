#!/usr/bin/env -S sh -c 'exec "$(dirname "$0")/../.venv/bin/python" "$0" "$@"'
"""The workflow's HiPS of a mosaic against one ``reproject_to_hips`` call on the same mosaic.fits.

    benchmarks/hips_speed.py --columns 6 --rows 5 --cores 2

Builds a synthetic field of real-size (512 x 1024, 1"/px) tiles into a mosaic (not timed),
then times, on the same ``mosaic.fits``, in turn:

  workflow    ``snakemake --cores N results/NAME/hips`` with ``hips: true`` (only the HiPS jobs
              run: plan, tile batches, one job per lower order, the folder; FITS and PNG tiles)
  reproject   astropy's ``reproject.hips.reproject_to_hips`` (bilinear ``reproject_interp``, the
              same order; FITS tiles, its default for a FITS file) in a fresh interpreter: one process

and prints wall seconds and tile counts as a Markdown table row. ``--mosaic PATH`` times
reproject alone on another mosaic.fits. The work folder is removed unless ``--keep``.
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--columns", type=int, default=6)
    parser.add_argument("--rows", type=int, default=5)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--batches", type=int, default=8, help="hips_batches")
    parser.add_argument("--workdir")
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
        # a kept work folder's earlier HiPS is made again
        for folder in (layout.path("big", "hips"), os.path.dirname(layout.path("big", "hips_plan"))):
            shutil.rmtree(os.path.join(workdir, folder), ignore_errors=True)
        shutil.rmtree(os.path.join(workdir, "reproject-hips"), ignore_errors=True)
        workflow_s = snakemake(workdir, layout.path("big", "hips"), cores=options.cores)
        with open(os.path.join(workdir, layout.path("big", "hips_plan")), encoding="utf-8") as handle:
            plan = json.load(handle)
        reference = os.path.join(workdir, "reproject-hips")
        started = time.monotonic()
        subprocess.run([sys.executable, "-c", REPROJECT, mosaic_path, reference, str(plan["order"])], check=True)
        reproject_s = time.monotonic() - started
        from astropy.io import fits

        shape = fits.getheader(mosaic_path)["NAXIS1"], fits.getheader(mosaic_path)["NAXIS2"]
        ours = os.path.join(workdir, layout.path("big", "hips"))
        print(
            "| field | mosaic px | order | workflow tiles (deepest) | workflow s"
            " | reproject tiles | reproject s | ratio |"
        )
        print("|---|---|---|---|---|---|---|---|")
        print(
            f"| {options.columns * options.rows} tiles | {shape[0]} x {shape[1]} | {plan['order']} |"
            f" {count_tiles(ours)} ({count_tiles(os.path.join(ours, 'Norder' + str(plan['order'])))}) |"
            f" {workflow_s:.1f} | {count_tiles(reference)} | {reproject_s:.1f} | {reproject_s / workflow_s:.2f} |"
        )
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    finally:
        if not options.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

"""What the pool tests share (tests/test_htcondor.py, tests/test_htcondor_features.py):
the workflow run on the session's personal pool, and its checks."""

import glob
import os
import re

import numpy as np
import yaml
from astropy.io import fits

from conftest import REPO, Workflow, small_region
from mosaicflow.operations import personal_pool

PROFILE = os.path.join(REPO, "profiles", "htcondor")


# Two projection and two fit batches (the defaults' eight make a Condor job each on a small field):
# the runs whose subject is not the batching take them.
TWO_BATCHES = {"projection": {"batches": 2}, "background": {"fit_batches": 2}}


def field_config(columns=3, rows=2):
    source = {"type": "synthetic", "columns": columns, "rows": rows, "seed": 3, "stars": 400, "nebulae": 3}
    return {"mosaics": {"pooled": {"source": source, "region": small_region(width=0.1 * columns + 0.04)}}}


class PoolRun:
    """A copy of the workflow in the pool's folder, run there by the pool user.

    Its jobs import the copy's package from ``PYTHONPATH`` (the profile's
    ``getenv`` hands it to each Condor job), not from an install into the pool's
    environment: two test workers run a pool each at once, and a ``pip install
    -e`` of one's copy would make the other's jobs import it. The README's pool
    command installs its clone as the README says (test_htcondor_features.py)."""

    def __init__(self, pool, name, config):
        self.pool = pool
        self.snakefile = personal_pool.copy_workflow(os.path.join(pool.root, name, "workflow"))
        self.work = os.path.join(pool.root, name, "work")
        os.makedirs(self.work)
        self.configfile = os.path.join(self.work, "config.yaml")
        with open(self.configfile, "w") as handle:
            yaml.safe_dump(config, handle)
        pool.chown(os.path.join(pool.root, name))

    def argv(self):
        profile = os.path.join(os.path.dirname(self.snakefile), "profiles", "htcondor")
        scripts = os.path.join(os.path.dirname(self.snakefile), "scripts")
        return [
            "env",
            f"PYTHONPATH={scripts}",
            self.pool.python,
            "-m",
            "snakemake",
            "-s",
            self.snakefile,
            "-d",
            self.work,
            "--configfile",
            self.configfile,
            "--profile",
            profile,
        ]

    def mosaic(self):
        return fits.getdata(os.path.join(self.work, "results", "pooled", "mosaic.fits"))


def local_mosaic(tmp_path, config):
    local = Workflow(tmp_path)
    local.run(config=config)
    return fits.getdata(local.path("results", "pooled", "mosaic.fits"))


def assert_identical(a, b):
    assert a.shape == b.shape
    assert np.array_equal(a, b, equal_nan=True)


def write_tiles(folder, settings):
    """A synthetic field's raw tiles as a local source folder; returns the truth."""
    from mosaicflow.sky import synth

    os.makedirs(folder)
    truth = synth.make_truth(settings)
    for tile in truth["tiles"]:
        header, data = synth.render_tile(tile, truth)
        fits.PrimaryHDU(data, header).writeto(os.path.join(folder, tile["name"] + ".fits"))
    return truth


def submitted_members(pool, before, rule):
    """How many ``rule`` jobs the Condor jobs after cluster set ``before`` ran (grouped or not),
    from each job's Snakemake command line (--target-jobs RULE:wildcards ...) in its .err file."""
    count = 0
    for path in glob.glob(os.path.join(pool.root, "*", "work", ".snakemake", "htcondor", "*", "*.err")):
        cluster = os.path.basename(path)[: -len(".err")].rsplit("_", 1)[1]
        if cluster in before:
            continue
        with open(path, errors="replace") as handle:
            head = handle.read(20000)
        command = re.search(r"--target-jobs (.*?) --", head)
        if command:
            count += sum(job.startswith(f"{rule}:") for job in command.group(1).split())
    return count

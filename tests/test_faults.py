"""Interruptions: SIGKILL at several points of a run, then reruns."""

import glob
import os
import signal
import subprocess
import sys
import time

import numpy as np
from astropy.io import fits

from conftest import SNAKEFILE, Workflow, small_field, small_region

CONFIG = {"mosaics": {"killed": {"source": small_field(seed=12), "region": small_region()}}}


def start(wf):
    command = [sys.executable, "-m", "snakemake", "-s", SNAKEFILE, "-d", wf.workdir,
               "--configfile", wf.configfile, "--cores", "2"]  # fmt: skip
    # A session of its own, so the kill takes Snakemake and every job it started.
    return subprocess.Popen(command, cwd=wf.workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip


def test_sigkill_at_several_points_then_rerun_gives_the_same_mosaic(tmp_path):
    reference = Workflow(tmp_path / "reference")
    os.makedirs(reference.workdir)
    reference.run(config=CONFIG)
    expected = fits.getdata(reference.path("results", "killed", "mosaic.fits"))

    wf = Workflow(tmp_path / "killed")
    os.makedirs(wf.workdir)
    wf.write_config(CONFIG)
    wf.configfile = wf.path("config.yaml")
    stages_seen = []
    for delay in (2.0, 3.5, 3.5, 3.0):
        process = start(wf)
        time.sleep(delay)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        stages_seen.append(sorted(os.listdir(wf.path("logs", "killed"))) if os.path.exists(wf.path("logs")) else [])
        wf.run("--unlock")  # what a user does after a crash: the lock is stale
    wf.run()  # rerun-incomplete is on by default (profiles/default)
    assert len({tuple(s) for s in stages_seen}) >= 3, stages_seen  # the kills hit different stages
    assert np.array_equal(fits.getdata(wf.path("results", "killed", "mosaic.fits")), expected, equal_nan=True)
    # nothing half-written was kept: every image opens and has its full data
    for path in glob.glob(wf.path("results", "killed", "**", "*.fits"), recursive=True):
        with fits.open(path) as hdul:
            assert hdul[0].data is not None and hdul[0].data.size == hdul[0].header["NAXIS1"] * hdul[0].header["NAXIS2"]
    assert wf.run("-n").returncode == 0 and wf.planned_jobs() == {}

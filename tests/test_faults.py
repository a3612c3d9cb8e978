"""Interruptions: SIGKILL at several points of a run, then reruns."""

import glob
import os
import signal
import subprocess
import time

import numpy as np
from astropy.io import fits

from conftest import Workflow, small_field, small_region
from mosaicflow.files import layout

CONFIG = {"mosaics": {"killed": {"source": small_field(seed=12), "region": small_region()}}}


def start(wf):
    command = wf.command()
    # A session of its own, so the kill takes Snakemake and every job it started.
    return subprocess.Popen(
        command, cwd=wf.workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )


def kill_when_a_new_stage_starts(wf, stages_before, timeout=600):
    logs = wf.path("logs", "killed")
    process = start(wf)
    deadline = time.time() + timeout
    while process.poll() is None and time.time() < deadline:
        if os.path.isdir(logs) and set(os.listdir(logs)) - stages_before:
            time.sleep(0.05)  # into the stage's first job
            os.killpg(process.pid, signal.SIGKILL)
            break
        time.sleep(0.01)
    process.wait()


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
    for _ in range(4):
        # Killed as soon as a stage it had not reached before starts (its log
        # entry appears): by progress, not by time, so a slow machine kills at
        # the same points as a fast one.
        kill_when_a_new_stage_starts(wf, set(stages_seen[-1]) if stages_seen else set())
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
    # and nothing a killed job wrote under a temporary name is left
    assert layout.debris(wf.path("results")) == []


def break_one_image_after_validation(wf, config):
    """Build the image table, then replace the link through which Montage reads
    one raw file with a truncated copy (the raw file itself stays as it is, so
    the image table stays valid): Montage's projection of it fails for real."""
    from mosaicflow.files import tables

    wf.run("--until", "image_table", config=config)
    (mosaic,) = config["mosaics"]
    row = sorted(tables.read_tsv(wf.path("results", mosaic, "images.tsv")), key=lambda r: r["path"])[1]
    link = wf.path(row["link"])
    with open(link, "rb") as handle:
        data = handle.read(2880 * 2 + 1000)
    os.remove(link)
    with open(link, "wb") as handle:
        handle.write(data)
    return os.path.basename(row["path"])


def field_folder(wf):
    from mosaicflow.sky import synth

    truth = synth.make_truth({"columns": 2, "rows": 2, "seed": 13, "stars": 300, "nebulae": 2})
    os.makedirs(wf.path("raw"))
    for tile in truth["tiles"]:
        header, data = synth.render_tile(tile, truth)
        fits.PrimaryHDU(data, header).writeto(wf.path("raw", tile["name"] + ".fits"))


def test_failed_projection_is_retried_then_skipped_and_reported(workflow):
    from mosaicflow.files import tables

    field_folder(workflow)
    config = {
        "image_retries": 1,
        "mosaics": {"broken": {"source": {"type": "local", "path": "raw"}, "region": small_region(width=0.25)}},
    }
    victim = break_one_image_after_validation(workflow, config)
    result = workflow.run(config=config)
    assert "Trying to restart job" in result.stdout + result.stderr  # retried once first
    failed = tables.read_tsv(workflow.path("results", "broken", "failed_images.tsv"))
    assert [os.path.basename(r["path"]) for r in failed] == [victim] and "mProjectPP" in failed[0]["reason"]
    projected = tables.read_ipac(workflow.path("results", "broken", "projected.tbl"))
    assert len(projected) == 3
    quality = {
        (r["section"], r["metric"]): r["value"]
        for r in tables.read_tsv(workflow.path("results", "broken", "quality.tsv"))
    }
    assert quality[("images", "projection_failed")] == "1"
    mosaic = fits.getdata(workflow.path("results", "broken", "mosaic.fits"))
    assert 0.3 < np.isfinite(mosaic).mean() < 1.0  # built from the three others


def test_failed_projection_stops_the_run_with_policy_fail(workflow):
    field_folder(workflow)
    config = {
        "image_retries": 0,
        "mosaics": {
            "strict": {
                "source": {"type": "local", "path": "raw"},
                "region": small_region(width=0.25),
                "on_image_error": "fail",
            }
        },
    }
    victim = break_one_image_after_validation(workflow, config)
    result = workflow.run(config=config, check=False)
    assert result.returncode != 0
    logs = glob.glob(workflow.path("logs", "strict", "project", "*.log"))
    messages = [open(p).read() for p in logs if "error:" in open(p).read()]
    assert len(messages) == 1 and "mProjectPP" in messages[0] and victim.removesuffix(".fits") in messages[0]


def test_after_a_power_loss_the_readmes_recovery_remakes_what_was_lost(tmp_path):
    # Outputs are not fsynced: a power loss can leave the files of the last
    # half minute empty under their final names. Here every file written after
    # the projected table comes back empty; the README's recovery (remove what
    # was written in the minute before the crash, run again) must give the
    # mosaic of an uninterrupted run, and then a run with nothing to do.
    wf = Workflow(tmp_path / "crashed")
    os.makedirs(wf.workdir)
    wf.run(config=CONFIG)
    mosaic = wf.path("results", "killed", "mosaic.fits")
    expected = fits.getdata(mosaic, memmap=False)  # the file is cut below
    cut = os.stat(wf.path("results", "killed", "projected.tbl")).st_mtime
    crash = time.time()
    lost = 0
    for folder, _dirs, names in os.walk(wf.path("results")):
        for name in names:
            path = os.path.join(folder, name)
            if os.stat(path).st_mtime > cut:
                os.truncate(path, 0)  # the data never written back
                lost += 1
            else:
                os.utime(path, (crash - 600, crash - 600))  # long before the crash
    assert lost > 5 and os.path.getsize(mosaic) == 0
    before_the_crash = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(crash - 60))
    subprocess.run(
        ["bash", "-c", f"find results -type f -newermt '{before_the_crash}' -delete"], cwd=wf.workdir, check=True
    )
    wf.run()
    assert np.array_equal(fits.getdata(mosaic), expected, equal_nan=True)
    assert wf.run("-n").returncode == 0 and wf.planned_jobs() == {}

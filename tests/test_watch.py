"""Watched folders (scripts/watch.py): images arriving in bursts give one run per
burst, each projecting only the new images, and a mosaic equal to a fresh run's."""

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest
from astropy.io import fits

from conftest import REPO, Workflow, schema_defaults
from mosaicflow.files import layout
from mosaicflow.files.tables import read_tsv
from mosaicflow.montage.per_item import FAULT_VARIABLE
from mosaicflow.operations.tracking import locked
from mosaicflow.sky import synth

WATCH = os.path.join(REPO, "scripts", "watch.py")
TILES = {"columns": 3, "rows": 2, "tile_width": 128, "tile_height": 256, "stars": 200, "nebulae": 2, "seed": 11}
REGION = {"center": "83.82 -5.39", "width": 0.12, "height": 0.15}
SETTLE, POLL = 2.0, 0.3
RUN_TIMEOUT = 240


@pytest.fixture(scope="module")
def tiles(tmp_path_factory):
    """Six small overlapping tiles of one synthetic sky, as FITS files."""
    folder = tmp_path_factory.mktemp("tiles")
    truth = synth.make_truth(TILES)
    for tile in truth["tiles"]:
        header, data = synth.render_tile(tile, truth)
        fits.PrimaryHDU(data, header).writeto(folder / (tile["name"] + ".fits"))
    return sorted(str(folder / name) for name in os.listdir(folder))


class Watch:
    """scripts/watch.py on a work dir whose config watches its ``raw/`` folder."""

    def __init__(self, workdir, env=None, **mosaic):
        self.workdir = str(workdir)
        self.raw = os.path.join(self.workdir, "raw")
        os.makedirs(self.raw)
        self.workflow = Workflow(self.workdir)
        self.configfile = self.workflow.write_config(
            {"mosaics": {"field": {"source": {"type": "local", "path": "raw"}, "region": REGION, **mosaic}}}
        )
        self.database = os.path.join(self.workdir, "tracking.db")
        self.output = open(os.path.join(self.workdir, "watch.out"), "w+", encoding="utf-8")  # noqa: SIM115
        command = [sys.executable, WATCH, "--configfile", self.configfile, "-d", self.workdir]
        command += ["--settle", str(SETTLE), "--poll", str(POLL), "--", "--cores", "2"]
        command += ["--logger", "snkmt", "--logger-snkmt-db", self.database]
        self.process = subprocess.Popen(
            command, stdout=self.output, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )

    def drop(self, paths):
        """A burst: files landing one after another, less than the settling time apart."""
        for path in paths:
            shutil.copyfile(path, os.path.join(self.raw, ".part"))
            os.rename(os.path.join(self.raw, ".part"), os.path.join(self.raw, os.path.basename(path)))
            time.sleep(0.2)

    def text(self):
        self.output.seek(0)
        return self.output.read()

    def records(self):
        path = os.path.join(self.workdir, "logs", "watch.tsv")
        return read_tsv(path) if os.path.exists(path) else []

    def wait_for(self, condition, what):
        deadline = time.monotonic() + RUN_TIMEOUT
        while time.monotonic() < deadline:
            if condition():
                return
            if self.process.poll() is not None:
                raise AssertionError(f"the watcher exited ({self.process.returncode}):\n{self.text()}")
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}:\n{self.text()}")

    def wait_for_runs(self, count):
        self.wait_for(lambda: len(self.records()) >= count, f"{count} recorded runs")
        return self.records()

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(150)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def projection_jobs_per_run(self):
        """Projection jobs of each tracked run, oldest first (from the tracking database)."""
        with sqlite3.connect(self.database) as db:
            rows = db.execute(
                """SELECT w.id, (SELECT count(*) FROM jobs j JOIN rules r ON r.id = j.rule_id
                                 WHERE j.workflow_id = w.id AND r.name IN ('project', 'project_batch'))
                   FROM workflows w WHERE w.dryrun = 0 ORDER BY w.started_at"""
            ).fetchall()
        return [count for _, count in rows]

    def projected(self):
        """{projected image: the time it was written}."""
        folder = os.path.join(self.workdir, "results", "field", "projected")
        return {
            name: os.stat(os.path.join(root, name)).st_mtime_ns
            for root, _, names in os.walk(folder)
            for name in names
            if not name.startswith(".")
        }


@pytest.fixture
def watcher(tmp_path):
    started = []

    def start(**kwargs):
        started.append(Watch(tmp_path / "watched", **kwargs))
        return started[-1]

    yield start
    for watch in started:  # stopped even when the test failed
        watch.stop()
        watch.output.close()


def test_three_bursts_give_three_runs_and_the_fresh_mosaic(watcher, tiles, tmp_path):
    watch = watcher()
    written = []
    for burst, files in enumerate((tiles[:2], tiles[2:4], tiles[4:]), start=1):
        watch.drop(files)
        records = watch.wait_for_runs(burst)
        written.append(watch.projected())
    assert [row["status"] for row in records] == ["ok"] * 3, watch.text()
    assert [row["images"] for row in records] == ["2", "4", "6"]
    # the first burst may land before the watcher's first look
    assert records[0]["changed"] in ("images 0 -> 2", "images found when watching began")
    assert [row["changed"] for row in records[1:]] == ["images 2 -> 4", "images 4 -> 6"]
    # Each run re-projected only the batches that its own burst's images hash
    # to (one job each): the images of every other batch were not rewritten.
    images = [{name for name in run if name.endswith(".fits") and not name.endswith("_area.fits")} for run in written]
    assert [len(run) for run in images] == [2, 4, 6]
    batches = schema_defaults()["projection"]["batches"]

    def batch(name):
        return layout.batch_of(name.removesuffix("_area.fits").removesuffix(".fits"), batches)

    for before, after in zip(written, written[1:], strict=False):
        touched = {batch(name) for name in after if name not in before}
        kept = {name: when for name, when in before.items() if batch(name) not in touched}
        assert kept and all(after[name] == when for name, when in kept.items()), (before, after)
    assert all(1 <= count <= 2 for count in watch.projection_jobs_per_run()), watch.projection_jobs_per_run()
    time.sleep(SETTLE + 4 * POLL)
    assert len(watch.records()) == 3, "a run without a change"
    assert watch.stop() == 0
    assert "stopped" in watch.text()

    fresh = Workflow(tmp_path / "fresh")
    os.makedirs(fresh.path("raw"))
    for path in tiles:
        shutil.copyfile(path, fresh.path("raw", os.path.basename(path)))
    fresh.run(config={"mosaics": {"field": {"source": {"type": "local", "path": "raw"}, "region": REGION}}})
    for name in ("mosaic.fits", "mosaic_area.fits"):
        watched = fits.getdata(os.path.join(watch.workdir, "results", "field", name))
        assert np.array_equal(watched, fits.getdata(fresh.path("results", "field", name)), equal_nan=True), name


def test_waits_for_the_lock_survives_a_failed_run_and_stops_on_sigterm(watcher, tiles):
    bad = os.path.basename(tiles[0])
    watch = watcher(env={FAULT_VARIABLE: bad}, on_image_error="fail")
    # Another Snakemake holds the working directory: the watcher waits for its lock.
    lock = os.path.join(watch.workdir, ".snakemake", "locks", "0.input.lock")
    os.makedirs(os.path.dirname(lock))
    with open(lock, "w", encoding="utf-8") as handle:
        handle.write(watch.raw + "\n")
    watch.drop(tiles[:3])
    watch.wait_for(lambda: "waiting for its lock" in watch.text(), "the watcher to wait for the lock")
    time.sleep(SETTLE)
    assert watch.records() == [] and "run 1 starts" not in watch.text()
    os.remove(lock)
    assert watch.wait_for_runs(1)[0]["status"] == "failed"
    os.remove(os.path.join(watch.raw, bad))
    assert watch.wait_for_runs(2)[1]["status"] == "ok"
    # SIGTERM in the middle of a run stops Snakemake, records it and ends the watcher.
    watch.drop(tiles[3:5])
    watch.wait_for(lambda: "run 3 starts" in watch.text(), "the third run")
    time.sleep(1.0)
    assert watch.stop() == 0
    records = watch.records()
    assert [row["status"] for row in records] == ["failed", "ok", "stopped"], watch.text()
    assert not locked(watch.workdir), "Snakemake's lock was left behind"


def test_help_names_the_snakemake_arguments_after_the_double_dash():
    import subprocess
    import sys

    from conftest import REPO

    result = subprocess.run(
        [sys.executable, os.path.join(REPO, "scripts", "watch.py"), "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.path.join(REPO, "scripts")},
    )
    assert result.returncode == 0
    assert "[-- SNAKEMAKE ARGS ...]" in result.stdout and "Arguments after -- are Snakemake's" in result.stdout

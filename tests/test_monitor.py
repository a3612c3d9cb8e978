"""The live web monitor (scripts/monitor.py), driven by headless Chromium during a
real tracked run of a field table and a mosaic: the counts change, a failed field
shows its log tail, and the previews appear. Screenshots go to $MOSAICFLOW_SCREENSHOTS (else the test's
temporary folder)."""

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import yaml
from astropy.io import fits

from conftest import REPO, Workflow, small_region
from mosaicflow.montage.per_item import FAULT_VARIABLE
from mosaicflow.operations import tracking
from mosaicflow.sky import synth

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
MONITOR = os.path.join(REPO, "scripts", "monitor.py")
PROFILE = os.path.join(REPO, "profiles", "local")
SMALL_TILES = {"columns": 3, "rows": 2, "tile_width": 128, "tile_height": 256, "stars": 200, "nebulae": 2}
REGION = small_region(width=0.12, height=0.12)
FIELDS = ("orion", "m17")
BROKEN = "broken_tile.fits"
RUN_TIMEOUT = 300


def chromium():
    """A headless Chromium under Selenium, or skip saying what is missing."""
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="selenium is not installed (envs/requirements-dev.txt)"
    )
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.path.exists(path):
            pytest.skip(f"{path} is absent (Debian packages chromium and chromium-driver)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1400,1100",
    ):
        options.add_argument(flag)
    profile = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"chromium-profile-{os.getpid()}-{time.monotonic_ns()}")
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    return driver, profile


def start_monitor(workdir, database):
    process = subprocess.Popen(
        [sys.executable, MONITOR, "--port", "0", "-d", workdir, "--db", database],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    line = process.stdout.readline()
    assert line.startswith("Monitor on http://127.0.0.1:"), line
    return process, line.split()[2]


def stop(process):
    if process is not None and process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def page_state(driver):
    return driver.execute_script(
        """const card = document.getElementById('run-card');
           const fields = [...document.querySelectorAll('.field')].map(f => ({
               name: f.dataset.name, state: f.dataset.state,
               preview: (f.querySelector('img.preview') || {}).naturalWidth || 0,
               failed: [...f.querySelectorAll('pre')].map(p => p.textContent).join('\\n')}));
           return {done: card ? +card.dataset.done : -1, running: card ? +card.dataset.running : -1,
                   failed: card ? +card.dataset.failed : -1,
                   run: (document.getElementById('run-state') || {}).textContent || '', fields};"""
    )


@pytest.fixture
def tracked_run(tmp_path):
    """Three fields: two rows of a field table, and a mosaic whose one tile cannot be read."""
    workflow = Workflow(tmp_path / "work")
    truth = synth.make_truth({**SMALL_TILES, "seed": 3})
    for folder, names in (
        ("good", [t["name"] + ".fits" for t in truth["tiles"]]),
        ("raw", [BROKEN, "b.fits", "c.fits"]),
    ):
        os.makedirs(workflow.path(folder))
        for tile, name in zip(truth["tiles"], names, strict=False):  # raw/ takes the first three
            header, data = synth.render_tile(tile, truth)
            fits.PrimaryHDU(data, header).writeto(workflow.path(folder, name))
    with open(workflow.path("fields.tsv"), "w", encoding="utf-8") as table:
        table.write("name\tsource\tcenter\tsize\tpath\n")
        for name in FIELDS:
            table.write(f"{name}\tlocal\t{REGION['center']}\t{REGION['width']}\tgood\n")
    workflow.configfile = workflow.write_config(
        {
            "fields": "fields.tsv",
            "mosaics": {
                "carina": {"source": {"type": "local", "path": "raw"}, "region": REGION, "on_image_error": "fail"}
            },
        }
    )
    return workflow


def test_monitor_follows_a_real_run_in_chromium(tracked_run, tmp_path):
    driver, profile = chromium()
    shots = os.environ.get("MOSAICFLOW_SCREENSHOTS") or str(tmp_path / "screenshots")
    os.makedirs(shots, exist_ok=True)
    workflow, database = tracked_run, str(tmp_path / "tracking.db")
    run = monitor = None
    try:
        # The run starts first and never learns whether a monitor is up.
        command = workflow.command("--profile", PROFILE, "--logger-snkmt-db", database)
        run_log = open(tmp_path / "run.log", "w", encoding="utf-8")  # noqa: SIM115
        run = subprocess.Popen(
            command,
            cwd=workflow.workdir,
            stdout=run_log,
            stderr=subprocess.STDOUT,
            env={**os.environ, FAULT_VARIABLE: BROKEN},
        )
        monitor, url = start_monitor(workflow.workdir, database)
        driver.get(url)
        seen, shot, deadline = [], set(), time.monotonic() + RUN_TIMEOUT
        while time.monotonic() < deadline:
            state = page_state(driver)
            seen.append(state)
            moment = (
                "running" if state["running"] > 0 else None,
                "failed" if state["failed"] > 0 else None,
                "preview" if any(f["preview"] for f in state["fields"]) else None,
            )
            for name in filter(None, moment):
                if name not in shot:
                    shot.add(name)
                    driver.save_screenshot(os.path.join(shots, f"monitor-{len(shot)}-{name}.png"))
            if run.poll() is not None and state["run"] not in ("running", "RUNNING", ""):
                break
            time.sleep(0.5)
        assert run.poll() is not None, "the run did not end in time"
        time.sleep(2.5)  # one more refresh of the page after the run's last event
        final = page_state(driver)
        driver.save_screenshot(os.path.join(shots, "monitor-final.png"))
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
        stop(run)
        stop(monitor)
    assert run.returncode != 0, "the broken field should fail the run (--keep-going finishes the other)"
    done = [state["done"] for state in seen if state["done"] >= 0]
    assert done == sorted(done), "done counts went backwards"
    assert len(set(done)) >= 3, f"the page did not follow the run: {sorted(set(done))}"
    assert any(state["running"] > 0 for state in seen), "no running job was ever shown"
    fields = {field["name"]: field for field in final["fields"]}
    for name in FIELDS:
        assert fields[name]["state"] == "done" and fields[name]["preview"] > 0, fields[name]
    assert fields["carina"]["state"] == "failed", fields["carina"]
    assert "fault injected" in fields["carina"]["failed"], "the failed job's log tail is not shown"
    assert final["failed"] >= 1 and final["run"] == "ERROR"


def test_tracking_records_every_job_of_a_run_without_a_monitor(tracked_run, tmp_path, monkeypatch):
    """The profile's logger line alone (no server anywhere): every job is in the database
    with its mosaic, rule, state, times and log; the failed one with its error."""
    database = str(tmp_path / "tracking.db")
    monkeypatch.setenv(FAULT_VARIABLE, BROKEN)
    result = tracked_run.run("--profile", PROFILE, "--logger-snkmt-db", database, check=False)
    assert result.returncode != 0
    connection = tracking.connect(database)
    index = tracking.Index(tracked_run.workdir)
    runs = tracking.runs(connection, index)
    assert len(runs) == 1 and runs[0]["status"] == "ERROR"
    jobs = tracking.jobs(connection, runs[0]["id"], index)
    view = tracking.mosaic_view(jobs)
    for name in FIELDS:
        assert view[name]["failed"] == 0 and view[name]["stage"] == "quality", view[name]
    assert view["carina"]["failed"] >= 1
    for job in jobs:
        assert job["started"] and (job["ended"] or job["state"] == "RUNNING"), job
        if job["rule"] not in ("all",):
            assert job["mosaic"] in (*FIELDS, "carina") and job["logs"], job
    failed = [job for job in jobs if job["state"] == "ERROR"]
    assert {job["rule"] for job in failed} == {"project_batch"}  # the default projection.jobs: batch
    assert "fault injected" in tracking.log_tail(failed[0]["logs"][0])
    # A projection is retried image_retries times (the schema's default) before it fails for good.
    with open(os.path.join(REPO, "config", "schema.yaml"), encoding="utf-8") as handle:
        retries = yaml.safe_load(handle)["properties"]["image_retries"]["default"]
    assert [job["attempts"] for job in failed] == [1 + retries]

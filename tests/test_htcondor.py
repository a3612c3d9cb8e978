"""profiles/htcondor on a real (personal) HTCondor pool: the profile, and the
mosaic, the job grouping with its tracking database, a killed job and a rerun on the pool
(tests/test_htcondor_features.py: the workflow's features on the pool).

The pool tests use the session's one-machine pool (the ``pool`` fixture of
conftest.py: HTCondor's binaries from ``condor_master`` on PATH or
``$CONDOR_BIN``; they skip with that reason otherwise, and fail in CI); the dry
run needs no pool.
"""

import ast
import getpass
import math
import os
import re
import signal
import subprocess
import time

import pytest
import yaml
from astropy.io import fits

from conftest import PER_IMAGE_PROJECTION, PER_ITEM_JOBS, REPO
from mosaicflow.montage import per_mosaic
from mosaicflow.operations import personal_pool, tracking
from mosaicflow.operations import pool as pool_run
from pool_runs import (
    PROFILE,
    TWO_BATCHES,
    PoolRun,
    assert_identical,
    field_config,
    local_mosaic,
    submitted_members,
    write_tiles,
)


def pool_python(monkeypatch):
    """The python of an environment of envs/requirements-htcondor.txt (the test environment
    has no executor plugin), importing this checkout's package."""
    monkeypatch.setenv("PYTHONPATH", os.path.join(REPO, "scripts"))
    return personal_pool.pool_environment(None if os.geteuid() == 0 else getpass.getuser())


def test_profile_dry_run_needs_no_schedd(workflow, monkeypatch):
    result = workflow.run("-n", "--profile", PROFILE, config=field_config(), python=pool_python(monkeypatch))
    assert "synthetic_field" in result.stdout + result.stderr


def test_a_run_without_a_schedd_stops_before_any_job_in_a_few_lines(workflow, monkeypatch):
    monkeypatch.setenv("CONDOR_CONFIG", os.devnull)  # no pool configured
    result = workflow.run("--profile", PROFILE, config=field_config(), check=False, python=pool_python(monkeypatch))
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "no HTCondor schedd answers on this machine" in output and "condor_q" in output
    assert "Traceback" not in output
    assert len(output[output.index("no HTCondor schedd") :].splitlines()) < 8
    assert not os.path.exists(workflow.path("results", "pooled", "images.tsv"))
    locks = workflow.path(".snakemake", "locks")
    assert not os.path.isdir(locks) or not os.listdir(locks)


def site_profile(folder):
    """profiles/htcondor with its commented site settings switched on, as a site would."""
    with open(os.path.join(PROFILE, "config.yaml")) as handle:
        text = handle.read()
    site = re.sub(r'^  # (- ".*)$', r"  \1", text, flags=re.M)
    assert site != text, "the profile shows no site settings"
    os.makedirs(folder)
    with open(os.path.join(folder, "config.yaml"), "w") as handle:
        handle.write(site)
    return folder


def test_site_settings_of_the_profile_reach_the_submit_description(workflow, monkeypatch, tmp_path):
    # The executor logs each job's submit description (with --verbose) before it
    # asks the schedd; with the workflow's own schedd check off, that is as far
    # as a machine without a pool gets.
    monkeypatch.setenv("CONDOR_CONFIG", os.devnull)
    monkeypatch.setenv("MOSAICFLOW_POOL_CHECK", "off")
    profile = site_profile(str(tmp_path / "site"))
    python = pool_python(monkeypatch)
    result = workflow.run("--profile", profile, "--verbose", config=field_config(), check=False, python=python)
    output = result.stdout + result.stderr
    found = re.search(r"HTCondor submit subscription: (\{.*\})", output)
    assert found, output[-3000:]
    submit = ast.literal_eval(found.group(1))
    assert submit["+AccountingGroup"] == '"group_astro.alice"'
    assert submit["requirements"] == '(OpSys == "LINUX") && (Memory >= 2048)'
    assert submit["universe"] == "vanilla"
    assert submit["getenv"] is True


def test_profile_sets_what_a_pool_needs():
    with open(os.path.join(PROFILE, "config.yaml")) as handle:
        profile = yaml.safe_load(handle)
    assert profile["executor"] == "htcondor"
    assert "getenv=True" in profile["default-resources"]  # jobs start with no PATH otherwise
    assert profile["retries"] >= 1 and profile["rerun-incomplete"] and profile["keep-going"]
    assert profile["latency-wait"] >= 30  # NFS attribute caching
    groups = dict(item.split("=") for item in profile["groups"])
    per_item = {"project", "difference_fit", "difference_fits_by_image", "background_correct", "archive_download"}
    assert set(groups) == per_item
    sizes = dict(item.split("=") for item in profile["group-components"])
    assert set(sizes) == set(groups.values())


def group_sizes():
    with open(os.path.join(PROFILE, "config.yaml")) as handle:
        profile = yaml.safe_load(handle)
    groups = dict(item.split("=") for item in profile["groups"])
    sizes = {name: int(n) for name, n in (item.split("=") for item in profile["group-components"])}
    return {rule: sizes[group] for rule, group in groups.items()}, int(profile["cores"])


@pytest.fixture(scope="module")
def field_reference(tmp_path_factory):
    """The local mosaic of field_config() with the default jobs: every job layout gives it,
    byte for byte (tests/test_end_to_end.py), so the pool runs of that field compare with it."""
    return local_mosaic(tmp_path_factory.mktemp("reference"), field_config())


def test_pool_run_equals_local_run_groups_jobs_and_is_tracked(pool, field_reference):
    config = field_config()
    config["mosaics"]["pooled"]["background"] = PER_ITEM_JOBS  # grouping the per-item jobs
    config["mosaics"]["pooled"]["projection"] = PER_IMAGE_PROJECTION
    run = PoolRun(pool, "grouped", config)
    database = os.path.join(run.work, "tracking.db")
    started = time.time()
    result = pool.run([*run.argv(), "--logger-snkmt-db", database], check=False, cwd=run.work)
    assert result.returncode == 0, result.stderr[-5000:]
    print(f"pool run: {time.time() - started:.1f} s")

    assert_identical(run.mosaic(), field_reference)

    # Condor jobs: one per batch of grouped per-item jobs, one per other remote job.
    items = {
        "project": 6,
        "background_correct": 6,
        "difference_fit": len(os.listdir(os.path.join(run.work, "results", "pooled", "fits"))),
    }
    batch, cores = group_sizes()
    remote_singles = ["synthetic_field", "image_table", "background_model", "coadd", "preview", "quality_report"]
    expected = len(remote_singles) + sum(math.ceil(n / batch[rule]) for rule, n in items.items())
    history = pool.history()
    assert len(history) == expected, history
    assert sum(items.values()) + len(remote_singles) > 2 * expected  # grouping really reduced the count
    grouped = [row for row in history if row[1].startswith("per_")]
    assert len(grouped) == 3 and all(row[4] == str(cores) for row in grouped)
    assert all(row[2] == "0" for row in history)

    # the tracking database: the run SUCCESS, every job in it, each with its Condor job
    connection = tracking.connect(database)
    (workflow,) = connection.execute("SELECT id, status FROM workflows").fetchall()
    assert workflow["status"] == "SUCCESS"
    jobs = tracking.jobs(connection, workflow["id"], tracking.Index(run.work))
    assert all(job["state"] == "SUCCESS" for job in jobs), [(j["rule"], j["state"]) for j in jobs]
    assert {job["rule"] for job in jobs} >= {*remote_singles, *items}
    jobdir = os.path.join(run.work, ".snakemake", "htcondor")
    clusters = {job["rule"]: set() for job in jobs}
    for job in jobs:
        clusters[job["rule"]].add(tracking.condor_cluster(jobdir, job))
    assert None not in clusters["synthetic_field"] | clusters["coadd"] | clusters["preview"]
    # the six projections ran in one group's Condor job, and the database says which
    assert len(clusters["project"]) == 1 and None not in clusters["project"]
    names = {row[0]: row[1] for row in history}
    assert names[clusters["project"].pop()].startswith("per_image_projection")


def test_pool_run_with_fit_batches_and_coadd_tiles(pool, field_reference):
    # Big-field settings: one fit job per image (grouped like the other per-item
    # jobs) and a coadd in tiles, each tile its own Condor job; projections in two
    # batches (TWO_BATCHES).
    config = field_config()
    config["mosaics"]["pooled"]["background"] = {"fit_jobs": "image"}
    config["mosaics"]["pooled"]["coadd"] = {"tiles_above": 0, "tile_size": 600}
    config["mosaics"]["pooled"]["projection"] = TWO_BATCHES["projection"]
    run = PoolRun(pool, "tiled", config)
    before = {row[0] for row in pool.history()}
    result = pool.run(run.argv(), check=False, cwd=run.work)
    assert result.returncode == 0, result.stderr[-5000:]

    assert_identical(run.mosaic(), field_reference)
    history = [row for row in pool.history() if row[0] not in before]
    tiles = len(os.listdir(os.path.join(run.work, "results", "pooled", "benchmarks", "coadd_tile")))
    assert tiles >= 4
    names = [row[1].rsplit("-", 1)[0] for row in history]  # JobBatchName is RULE-JOBID or GROUP-...
    assert names.count("coadd_tile") == tiles, history
    assert sum(name.startswith("per_image_fit") for name in names) == 1, history
    assert all(row[2] == "0" for row in history)


def test_killed_job_is_retried_and_the_run_completes(pool, field_reference):
    config = field_config()
    config["mosaics"]["pooled"]["projection"] = PER_IMAGE_PROJECTION  # grouped projection jobs
    config["mosaics"]["pooled"]["background"] = TWO_BATCHES["background"]
    run = PoolRun(pool, "killed", config)
    before = {row[0] for row in pool.history()}
    process = pool.popen(run.argv(), cwd=run.work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    killed = None
    deadline = time.time() + 300
    while killed is None and process.poll() is None and time.time() < deadline:
        # The Condor job of a projection batch: its Snakemake, started with the batch's target jobs.
        # (A single member killed inside a batch is retried by the batch itself: the project rule
        # has retries of its own for on_image_error.)
        found = subprocess.run(
            ["pgrep", "-u", pool.user, "-f", "target-jobs project:"], capture_output=True, text=True
        ).stdout.split()
        found = set(map(int, found)) & set(pool.processes()) if found else ()  # this pool's: another may run
        if found:
            killed = min(found)
            os.kill(killed, signal.SIGKILL)
        else:
            time.sleep(0.01)
    output, _ = process.communicate(timeout=600)
    assert killed is not None, "no projection job was seen running"
    assert process.returncode == 0, output[-5000:]

    jobs = [row for row in pool.history() if row[0] not in before]
    projection = [row for row in jobs if row[1].startswith("per_image_projection")]
    assert len(projection) == 2, jobs  # the killed batch and its retry
    # one ended by the signal, its resubmission exited 0
    assert sorted((row[2], row[3]) for row in projection) == [("0", "false"), ("undefined", "true")]
    assert_identical(run.mosaic(), field_reference)


def test_pool_rerun_after_one_changed_tile_submits_its_jobs_only(pool, tmp_path):
    config = field_config(columns=3, rows=2)
    source = os.path.join(pool.root, "changed", "tiles")
    write_tiles(source, {"columns": 3, "rows": 2, "seed": 3, "stars": 400, "nebulae": 3})
    config["mosaics"]["pooled"]["source"] = {"type": "local", "path": source}
    config["mosaics"]["pooled"]["projection"] = PER_IMAGE_PROJECTION
    config["mosaics"]["pooled"]["background"] = PER_ITEM_JOBS
    run = PoolRun(pool, "changed", config)
    assert pool.run(run.argv(), check=False, cwd=run.work).returncode == 0
    # its job event log set aside: the rerun's executor starts without one (docs/upstream.md)
    jobdir = os.path.join(run.work, ".snakemake", "htcondor")
    assert os.path.exists(os.path.join(jobdir, pool_run.PREVIOUS_EVENT_LOG))
    assert not os.path.exists(os.path.join(jobdir, pool_run.EVENT_LOG))

    # one tile's pixels change (a satellite trail's worth): its projection, its overlaps' fits
    changed = os.path.join(source, "tile_r00_c01.fits")
    with fits.open(changed) as hdul:
        data, header = hdul[0].data.copy(), hdul[0].header
    data[100:103, :] += 500.0
    os.chmod(changed, 0o644)
    fits.PrimaryHDU(data, header).writeto(changed, overwrite=True)
    pool.chown(source)
    before = {row[0] for row in pool.history()}
    result = pool.run(run.argv(), check=False, cwd=run.work)
    assert result.returncode == 0, result.stderr[-5000:]
    assert submitted_members(pool, before, "project") == 1
    overlaps = [p for p in per_mosaic.overlap_pairs(os.path.join(run.work, "results", "pooled", "overlaps.tbl"))]
    touching = [pair for pair in overlaps if any(i.startswith("tile_r00_c01-") for i in pair)]
    assert 0 < submitted_members(pool, before, "difference_fit") == len(touching) < len(overlaps)
    assert_identical(run.mosaic(), local_mosaic(tmp_path, config))

"""The workflow's features on a real (personal) HTCondor pool: a colour field
table, the tracking database, images that fail, an archive source, and the
README's pool command as written. Beside tests/test_htcondor.py, on another
test worker with a pool of its own (the ``pool`` fixture of conftest.py).
"""

import os
import shutil

from astropy.io import fits

from conftest import PER_IMAGE_PROJECTION, Workflow, small_region
from mosaicflow.files import tables
from mosaicflow.operations import tracking
from pool_runs import PoolRun, assert_identical, field_config, local_mosaic, submitted_members
from test_readme_commands import copy_of_repository, readme_blocks


def test_colour_field_table_on_the_pool(pool):
    folder = os.path.join(pool.root, "colour")
    os.makedirs(folder)
    with open(os.path.join(folder, "fields.tsv"), "w") as handle:
        handle.write("name\tsource\tcenter\tsize\tbands\tseed\nrgb\tsynthetic\t83.82 -5.39\t0.2\tJ,H,K\t4\n")
    run = PoolRun(pool, "colour", {"fields": os.path.join(folder, "fields.tsv")})
    result = pool.run(run.argv(), check=False, cwd=run.work)
    assert result.returncode == 0, result.stderr[-5000:]
    summary = {r["name"]: r for r in tables.read_tsv(os.path.join(run.work, "results", "summary.tsv"))}
    assert {name: row["status"] for name, row in summary.items()} == {
        "rgb_J": "complete",
        "rgb_H": "complete",
        "rgb_K": "complete",
        "rgb": "complete",
    }
    assert os.path.getsize(os.path.join(run.work, "results", "color", "rgb.png")) > 0


def test_tracking_database_records_every_pool_job(pool):
    config = field_config()
    config["mosaics"]["pooled"]["projection"] = PER_IMAGE_PROJECTION  # grouped projection jobs
    run = PoolRun(pool, "tracked", config)
    database = os.path.join(run.work, "tracking.db")
    result = pool.run([*run.argv(), "--logger-snkmt-db", database], check=False, cwd=run.work)
    assert result.returncode == 0, result.stderr[-5000:]
    connection = tracking.connect(database)
    (workflow,) = connection.execute("SELECT id, status FROM workflows").fetchall()
    assert workflow["status"] == "SUCCESS"
    index = tracking.Index(run.work)
    jobs = tracking.jobs(connection, workflow["id"], index)
    done = {job["rule"] for job in jobs if job["state"] == "SUCCESS"}
    assert {"synthetic_field", "image_table", "project", "background_model", "coadd", "preview"} <= done
    assert all(job["state"] == "SUCCESS" for job in jobs), [(j["rule"], j["state"]) for j in jobs]
    jobdir = os.path.join(run.work, ".snakemake", "htcondor")
    clusters = {job["rule"]: set() for job in jobs}
    for job in jobs:
        clusters[job["rule"]].add(tracking.condor_cluster(jobdir, job))
    assert None not in clusters["synthetic_field"] | clusters["coadd"] | clusters["preview"]
    # the six projections ran in one group's Condor job, and the database says which
    assert len(clusters["project"]) == 1 and None not in clusters["project"]
    history = {row[0]: row[1] for row in pool.history()}
    assert history[clusters["project"].pop()].startswith("per_image_projection")


def test_on_image_error_skip_on_the_pool(pool, tmp_path):
    # The region's edges cut the tile columns' overlaps (tests/test_fitscreen.py) and leave one
    # tile with no pixel inside: Montage cannot project it, and with on_image_error: skip (the
    # default) the mosaic is made of the others, as locally.
    source = {"type": "synthetic", "columns": 3, "rows": 2, "seed": 7}
    region = {"center": "83.82 -5.39", "width": 0.11033, "height": 0.4167, "pixel_scale": 1.0}
    config = {"image_retries": 0, "mosaics": {"pooled": {"source": source, "region": region}}}
    run = PoolRun(pool, "skipping", config)
    result = pool.run(run.argv(), check=False, cwd=run.work)
    assert result.returncode == 0, result.stderr[-5000:]
    failed = tables.read_tsv(os.path.join(run.work, "results", "pooled", "failed_images.tsv"))
    assert [row["id"].rsplit("-", 1)[0] for row in failed] == ["tile_r01_c00"]
    assert "All pixels are blank" in failed[0]["reason"]
    (row,) = tables.read_tsv(os.path.join(run.work, "results", "summary.tsv"))
    assert row["images_failed"] == "1" and "1 of 6 images failed to project" in row["reason"]
    assert_identical(run.mosaic(), local_mosaic(tmp_path, config))


def test_archive_source_on_the_pool(pool, tmp_path):
    # Downloads run as Condor jobs (grouped), from a real HTTP server on 127.0.0.1;
    # a transient fault is retried there too; the mosaic is the local run's.
    from test_archive_workflow import file_requests, serve_field

    from archive_server import LIST_PATH, ArchiveServer

    server = ArchiveServer().start()
    try:
        names = serve_field(server)
        server.inject(names[0], "500")
        source = {"type": "archive", "survey": "2MASS", "band": "K", "location": "83.82 -5.39", "size": 0.4}
        config = {
            "archive": {"url": server.url(LIST_PATH), "cache": "cache", "timeout": 5, "retries": 3},
            "mosaics": {"pooled": {"source": source, "region": small_region()}},
        }
        run = PoolRun(pool, "archive", config)
        before = {row[0] for row in pool.history()}
        result = pool.run(run.argv(), check=False, cwd=run.work)
        assert result.returncode == 0, result.stderr[-5000:]
        assert submitted_members(pool, before, "archive_download") == 6
        assert file_requests(server) == 6 + 1
        local = Workflow(tmp_path)
        local.run(config=config)
    finally:
        server.stop()
    assert_identical(run.mosaic(), fits.getdata(local.path("results", "pooled", "mosaic.fits")))


def test_the_readmes_pool_command(pool):
    # README "On an HTCondor pool", as written: on the personal pool, by its user, in a
    # clone on the pool's (shared) folder, the demo as my.yaml
    clone = copy_of_repository(os.path.join(pool.root, "readme-clone"))
    shutil.copy(os.path.join(clone, "config", "config.yaml"), os.path.join(clone, "my.yaml"))
    pool.install(clone)  # as the clone's user did (pip install -e .) in the pool's environment
    pool.chown(clone)
    before = len(pool.history())
    result = pool.run(["bash", "-e", "-o", "pipefail", "-c", readme_blocks()["pool"]], cwd=clone, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    assert os.path.getsize(os.path.join(clone, "results", "demo", "mosaic.fits")) > 0
    assert len(pool.history()) > before  # its jobs ran on the pool

"""The workflow's features on a real (personal) HTCondor pool: a colour field
table, images that fail, an archive source, and the README's pool command as
written (the tracking database: test_htcondor.py's grouped run). Beside
tests/test_htcondor.py, on another test worker with a pool of its own (the
``pool`` fixture of conftest.py).
"""

import os
import shutil

from astropy.io import fits

from conftest import Workflow, small_region
from mosaicflow.files import tables
from pool_runs import TWO_BATCHES, PoolRun, assert_identical, local_mosaic, submitted_members
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


def test_on_image_error_skip_on_the_pool(pool, tmp_path):
    # The region's edges cut the tile columns' overlaps (tests/test_fitscreen.py) and leave one
    # tile with no pixel inside: Montage cannot project it, and with on_image_error: skip (the
    # default) the mosaic is made of the others, as locally.
    source = {"type": "synthetic", "columns": 3, "rows": 2, "seed": 7}
    region = {"center": "83.82 -5.39", "width": 0.11033, "height": 0.4167, "pixel_scale": 1.0}
    config = {"image_retries": 0, "mosaics": {"pooled": {"source": source, "region": region, **TWO_BATCHES}}}
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
            "mosaics": {"pooled": {"source": source, "region": small_region(), **TWO_BATCHES}},
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

"""An archive source through the whole workflow, against a real HTTP server on 127.0.0.1."""

import bz2
import gzip
import io
import os
import shutil

import numpy as np
from astropy.io import fits

from archive_server import LIST_PATH, ArchiveServer
from conftest import small_region
from mosaicflow.files import tables
from mosaicflow.sky import synth


def serve_field(server):
    """Six real-size synthetic tiles, as plain, gzip and bzip2 files, listed by the service."""
    truth = synth.make_truth({"columns": 3, "rows": 2, "seed": 21, "stars": 500, "nebulae": 3})
    listing = []
    for index, tile in enumerate(truth["tiles"]):
        header, data = synth.render_tile(tile, truth)
        buffer = io.BytesIO()
        fits.PrimaryHDU(data, header).writeto(buffer)
        plain = buffer.getvalue()
        name, body = [
            (f"{tile['name']}.fits", plain),
            (f"{tile['name']}.fits.gz", gzip.compress(plain, mtime=0)),
            (f"{tile['name']}.fits.bz2", bz2.compress(plain)),
        ][index % 3]
        server.add_file(name, body)
        listing.append({"file": name, "url": server.url(f"/files/{name}")})
    server.state.listing = listing
    return [entry["file"] for entry in listing]


def config(server, *names):
    source = {"type": "archive", "survey": "2MASS", "band": "K", "location": "83.82 -5.39", "size": 0.4}
    return {
        "archive": {"url": server.url(LIST_PATH), "cache": "cache", "timeout": 5, "retries": 3},
        "mosaics": {name: {"source": source, "region": small_region()} for name in names},
    }


def file_requests(server):
    return sum(1 for path, _ in server.state.requests if path.startswith("/files/"))


def test_archive_source_end_to_end_with_cache_and_offline_rerun(workflow):
    server = ArchiveServer().start()
    try:
        names = serve_field(server)
        server.inject(names[0], "500", "500")  # transient: retried
        server.inject(names[1], "drop")  # connection lost mid-file: retried

        # A dry run neither queries nor downloads.
        workflow.planned_jobs(config=config(server, "first"))
        assert server.state.requests == []

        workflow.run(config=config(server, "first"))
        used = tables.read_tsv(workflow.path("results", "first", "images.tsv"))
        assert len(used) == 6
        with fits.open(workflow.path("results", "first", "mosaic.fits")) as hdul:
            assert np.isfinite(hdul[0].data).mean() > 0.999
        downloads = file_requests(server)
        assert downloads == 6 + 2 + 1  # six files, two 500s, one dropped connection
        cached = sorted(n for n in os.listdir(workflow.path("cache", "2mass", "k")) if not n.endswith(".json"))
        assert cached == sorted([*(n.removesuffix(".bz2") for n in names), "queries"])
        assert not [n for n in cached if n.startswith(".tmp")]

        # A second mosaic of the same images downloads nothing again.
        workflow.run(config=config(server, "first", "second"))
        assert file_requests(server) == downloads
        assert os.path.exists(workflow.path("results", "second", "mosaic.fits"))
    finally:
        server.stop()

    # The service is gone: a fresh run over the existing cache still works.
    shutil.rmtree(workflow.path("results"))
    workflow.run(config=config(server, "first"))
    log = open(workflow.path("logs", "first", "archive_query.log"), encoding="utf-8").read()
    assert "cannot reach the archive list service" in log and "saved by an earlier run" in log
    assert os.path.exists(workflow.path("results", "first", "mosaic.fits"))


def test_permanent_download_failure_is_named(workflow):
    server = ArchiveServer().start()
    try:
        names = serve_field(server)
        server.inject(names[2], *["500"] * 10)
        result = workflow.run(config=config(server, "broken"), check=False)
    finally:
        server.stop()
    assert result.returncode != 0
    log_dir = workflow.path("logs", "archive", "2mass", "k")
    log = open(os.path.join(log_dir, names[2].removesuffix(".bz2") + ".log"), encoding="utf-8").read()
    assert names[2] in log and "500" in log
    assert not os.path.exists(workflow.path("cache", "2mass", "k", names[2].removesuffix(".bz2")))

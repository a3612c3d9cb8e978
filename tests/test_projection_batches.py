"""Projection batch jobs (projection.jobs: batch): what a batch job writes into its
folder and reports, with MontagePy itself, and which batch an image belongs to."""

import functools
import os

import numpy as np
import pytest
from astropy.io import fits

from mosaicflow.files import layout
from mosaicflow.montage import per_item


def _header(ra, dec, nx, ny):
    h = fits.Header()
    h["NAXIS"], h["NAXIS1"], h["NAXIS2"] = 2, nx, ny
    h["CTYPE1"], h["CTYPE2"] = "RA---TAN", "DEC--TAN"
    h["CRVAL1"], h["CRVAL2"] = ra, dec
    h["CRPIX1"], h["CRPIX2"] = (nx + 1) / 2, (ny + 1) / 2
    h["CDELT1"], h["CDELT2"] = -1 / 3600, 1 / 3600
    return h


@pytest.fixture
def batch(tmp_path):
    """Three raw images, their image-table rows, a region header, a batch job's folder."""
    rng = np.random.default_rng(5)
    rows = []
    for number in range(3):
        raw = str(tmp_path / f"raw{number}.fits")
        fits.writeto(raw, rng.normal(100, 5, (80, 60)).astype("float32"), _header(83.8 + number * 0.01, -5.4, 60, 80))
        rows.append({"id": f"raw{number}-0000000{number}", "link": raw, "hdu": "0", "method": "mProjectPP"})
    for row in rows:
        row["content"] = file_digest(row["link"])
    region = str(tmp_path / "region.hdr")
    write_region(region, 83.81)
    folder = str(tmp_path / "projected" / "batch-0")
    os.makedirs(folder)
    return rows, region, folder


@pytest.fixture(params=["in this process", "in parts of 2 in fresh interpreters"])
def project_batch(request):
    """per_item.project_batch, or the same in parts (as a batch of thousands of images runs)."""
    if request.param.startswith("in parts"):
        return functools.partial(per_item.project_batch, per_process=2)
    return per_item.project_batch


def file_digest(path):
    import hashlib

    with open(path, "rb") as handle:
        return hashlib.sha1(handle.read()).hexdigest()


def write_region(path, ra):
    cards = {"SIMPLE": True, "BITPIX": -64, **_header(ra, -5.4, 200, 120)}
    with open(path, "w") as handle:
        for key, value in cards.items():
            handle.write(f"{key:<8}= {fits.Card(key, value).image[10:].strip()}\n")
        handle.write("END\n")


def test_batch_projects_as_one_job_per_image_does(batch, project_batch, tmp_path):
    rows, region, folder = batch
    result = project_batch(rows, region, folder, "fail")
    assert [r["status"] for r in result] == ["ok"] * 3
    single = str(tmp_path / "single")
    for row in rows:
        per_item.project(row["link"], 0, region, os.path.join(single, row["id"] + ".fits"), "mProjectPP")
        for suffix in (".fits", "_area.fits"):
            with open(os.path.join(folder, row["id"] + suffix), "rb") as a:
                with open(os.path.join(single, row["id"] + suffix), "rb") as b:
                    assert a.read() == b.read()
    # the batch folder holds its images' projections and nothing else
    assert sorted(os.listdir(folder)) == sorted(f"{r['id']}{s}" for r in rows for s in (".fits", "_area.fits"))


def test_failures_are_retried_then_skipped_then_recovered_keeping_the_token(batch, project_batch, monkeypatch):
    rows, region, folder = batch
    monkeypatch.setenv(per_item.FAULT_VARIABLE, os.path.basename(rows[2]["link"]))
    # not the last attempt: every image tried, then one error naming the failed one
    with pytest.raises(per_item.StepError, match=f"1 of 3 projections failed: {rows[2]['id']}"):
        project_batch(rows, region, folder, "skip", last_attempt=False)
    # the last attempt, on_image_error: skip: the two others are projected; the
    # failed one has its note (reason and token) and no projected files
    result = project_batch(rows, region, folder, "skip", last_attempt=True)
    assert [r["status"] for r in result] == ["ok", "ok", "failed"]
    failed = os.path.join(folder, rows[2]["id"] + ".fits")
    assert [name for name in os.listdir(folder) if name.startswith(rows[2]["id"])] == [
        os.path.basename(per_item.failure_note(failed))
    ]
    token = per_item.retry_tokens(os.path.dirname(folder))[rows[2]["id"]]
    assert token
    # on_image_error: fail stops on it
    with pytest.raises(per_item.StepError, match="1 of 3"):
        project_batch(rows, region, folder, "fail", last_attempt=True)
    # the fault is gone: the next run (Snakemake empties the folder first, the
    # planned token is passed in) projects it and keeps its token as recovered,
    # so the run after that does not retry it again
    monkeypatch.delenv(per_item.FAULT_VARIABLE)
    for name in os.listdir(folder):
        os.remove(os.path.join(folder, name))
    result = project_batch(rows, region, folder, "skip", tokens={rows[2]["id"]: token})
    assert [r["status"] for r in result] == ["ok"] * 3
    assert os.path.exists(failed + per_item.RECOVERED_SUFFIX) and not os.path.exists(per_item.failure_note(failed))
    assert per_item.retry_tokens(os.path.dirname(folder)) == {rows[2]["id"]: token}


def test_an_items_batch_does_not_move_when_others_come_or_go():
    ids = [f"tile_{n:03d}-{n:08x}" for n in range(40)]
    grouped = layout.images_by_batch(reversed(ids), 4)
    assert sorted(i for members in grouped.values() for i in members) == ids
    assert all(members == sorted(members) for members in grouped.values())
    # every batch gets some of 40 images (a hash, not runs of the sorted ids)
    assert len(grouped) == 4 and max(map(len, grouped.values())) <= 20
    # an added or removed image changes its own batch only
    for changed in ([*ids, "tile_004a-0000000a"], ids[:13] + ids[14:]):
        regrouped = layout.images_by_batch(changed, 4)
        moved = {b for b in range(4) if regrouped.get(b) != grouped.get(b)}
        assert len(moved) == 1
    # overlaps likewise, by their PLUS+MINUS name
    pairs = [(a, b) for a, b in zip(ids, ids[1:], strict=False)]
    by_batch = layout.pairs_by_batch(pairs, 4)
    fewer = layout.pairs_by_batch(pairs[1:], 4)
    assert sum(by_batch[b] != fewer.get(b) for b in by_batch) == 1

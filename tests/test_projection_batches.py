"""Projection batch jobs (projection.jobs: batch): what a batch job keeps, redoes
and reports, with MontagePy itself."""

import functools
import os

import numpy as np
import pytest
from astropy.io import fits

from mosaicflow import stages, steps


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
    """Three raw images, their image-table rows, a region header, a projected folder."""
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
    folder = str(tmp_path / "projected")
    os.makedirs(folder)
    return rows, region, folder


@pytest.fixture(params=["in this process", "in parts of 2 in fresh interpreters"])
def project_batch(request):
    """steps.project_batch, or the same in parts (as a batch of thousands of images runs)."""
    if request.param.startswith("in parts"):
        return functools.partial(steps.project_batch, per_process=2)
    return steps.project_batch


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


def mtimes(folder):
    return {name: os.stat(os.path.join(folder, name)).st_mtime_ns for name in sorted(os.listdir(folder))}


def test_batch_projects_as_one_job_per_image_does(batch, project_batch, tmp_path):
    rows, region, folder = batch
    result, reused = project_batch(rows, region, folder, "fail")
    assert reused == 0 and [r["status"] for r in result] == ["ok"] * 3
    single = str(tmp_path / "single")
    for row in rows:
        steps.project(row["link"], 0, region, os.path.join(single, row["id"] + ".fits"), "mProjectPP")
        for suffix in (".fits", "_area.fits"):
            with open(os.path.join(folder, row["id"] + suffix), "rb") as a:
                with open(os.path.join(single, row["id"] + suffix), "rb") as b:
                    assert a.read() == b.read()
        key = steps.projection_key("0", "mProjectPP", row["content"], steps.header_digest(region))
        assert steps.projection_is_current(os.path.join(folder, row["id"] + ".fits"), key)


def test_a_rerun_keeps_current_projections_and_redoes_changed_ones(batch, project_batch):
    rows, region, folder = batch
    project_batch(rows, region, folder, "fail")
    before = mtimes(folder)
    # nothing changed: every projection kept, not a file touched
    result, reused = project_batch(rows, region, folder, "fail")
    assert reused == 3 and mtimes(folder) == before
    # one image's content changed: that image alone is projected again
    rows[1] = {**rows[1], "content": "changed"}
    result, reused = project_batch(rows, region, folder, "fail")
    after = mtimes(folder)
    assert reused == 2
    changed = {name for name in before if after[name] != before[name]}
    assert changed == {f"{rows[1]['id']}{suffix}" for suffix in (".fits", "_area.fits", ".fits.batchkey")}
    # a killed projection (image rewritten, key not yet) is not taken for current
    os.remove(os.path.join(folder, rows[0]["id"] + ".fits.batchkey"))
    assert project_batch(rows, region, folder, "fail")[1] == 2
    # outputs are not fsynced: after a power loss an image (or its area) can be
    # empty or cut short beside a current key; it is projected again, to the same bytes
    for suffix, size in ((".fits", 0), ("_area.fits", 4096)):
        path = os.path.join(folder, rows[2]["id"] + suffix)
        with open(path, "rb") as handle:
            whole = handle.read()
        os.truncate(path, size)
        assert project_batch(rows, region, folder, "fail")[1] == 2
        with open(path, "rb") as handle:
            assert handle.read() == whole
    # a new region header: every image projected again
    write_region(region, 83.812)
    assert project_batch(rows, region, folder, "fail")[1] == 0


def test_failures_are_retried_then_skipped_without_losing_the_others(batch, project_batch, monkeypatch):
    rows, region, folder = batch
    project_batch(rows, region, folder, "fail")
    # the third image gets new content that Montage cannot read
    rows[2] = {**rows[2], "content": "changed"}
    monkeypatch.setenv(steps.FAULT_VARIABLE, os.path.basename(rows[2]["link"]))
    # not the last attempt: every image tried, then one error naming the failed one
    with pytest.raises(steps.StepError, match=f"1 of 3 projections failed: {rows[2]['id']}"):
        project_batch(rows, region, folder, "skip", last_attempt=False)
    # the last attempt, on_image_error: skip: the two others are kept; the failed
    # one has its note and no projected files (its projection from the old
    # content is removed: a fresh run would have none) and no key
    result, reused = project_batch(rows, region, folder, "skip", last_attempt=True)
    assert reused == 2 and [r["status"] for r in result] == ["ok", "ok", "failed"]
    failed = os.path.join(folder, rows[2]["id"] + ".fits")
    assert [name for name in os.listdir(folder) if name.startswith(rows[2]["id"])] == [
        os.path.basename(steps.failure_note(failed))
    ]
    # on_image_error: fail stops on it
    with pytest.raises(steps.StepError, match="1 of 3"):
        project_batch(rows, region, folder, "fail", last_attempt=True)
    # the fault is gone: the next run projects it, and keeps the two others
    monkeypatch.delenv(steps.FAULT_VARIABLE)
    result, reused = project_batch(rows, region, folder, "skip")
    assert reused == 2 and [r["status"] for r in result] == ["ok"] * 3
    assert os.path.exists(failed + steps.RECOVERED_SUFFIX) and not os.path.exists(steps.failure_note(failed))


def test_batches_are_equal_runs_of_the_images_in_id_order():
    ids = [f"tile_{n:03d}-{n:08x}" for n in range(10)]
    grouped = stages.images_by_batch(reversed(ids), 4)
    assert grouped == {0: ids[0:2], 1: ids[2:5], 2: ids[5:7], 3: ids[7:10]}
    # fewer images than batches: no empty batch
    assert stages.images_by_batch(ids[:2], 4) == {1: ids[:1], 3: ids[1:2]}
    # an added image shifts the runs after it by one image, no more
    added = stages.images_by_batch([*ids, "tile_004a-0000000a"], 4)
    assert added[0] == ids[0:2] and [len(members) for members in added.values()] == [2, 3, 3, 3]

"""Reruns redo only what a change made stale (checked on the files' mtimes)."""

import glob
import os
import shutil
import sys

import pytest
from astropy.io import fits

from conftest import PER_ITEM_JOBS, REPO, Workflow, schema_defaults, small_region
from mosaicflow.files import layout
from mosaicflow.sky import synth


def projected_mtimes(wf):
    return {
        os.path.basename(p): os.stat(p).st_mtime_ns
        for p in glob.glob(wf.path("results", "field", "projected", "**", "*.fits"), recursive=True)
        if not p.endswith("_area.fits")
    }


def changed(before, after):
    return {name for name in after if before.get(name) != after[name]}


@pytest.fixture(scope="module")
def field(tmp_path_factory):
    wf = Workflow(tmp_path_factory.mktemp("reruns"))
    truth = synth.make_truth({"columns": 3, "rows": 2, "seed": 5, "stars": 500, "nebulae": 3})
    os.makedirs(wf.path("raw"))
    for tile in truth["tiles"][:5]:
        header, data = synth.render_tile(tile, truth)
        fits.PrimaryHDU(data, header).writeto(wf.path("raw", tile["name"] + ".fits"))
    wf.truth = truth
    field = {"source": {"type": "local", "path": "raw"}, "region": small_region(), "background": PER_ITEM_JOBS}
    wf.config = {"mosaics": {"field": field}}
    wf.run(config=wf.config)
    return wf


def test_nothing_changed_runs_nothing(field):
    before = projected_mtimes(field)
    result = field.run()
    assert "Nothing to be done" in result.stdout + result.stderr
    assert field.planned_jobs() == {}
    assert projected_mtimes(field) == before


def test_another_path_to_the_same_code_runs_nothing(field, tmp_path, monkeypatch):
    """The interpreter's and the checkout's paths say where the code is, not what
    a job makes: ``.venv/bin/python3`` instead of ``python``, or the repository
    copied elsewhere, plans no job (both were job parameters once)."""
    folder, name = os.path.split(sys.executable)
    others = [n for n in ("python", "python3", f"python3.{sys.version_info.minor}") if n != name]
    aliases = [os.path.join(folder, n) for n in others if os.path.exists(os.path.join(folder, n))]
    if not aliases:
        pytest.skip(f"no other name for {sys.executable} in {folder} ({', '.join(others)} absent)")
    assert field.planned_jobs(python=aliases[0]) == {}
    checkout = tmp_path / "checkout"
    shutil.copytree(
        REPO, checkout, ignore=shutil.ignore_patterns(".git", ".venv", "__pycache__", "tests", "benchmarks", "docs")
    )
    monkeypatch.setenv("PYTHONPATH", str(checkout / "scripts"))  # the copy's package, as pip install -e gives it
    assert field.planned_jobs(snakefile=str(checkout / "Snakefile")) == {}


def same_batch(names, name):
    """The images of ``names`` (ID.fits) in the projection batch of ``name`` (the default layout)."""
    batches = schema_defaults()["projection"]["batches"]

    def batch(n):
        return layout.batch_of(n.removesuffix(".fits"), batches)

    return {n for n in names if batch(n) == batch(name)}


def test_replacing_one_image_reprojects_only_its_batch(field):
    before = projected_mtimes(field)
    tile = field.truth["tiles"][0]
    header, data = synth.render_tile(tile, field.truth)
    # Overwrite in place (same name, new content): the folder's own mtime does not change.
    path = field.path("raw", tile["name"] + ".fits")
    fits.PrimaryHDU(data + 1.0, header).writeto(path, overwrite=True)
    field.run()
    after = projected_mtimes(field)
    name = next(n for n in after if n.startswith(tile["name"]))
    assert changed(before, after) == same_batch(after, name) and len(after) == 5


def test_adding_an_image_projects_only_the_new_ones_batch(field):
    before = projected_mtimes(field)
    tile = field.truth["tiles"][5]
    header, data = synth.render_tile(tile, field.truth)
    fits.PrimaryHDU(data, header).writeto(field.path("raw", tile["name"] + ".fits"))
    field.run()
    after = projected_mtimes(field)
    assert len(after) == len(before) + 1
    (new,) = set(after) - set(before)
    assert changed(before, after) == same_batch(after, new)


def test_switching_to_level_only_refits_without_reprojecting(field):
    before = projected_mtimes(field)
    fits_before = {p: os.stat(p).st_mtime_ns for p in glob.glob(field.path("results", "field", "fits", "*.tsv"))}
    settings = {**field.config["mosaics"]["field"], "background": {**PER_ITEM_JOBS, "model": "level"}}
    config = {"mosaics": {"field": settings}}
    field.run(config=config)
    assert projected_mtimes(field) == before
    fits_after = {p: os.stat(p).st_mtime_ns for p in glob.glob(field.path("results", "field", "fits", "*.tsv"))}
    assert fits_after and all(fits_after[p] != fits_before.get(p) for p in fits_after)
    field.run(config=field.config)


def test_moving_the_corrections_into_the_coadd_redoes_only_the_coadd(field):
    # background.correct_jobs image -> coadd: the same corrections, applied by
    # the coadd job; nothing before the coadd is redone.
    before = projected_mtimes(field)
    settings = {**field.config["mosaics"]["field"], "background": {**PER_ITEM_JOBS, "correct_jobs": "coadd"}}
    planned = field.planned_jobs(config={"mosaics": {"field": settings}})
    # the coadd and what reads it (PNG), and the quality report (it corrects for itself now)
    assert set(planned) == {"coadd", "preview", "quality_report", "all"}, planned
    field.run()
    assert projected_mtimes(field) == before
    field.run(config=field.config)


def test_changing_the_pixel_scale_reprojects_everything(field):
    before = projected_mtimes(field)
    region = small_region(pixel_scale=1.5)
    config = {"mosaics": {"field": {**field.config["mosaics"]["field"], "region": region}}}
    field.run(config=config)
    after = projected_mtimes(field)
    assert changed(before, after) == set(after) == set(before)

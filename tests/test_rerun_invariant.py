"""After any change to the inputs or the config, a rerun in the old working
directory gives what a fresh run on the same inputs gives: the same mosaic
bit for bit, the same image tables, a truthful results/summary.tsv, and no
files that the fresh run does not have. Each case of issue #13 by hand,
then seeded random sequences of changes (a short one by default, a long one
with ``-m slow``)."""

import os
import shutil

import pytest

from conftest import Workflow, made_once
from mosaicflow.files import layout, tables
from rerun_world import MOSAIC, World, differences, jobs_run, render_pool, summary_rows


# Made once per session, whichever worker comes first: this module's tests spread
# over the xdist workers (conftest.SPREAD).
@pytest.fixture(scope="session")
def pool(tmp_path_factory):
    return str(made_once(tmp_path_factory, "rerun-pool", lambda folder: render_pool(str(folder))))


@pytest.fixture(scope="session")
def first_run(tmp_path_factory, pool):
    """A world after its first run: each test's world starts as a copy of it."""

    def run_first(folder):
        first = World(folder, pool, seed=1).rerun()
        assert first.returncode == 0, first.stderr[-3000:]

    return World(made_once(tmp_path_factory, "rerun-first-run", run_first), pool, seed=1, inputs=False)


@pytest.fixture
def world(tmp_path, first_run):
    return first_run.copy(tmp_path)


def rerun_equals_fresh(world, transient=None):
    """Rerun (with a transient fault if given), then compare with a fresh run; returns the rerun."""
    result = world.rerun(transient)
    fresh, fresh_result = world.fresh()
    problems = differences(world.workflow, result, fresh, fresh_result)
    assert not problems, "\n".join(problems) + "\n" + result.stderr[-3000:]
    return result


def status(world):
    return {row["name"]: row for row in summary_rows(world.workflow)}[MOSAIC]


def test_overwriting_a_file_in_place_with_a_duplicate_is_seen(world):
    first, second = world.present()[:2]
    world.duplicate(second, first)  # same inode, new bytes: the folder's mtime does not change
    rerun_equals_fresh(world)
    skipped = tables.read_tsv(world.workflow.path("results", MOSAIC, "skipped.tsv"))
    assert [(os.path.basename(r["path"]), r["kind"]) for r in skipped] == [(second, "duplicate")]


def test_a_file_truncated_in_place_is_reported_not_projected(world):
    victim = world.present()[2]
    world.truncate_in_place(victim)
    result = rerun_equals_fresh(world)
    assert result.returncode == 0
    skipped = tables.read_tsv(world.workflow.path("results", MOSAIC, "skipped.tsv"))
    assert [(os.path.basename(r["path"]), r["kind"]) for r in skipped] == [(victim, "bad-input")]
    assert "project" not in jobs_run(result)
    assert status(world)["status"] == "complete"


def test_touching_a_file_reprojects_nothing(world):
    world.touch(world.present()[0])
    result = rerun_equals_fresh(world)
    ran = jobs_run(result)
    assert ran.get("image_table") == 1  # re-reads just that file (its stat facts changed)
    assert not {"project", "difference_fit", "background_model", "background_correct", "coadd"} & set(ran), ran


def test_overwriting_one_file_reprojects_only_it(world):
    world.overwrite_in_place(world.present()[0])
    world.write_in_place(world.present()[0], world.content(world.present()[0], alt=True))
    ran = jobs_run(rerun_equals_fresh(world))
    assert ran["project"] == 1, ran


def test_a_transient_projection_failure_is_retried_by_the_next_run(world):
    victim = world.present()[1]
    # a change that reprojects everything, while one file cannot be read
    world.settings["pixel_scale"] = 1.5
    result = world.rerun(transient=victim)
    assert result.returncode == 0, result.stderr[-3000:]
    row = status(world)
    assert row["status"] == "partial" and row["images_failed"] == "1", row
    assert "the next run tries them again" in row["reason"]
    # the next run, with the file readable again, retries it and equals a fresh run
    result = rerun_equals_fresh(world)
    assert jobs_run(result)["project"] == 1
    assert status(world)["status"] == "complete"


def test_a_permanent_projection_failure_stays_reported_and_equals_a_fresh_run(world):
    world.make_unprojectable(world.present()[1])
    result = rerun_equals_fresh(world)
    assert result.returncode == 0
    assert status(world)["status"] == "partial"
    # every run tries it again (and says so), with the same outcome
    result = rerun_equals_fresh(world)
    assert jobs_run(result).get("project") == 1
    assert status(world)["status"] == "partial"


def test_a_failed_run_is_not_reported_complete_beside_the_old_mosaic(world):
    world.settings["on_image_error"] = "fail"
    world.permanent_faults.add(world.present()[0])
    world.settings["pixel_scale"] = 1.5
    result = rerun_equals_fresh(world)
    assert result.returncode != 0
    row = status(world)
    assert row["status"] == "failed" and "fault injected" in row["reason"], row
    assert os.path.exists(world.workflow.path("results", MOSAIC, "mosaic.fits"))  # the old, stale one


def test_a_smaller_region_leaves_no_files_of_images_outside_it(world):
    world.settings["region"] = "inner"
    rerun_equals_fresh(world)
    ids = {row["id"] for row in tables.read_tsv(world.workflow.path("results", MOSAIC, "images.tsv"))}
    assert len(ids) < len(world.present())
    projected = os.listdir(world.workflow.path("results", MOSAIC, "benchmarks", "project"))
    assert {name[: -len(".tsv")] for name in projected} == ids


def test_without_background_matching_no_overlaps_or_fits_run(world):
    world.settings["model"] = "none"
    result = rerun_equals_fresh(world)
    ran = jobs_run(result)
    assert not {"overlaps", "difference_fit", "gather_fits", "background_model"} & set(ran), ran
    for name in ("fits.tbl", "corrections.tsv"):
        assert not os.path.exists(world.workflow.path("results", MOSAIC, name))
    assert tables.read_ipac(world.workflow.path("results", MOSAIC, "overlaps.tbl")) == []  # not computed


def test_a_killed_jobs_temporary_files_are_removed_by_the_next_run(world):
    # what a job killed mid-write leaves: a partial file under a temporary name
    # and a scratch folder, next to the outputs
    for folder in ("fits", "projected"):
        base = world.workflow.path("results", MOSAIC, folder)
        os.makedirs(os.path.join(base, ".tmp-scratch-vm.123.0"), exist_ok=True)
        with open(os.path.join(base, ".tmp-scratch-vm.123.0", "diff.fits"), "wb") as handle:
            handle.write(b"SIMPLE  =                    T")
        with open(os.path.join(base, ".tmp-vm.123.1.fits"), "wb") as handle:
            handle.write(b"SIMPLE  =                    T")
    world.overwrite_in_place(world.present()[0])
    rerun_equals_fresh(world)
    assert layout.debris(world.workflow.path("results")) == []


def test_reserved_mosaic_names_are_refused(tmp_path):
    wf = Workflow(tmp_path)
    config = {"mosaics": {"color": {"source": {"type": "synthetic"}, "region": {"auto": True}}}}
    result = wf.run("-n", config=config, check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "mosaic name 'color' is reserved: results/color holds the colour composites" in output
    assert len(output.strip().splitlines()) < 15


def test_random_sequence_of_changes(tmp_path, pool):
    # from the default settings (batched fit and correction jobs)
    run_sequence(tmp_path, pool, seed=2026, steps=6, jobs="defaults")


def test_random_sequence_of_changes_from_a_tiled_coadd(tmp_path, pool):
    # the whole region in 2 x 2 coadd tiles, the inner one in one mAdd: a
    # region change switches between them
    run_sequence(tmp_path, pool, seed=7, steps=4, jobs="coadd_tiles")


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(5))
def test_long_random_sequences_of_changes(tmp_path, pool, seed):
    # the job layout itself is one of the random changes ("jobs")
    run_sequence(tmp_path, pool, seed=seed, steps=60, jobs="defaults" if seed % 2 else "per_item")


def run_sequence(tmp_path, pool, seed, steps, jobs):
    world = World(tmp_path, pool, seed=seed, jobs=jobs)
    assert world.rerun().returncode == 0
    history = []
    for step in range(steps):
        change, transient = world.random_change()
        history.append(change)
        if transient:
            world.rerun(transient)  # a run during which one file could not be read
        result = world.rerun()
        fresh, fresh_result = world.fresh()
        problems = differences(world.workflow, result, fresh, fresh_result)
        assert not problems, f"seed {seed}, step {step}, after: {history}\n" + "\n".join(problems)
        if fresh_result.returncode == 0:
            shutil.rmtree(fresh.workdir)


# The README's table of what a rerun redoes, change after change on one field
# (first column: the README's words; the steps apply the change).
README_CHANGES = {
    "nothing": lambda w, p: None,
    "`touch` one file": lambda w, p: w.touch(p[0]),
    "overwrite one file in place (new content)": lambda w, p: w.change_content(p[0]),
    "replace one file by a rename": lambda w, p: w.replace_by_rename(p[1]),
    "add a file": lambda w, p: w.add(w.names[6]),
    "delete a file": lambda w, p: w.delete(p[2]),
    "rename a file": lambda w, p: w.rename(p[3]),
    "truncate a file in place": lambda w, p: w.truncate_in_place(p[4]),
    "overwrite a file with a copy of another": lambda w, p: w.duplicate(p[5], p[0]),
    "restore that file": lambda w, p: w.restore(p[5]),
    "`background.model: level`": lambda w, p: w.settings.update(model="level"),
    "`background.model: none`": lambda w, p: w.settings.update(model="none"),
    "`background.model: plane`": lambda w, p: w.settings.update(model="plane"),
    "`on_image_error: fail`": lambda w, p: w.settings.update(on_image_error="fail"),
    "a smaller region": lambda w, p: w.settings.update(region="inner"),
    "the region back": lambda w, p: w.settings.update(region="all"),
    "another pixel scale": lambda w, p: w.settings.update(pixel_scale=1.5),
}


def readme_rerun_table():
    readme = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")
    with open(readme, encoding="utf-8") as handle:
        text = handle.read()
    table = text.split("<!-- rerun table -->")[1]
    rows = []
    for line in table.strip().splitlines():
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if cells[0] in README_CHANGES or cells[0].startswith("a projection fails"):
            rows.append((cells[0], *map(int, cells[1:])))
    return rows


def remade(world, before):
    """(images re-projected, overlaps refitted) since ``before`` (``made_files``), in either layout."""
    after = made_files(world)
    changed = [path for path, stamp in after.items() if before.get(path) != stamp]
    images = [p for p in changed if p.endswith(".fits") and not p.endswith("_area.fits")]
    fits = [p for p in changed if p.endswith(".tsv")]
    # a fit file holds one overlap (per-overlap layout, no ids) or many rows (plus, minus)
    overlaps = sum(1 if "+" in os.path.basename(p) else len(tables.read_tsv(p)) for p in fits)
    return len(images), overlaps


def made_files(world):
    """{path: (mtime, size)} of the projected images and fit files of the world's mosaic."""
    base = world.workflow.path("results", MOSAIC)
    found = {}
    for folder in ("projected", "fits"):
        for root, _, names in os.walk(os.path.join(base, folder)):
            for name in names:
                path = os.path.join(root, name)
                info = os.stat(path)
                found[path] = (info.st_mtime_ns, info.st_size)
    return found


def measure_rerun_table(tmp_path, pool, jobs, changes, failing):
    """[(change, jobs run, images re-projected, overlaps refitted)], change after change."""
    world = World(tmp_path / jobs, pool, seed=1, jobs=jobs)
    assert world.rerun().returncode == 0
    present = world.present()
    measured = []

    def run(change, transient=None):
        before = made_files(world)
        result = world.rerun(transient)
        measured.append((change, sum(jobs_run(result).values()), *remade(world, before)))
        return result

    for change in changes:
        README_CHANGES[change](world, present)
        assert run(change).returncode == 0, change
    world.settings["on_image_error"] = "skip"
    world.settings["pixel_scale"] = 1.0
    run(failing[0], world.present()[0])
    run(failing[1])
    return measured


@pytest.mark.parametrize("layout", ["per_item", "defaults"])  # apart, so they run side by side
def test_readme_rerun_table(tmp_path, pool, layout):
    rows = readme_rerun_table()
    assert len(rows) == len(README_CHANGES) + 2
    changes = [row[0] for row in rows[: len(README_CHANGES)]]
    failing = [row[0] for row in rows[len(README_CHANGES) :]]
    columns = slice(1, 4) if layout == "per_item" else slice(4, 7)
    expected = [(row[0], *row[columns]) for row in rows]
    measured = measure_rerun_table(tmp_path, pool, layout, changes, failing)
    assert measured == expected, "\n".join(f"| {' | '.join(map(str, row))} |" for row in measured)


def test_a_run_stopped_after_the_image_table_is_replanned_from_current_tables(world):
    # the image table changes (a file goes) and the run stops at a projection,
    # before the projected and overlaps tables are made again
    world.settings["on_image_error"] = "fail"
    present = world.present()
    world.delete(present[0])
    world.make_unprojectable(present[1])
    assert world.rerun().returncode != 0
    world.settings["on_image_error"] = "skip"
    assert rerun_equals_fresh(world).returncode == 0
    assert status(world)["status"] == "partial"


def test_a_failure_under_on_image_error_fail_is_tried_again_by_every_run(world):
    world.make_unprojectable(world.present()[1])
    rerun_equals_fresh(world)  # skipped and reported
    world.settings["on_image_error"] = "fail"
    for _ in range(2):  # the failed job lost its outputs: each run still tries it, and fails
        assert rerun_equals_fresh(world).returncode != 0

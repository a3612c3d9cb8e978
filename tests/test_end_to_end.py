"""End to end on small synthetic skies whose truth we know."""

import glob
import os
import re
import struct

import numpy as np
import pytest
from astropy.io import fits

from conftest import PER_IMAGE_PROJECTION, PER_ITEM_JOBS, schema_defaults, small_field, small_region
from mosaicflow.files import layout, tables
from mosaicflow.montage import per_mosaic
from mosaicflow.reference import truth


def png_size(path):
    with open(path, "rb") as handle:
        head = handle.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


@pytest.fixture(scope="module")
def matched_and_unmatched(tmp_path_factory):
    from conftest import Workflow

    wf = Workflow(tmp_path_factory.mktemp("science"))
    config = {
        "mosaics": {
            # the per-image and per-overlap DAG, the reference of the batched modes
            "matched": {
                "source": small_field(),
                "region": small_region(),
                "background": PER_ITEM_JOBS,
                "projection": PER_IMAGE_PROJECTION,
            },
            "unmatched": {
                "source": small_field(),
                "region": small_region(),
                "background": {"model": "none"},
            },
            # the same field, fits batched per image and coadded in 700 px tiles
            "batched": {
                "source": small_field(),
                "region": small_region(),
                "background": {"fit_jobs": "image", "correct_jobs": "image"},
                "coadd": {"tiles_above": 0, "tile_size": 700},
            },
            # corrections applied by the coadd jobs, in tiles, and in one mAdd (the
            # default jobs: fits in batches, corrections in the coadd)
            "corrected_in_tiles": {
                "source": small_field(),
                "region": small_region(),
                "background": {"fit_jobs": "image", "correct_jobs": "coadd"},
                "coadd": {"tiles_above": 0, "tile_size": 700},
            },
            "default_jobs": {"source": small_field(), "region": small_region()},
        }
    }
    wf.run(config=config)
    return wf


def test_outputs_exist_and_preview_is_sized(matched_and_unmatched):
    wf = matched_and_unmatched
    for name in ("mosaic.fits", "mosaic_area.fits", "mosaic.png", "skipped.tsv", "images.tsv"):
        assert os.path.getsize(wf.path("results", "matched", name)) > 0
    width, height = png_size(wf.path("results", "matched", "mosaic.png"))
    # 0.34 x 0.44 deg at 1"/px = 1224 x 1584 px, under the 2000 px preview limit.
    assert (width, height) == (1224, 1584)


def test_mosaic_matches_the_true_sky(matched_and_unmatched):
    wf = matched_and_unmatched
    result = truth.compare(
        wf.path("results", "matched", "mosaic.fits"),
        wf.path("results", "matched", "synthetic", "truth.json"),
    )
    assert result["coverage"] > 0.999
    assert result["stars_measured"] > 100
    assert result["position_error_px"] < 0.1
    assert abs(result["flux_ratio"] - 1.0) < 0.01
    # Tiles carry background levels of 20-200 and slopes of up to 0.02/px;
    # after matching, what is left of them is below 2 data units (noise is 2).
    assert result["seam_amplitude"] < 2.0


def test_background_matching_removes_the_seams(matched_and_unmatched):
    wf = matched_and_unmatched
    matched = truth.compare(
        wf.path("results", "matched", "mosaic.fits"), wf.path("results", "matched", "synthetic", "truth.json")
    )
    unmatched = truth.compare(
        wf.path("results", "unmatched", "mosaic.fits"), wf.path("results", "unmatched", "synthetic", "truth.json")
    )
    assert unmatched["seam_amplitude"] > 20.0
    assert matched["seam_amplitude"] < 0.1 * unmatched["seam_amplitude"]


def test_fits_per_image_and_a_tiled_coadd_give_the_same_mosaic(matched_and_unmatched):
    # One fit job per image instead of one per overlap: the same fits table,
    # byte for byte. A coadd in tiles (one mAdd each) assembled into one file:
    # the same pixels as one mAdd.
    wf = matched_and_unmatched
    per_overlap, batched = wf.path("results", "matched"), wf.path("results", "batched")
    pairs = per_mosaic.overlap_pairs(os.path.join(batched, "overlaps.tbl"))
    assert sorted(os.listdir(os.path.join(per_overlap, "fits"))) == sorted(f"{p}+{m}.tsv" for p, m in pairs)
    batches = sorted(os.listdir(os.path.join(batched, "fits")))
    assert batches == sorted({f"{p}.tsv" for p, _ in pairs}) and len(batches) < len(pairs) / 2
    for name in ("fits.tbl", "corrections.tbl"):
        with open(os.path.join(per_overlap, name), "rb") as a, open(os.path.join(batched, name), "rb") as b:
            assert a.read() == b.read(), name
    # 1224 x 1584 px in 700 px tiles: 2 x 3 tiles, all touched by some image
    assert len(os.listdir(os.path.join(batched, "benchmarks", "coadd_tile"))) == 6
    assert not os.path.exists(os.path.join(batched, "tiles")) or not os.listdir(os.path.join(batched, "tiles"))
    for name in ("mosaic.fits", "mosaic_area.fits"):
        single = fits.getdata(os.path.join(per_overlap, name))
        tiled = fits.getdata(os.path.join(batched, name))
        assert single.shape == tiled.shape and np.array_equal(single, tiled, equal_nan=True), name
    assert fits.getheader(os.path.join(per_overlap, "mosaic.fits")) == fits.getheader(
        os.path.join(batched, "mosaic.fits")
    )


def test_fits_in_batches_give_the_same_tables(matched_and_unmatched):
    # background.fit_jobs: batch (the default): fit_batches files, each with the
    # overlaps hashed to it; the same fits table as one per overlap
    wf = matched_and_unmatched
    per_overlap, batched = wf.path("results", "matched"), wf.path("results", "default_jobs")
    pairs = per_mosaic.overlap_pairs(os.path.join(batched, "overlaps.tbl"))
    files = sorted(os.listdir(os.path.join(batched, "fits")))
    batches = schema_defaults()["background"]["fit_batches"]
    expected = {f"{item}.tsv" for item in layout.fit_items(pairs, "batch", batches).values()}
    assert files == sorted(expected) and 1 < len(files) <= batches
    for name in ("fits.tbl", "corrections.tbl"):
        with open(os.path.join(per_overlap, name), "rb") as a, open(os.path.join(batched, name), "rb") as b:
            assert a.read() == b.read(), name


def test_projections_in_batches_are_the_per_image_projections(matched_and_unmatched):
    # projection.jobs: batch (the default): projection.batches jobs, each writing
    # the images hashed to it into its own folder projected/batch-N/ (the job's
    # declared output); the same projected files, byte for byte, as one job per image.
    wf = matched_and_unmatched
    per_image, batched = wf.path("results", "matched"), wf.path("results", "default_jobs")
    names = sorted(os.listdir(os.path.join(per_image, "projected")))
    # beside each image its per-image job's key (an output of that job)
    images = [name for name in names if name.endswith(".fits")]
    assert len(images) == 12 and sorted(names) == sorted(
        images + [n.replace(".fits", ".fits.key") for n in images if not n.endswith("_area.fits")]
    )
    ids = [row["id"] for row in tables.read_tsv(os.path.join(batched, "images.tsv"))]
    batches = schema_defaults()["projection"]["batches"]
    expected = layout.images_by_batch(ids, batches)
    folders = sorted(os.listdir(os.path.join(batched, "projected")))
    assert folders == sorted(f"batch-{batch}" for batch in expected)
    for batch, members in expected.items():
        folder = os.path.join(batched, "projected", f"batch-{batch}")
        present = sorted(name for name in os.listdir(folder) if not name.startswith("."))
        assert present == sorted(f"{i}{suffix}" for i in members for suffix in (".fits", "_area.fits"))
        for name in present:
            with open(os.path.join(per_image, "projected", name), "rb") as a:
                with open(os.path.join(folder, name), "rb") as b:
                    assert a.read() == b.read(), name
    logs = sorted(os.listdir(os.path.join(batched, "benchmarks", "project")))
    assert logs == sorted(f"batch-{batch}.tsv" for batch in expected)
    assert not os.path.exists(os.path.join(per_image, "projection"))


@pytest.mark.parametrize("mosaic", ["corrected_in_tiles", "default_jobs"])
def test_corrections_applied_by_the_coadd_give_the_same_mosaic(matched_and_unmatched, mosaic):
    # background.correct_jobs: coadd - no correction job per image and no
    # corrected/ files; the coadd jobs subtract the same planes themselves.
    wf = matched_and_unmatched
    per_image, in_coadd = wf.path("results", "matched"), wf.path("results", mosaic)
    assert not os.path.exists(os.path.join(in_coadd, "corrected"))
    assert not os.path.exists(os.path.join(in_coadd, "benchmarks", "background_correct"))
    assert os.listdir(os.path.join(per_image, "benchmarks", "background_correct"))
    for name in ("mosaic.fits", "mosaic_area.fits"):
        with fits.open(os.path.join(per_image, name)) as a, fits.open(os.path.join(in_coadd, name)) as b:
            assert a[0].header == b[0].header, name
            assert np.array_equal(a[0].data, b[0].data, equal_nan=True), name
    # the quality report corrects the overlapping images itself: the same numbers
    rows = {
        folder: [r for r in tables.read_tsv(os.path.join(folder, "quality.tsv")) if r["metric"] != "name"]
        for folder in (per_image, in_coadd)
    }
    assert rows[per_image] == rows[in_coadd]
    assert any(r["metric"] == "rms_after" and r["value"] != "n/a" for r in rows[in_coadd])
    leftovers = [name for _, _, names in os.walk(in_coadd) for name in names if name.startswith(".tmp-")]
    assert leftovers == []


def test_dry_run_and_graphs_work_before_any_data(workflow):
    config = {"mosaics": {"demo": {"source": small_field(), "region": small_region()}}}
    counts = workflow.planned_jobs(config=config)
    assert counts["synthetic_field"] == 1 and counts["image_table"] == 1
    dag = workflow.run("--dag", config=config).stdout
    assert "digraph" in dag and "image_table" in dag
    # Before data, Snakemake cannot see past a checkpoint that has not run:
    # the graph ends at the image table and resumes at the coadd.
    rulegraph = workflow.run("--rulegraph", config=config).stdout
    for rule in ("synthetic_field", "image_table", "region_header", "coadd", "preview"):
        assert rule in rulegraph
    assert not os.path.exists(workflow.path("results"))


def test_rulegraph_after_a_run_shows_every_stage(matched_and_unmatched):
    rulegraph = matched_and_unmatched.run("--rulegraph").stdout
    for rule in ("project", "projected_table", "difference_fit", "background_model", "background_correct", "coadd"):
        assert rule in rulegraph


def test_html_report_is_self_contained(matched_and_unmatched):
    wf = matched_and_unmatched
    wf.run("--report", wf.path("report.html"))
    html = open(wf.path("report.html"), encoding="utf-8").read()
    assert html.count("iVBORw0KGgo") >= 4  # base64 PNGs: two previews and two depth maps
    assert "quality_report" in html and "Mosaics" in html
    assert not re.search(r'(src|href)="https?://', html)  # nothing fetched from the network


def test_performance_target_sums_the_benchmarks_per_stage(matched_and_unmatched):
    from mosaicflow.files import tables

    wf = matched_and_unmatched
    wf.run("performance")
    rows = {r["stage"]: r for r in tables.read_tsv(wf.path("results", "matched", "performance.tsv"))}
    images = len(tables.read_tsv(wf.path("results", "matched", "images.tsv")))
    overlaps = len(os.listdir(wf.path("results", "matched", "fits")))
    assert int(rows["project"]["jobs"]) == images and int(rows["difference_fit"]["jobs"]) == overlaps
    assert int(rows["coadd"]["jobs"]) == 1 and float(rows["project"]["wall_total_s"]) > 0
    assert png_size(wf.path("results", "matched", "performance.png"))[0] > 100
    # every job measured itself (shell steps and script jobs alike), and the CPU summed is theirs
    from mosaicflow.files import layout
    from mosaicflow.reports import job_usage

    benchmarks = wf.path("results", "matched", "benchmarks")
    logs = layout.log_dir_of_benchmarks(benchmarks)
    for stage in ("project", "image_table", "coadd"):
        records = glob.glob(os.path.join(benchmarks, stage, "**", "*.tsv"), recursive=True)
        records += glob.glob(os.path.join(benchmarks, f"{stage}.tsv"))
        jobs = [os.path.relpath(record, benchmarks).removesuffix(".tsv") for record in records]
        measured = [job_usage.read(os.path.join(logs, job + ".log")) for job in jobs]
        assert records and None not in measured, stage
        assert float(rows[stage]["cpu_total_s"]) == pytest.approx(sum(m["cpu_s"] for m in measured), abs=0.01)
        assert float(rows[stage]["max_rss_mb"]) >= max(m["max_rss_mb"] for m in measured) > 10


@pytest.mark.parametrize(
    "coadd, tiled",
    [
        ({"tile_size": 500}, True),  # the default tiles_above: a mosaic wider than a tile is tiled
        ({"tiles_above": 400_000_000, "tile_size": 500}, False),
        ({}, False),  # within one tile of the default size: one mAdd, not a tile and a copy
    ],
    ids=["tiled", "single", "one-tile"],
)
def test_asking_for_the_mosaic_alone_builds_it(workflow, coadd, tiled):
    # Without the quality report nothing else keeps the temporary corrected
    # images: the coadd must list every file mAdd reads (areas too).
    config = {
        "mosaics": {
            "only": {
                "source": small_field(columns=2, rows=1, stars=100),
                "region": small_region(width=0.25, height=0.3),
                "coadd": coadd,
            }
        }
    }
    workflow.run("results/only/mosaic.fits", config=config)
    data = fits.getdata(workflow.path("results", "only", "mosaic.fits"))
    assert np.isfinite(data).mean() > 0.9
    assert not os.path.exists(workflow.path("results", "only", "quality.tsv"))
    tile_records = workflow.path("results", "only", "benchmarks", "coadd_tile")
    assert (len(os.listdir(tile_records)) if os.path.isdir(tile_records) else 0) == (6 if tiled else 0)


@pytest.mark.parametrize("name", ["matched", "default_jobs"])
def test_the_quality_reports_seam_figures_follow_the_truth(matched_and_unmatched, name):
    # Each overlap's step after matching, as the quality report measures it from the
    # pixels (offset_after), against the step the tiles' true planes and the applied
    # corrections leave (mosaicflow.reference.truth); and the verdict that follows from them.
    import json

    from mosaicflow.files import tables

    wf = matched_and_unmatched
    folder = wf.path("results", name)
    with open(os.path.join(folder, "synthetic", "truth.json"), encoding="utf-8") as handle:
        steps = truth.overlap_steps(folder, json.load(handle))
    rows = tables.read_tsv(os.path.join(folder, "quality.tsv"))
    measured = {r["item"]: float(r["value"]) for r in rows if r["metric"] == "offset_after" and r["value"] != "n/a"}
    assert len(measured) > 10 and set(measured) <= set(steps)
    # noise 2 per pixel over thousands of pixels, and interpolation at the cutouts' edges
    assert max(abs(measured[item] - steps[item]) for item in measured) < 0.15
    summary = {(r["section"], r["metric"]): r["value"] for r in rows if not r["item"]}
    assert float(summary[("seams", "max")]) < 0.5 and summary[("verdict", "status")] == "ok"


def test_kept_difference_images_are_a_declared_folder(workflow):
    # keep_diffs: every overlap's plus - minus, made by one job into results/NAME/diffs/,
    # which Snakemake lists and deletes like any output.
    source = {"type": "synthetic", "columns": 3, "rows": 2, "tile_width": 128, "tile_height": 256, "stars": 200}
    config = {"mosaics": {"kd": {"source": source, "region": {"auto": True}, "background": {"keep_diffs": True}}}}
    workflow.run(config=config)
    folder = workflow.path("results", "kd", "diffs")
    pairs = per_mosaic.overlap_pairs(workflow.path("results", "kd", "overlaps.tbl"))
    assert len(pairs) >= 5
    names = sorted(name for name in os.listdir(folder) if name.endswith(".fits") and not name.endswith("_area.fits"))
    assert names == sorted(f"{plus}+{minus}.fits" for plus, minus in pairs)
    for name in names:  # two tiles' backgrounds (20-200 data units) apart, sky cancelled
        data = fits.getdata(os.path.join(folder, name))
        assert np.isfinite(data).sum() > 100 and abs(np.nanmedian(data)) < 300, name

    summary = workflow.run("--summary").stdout
    assert "results/kd/diffs\t" in summary
    workflow.run("--delete-all-output")
    assert not os.path.exists(folder)

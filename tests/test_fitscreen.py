"""Screening the difference fits before the background model (mosaicflow.montage.fitscreen),
and the check of the model's corrections, against known backgrounds."""

import json
import os

import numpy as np
import pytest

from mosaicflow import StepError
from mosaicflow.files import tables
from mosaicflow.montage import bgsolve, fitscreen, per_mosaic
from mosaicflow.montage.per_item import check_status, load_montage
from mosaicflow.reference import truth
from mosaicflow.sky import synth

RULE = fitscreen.Rule(min_width=10, min_pixels=100, outlier_sigma=10)  # the schema's defaults
OFF = fitscreen.Rule(min_width=0, min_pixels=0, outlier_sigma=0)
# Fits over slivers that a region's edge cut from overlaps, as found on a real
# 2-degree 2MASS field: box (w x h px), pixels, slope b, offset c.
SLIVERS = [(1, 74, 123, -27.7, 9.97e4), (3, 58, 230, 15.0, 8.57e4), (5, 15, 94, -4.0, 1.19e4)]


def sliver_field(seed=3):
    """A 6 x 4 pixel-free field whose fits 1, 4 and 7 are slivers' absurd planes."""
    images, fits, planes = synth.overlap_fits(6, 4, seed=seed)
    for k, (width, height, npixel, b, c) in enumerate(SLIVERS):
        fits[3 * k + 1] |= {"boxwidth": width, "boxheight": height, "npixel": npixel, "a": 0.5, "b": b, "c": c}
    return images, fits, planes


def text(rows):
    return [{key: str(value) for key, value in row.items()} for row in rows]


def planes_of(corrections_tbl):
    return {int(r["id"]): tuple(float(r[k]) for k in "abc") for r in tables.read_ipac(corrections_tbl)}


def background_error(images, fits, planes, corrections):
    plus = np.array([int(f["plus"]) for f in fits])
    minus = np.array([int(f["minus"]) for f in fits])
    _, labels = bgsolve.image_groups(len(images), plus, minus)
    groups = {int(row["cntr"]): int(label) for row, label in zip(images, labels, strict=True)}
    return truth.background_error(truth.plane_samples(images, planes), corrections, groups)


def mbgmodel(folder, images, fits):
    projected, fits_tbl = synth.write_overlap_fits(str(folder), images, fits)
    out = os.path.join(str(folder), "corrections.tbl")
    check_status(load_montage().mBgModel(projected, fits_tbl, out, niteration=100000), "mBgModel")
    return planes_of(out)


def test_sliver_planes_throw_mbgmodel_off_and_are_not_used_as_fitted(tmp_path):
    images, fits, planes = sliver_field()
    # Why: with the slivers' planes mBgModel's corrections are far from the truth.
    (tmp_path / "raw").mkdir()
    assert background_error(images, fits, planes, mbgmodel(tmp_path / "raw", images, fits)) > 100

    used, screened = fitscreen.screen(text(fits), RULE)
    assert sorted((int(row["plus"]), int(row["minus"])) for row, _, _ in screened) == sorted(
        (fits[i]["plus"], fits[i]["minus"]) for i in (1, 4, 7)
    )
    # 94 pixels are too few; the two thin ones have absurd levels at their box centres (no median here)
    reasons = sorted(reason.split(":")[0] for _, _, reason in screened)
    assert reasons == ["level outlier", "level outlier", "too few pixels"]
    assert len(used) == len(fits) - 3

    # Screened, the error is what mBgModel makes of the same field without those sliver overlaps.
    _, clean_fits, _ = synth.overlap_fits(6, 4, seed=3)
    (tmp_path / "clean").mkdir()
    floor = background_error(images, clean_fits, planes, mbgmodel(tmp_path / "clean", images, clean_fits))
    (tmp_path / "screened").mkdir()
    kept = [f for i, f in enumerate(fits) if i not in (1, 4, 7)]
    screened_error = background_error(images, kept, planes, mbgmodel(tmp_path / "screened", images, kept))
    assert floor < 0.5 and screened_error < 1.5 * floor


def test_a_sliver_keeps_its_slope_along_the_box_and_the_median_as_level():
    # 810 x 4 px box turned by 90 degrees: along the box is y. The plane across (a) is junk.
    row = {"a": "55.079", "b": "-0.0316762", "c": "1.07399e+04", "boxx": "-196.5", "boxy": "-345.0"}
    row |= {"boxwidth": "810", "boxheight": "4", "boxang": "90", "median": "-125.808"}
    plane = fitscreen.sliver_plane(row, 10)
    assert plane["a"] == pytest.approx(0.0, abs=1e-12)
    assert plane["b"] == pytest.approx(-0.0316762)
    assert plane["a"] * -196.5 + plane["b"] * -345.0 + plane["c"] == pytest.approx(-125.808)
    # thin both ways: the level only
    tiny = row | {"boxwidth": "6", "boxheight": "4"}
    assert fitscreen.sliver_plane(tiny, 10) == {"a": 0.0, "b": 0.0, "c": pytest.approx(-125.808)}


@pytest.mark.parametrize("seed", range(5))
def test_a_clean_field_loses_no_fit(seed):
    _, fits, _ = synth.overlap_fits(8, 6, seed=seed, noise=0.05)
    used, screened = fitscreen.screen(text(fits), RULE)
    assert screened == [] and len(used) == len(fits)


def test_outlying_slope_level_and_rms_are_rejected_with_their_reason():
    _, fits, _ = synth.overlap_fits(8, 6, seed=1)
    fits[2]["a"] += 1.0  # a plane tilted by 1 data unit per pixel
    fits[5]["c"] += 5000.0  # an offset far beyond the field's image-to-image levels
    fits[9]["rms"] *= 40  # a residual forty times the field's
    _, rejected = fitscreen.screen(text(fits), RULE)
    reasons = {int(row["plus"]) * 1000 + int(row["minus"]): reason for row, _, reason in rejected}
    expected = {
        "slope outlier": fits[2],
        "level outlier": fits[5],
        "rms outlier": fits[9],
    }
    assert len(rejected) == 3
    for word, fit in expected.items():
        assert reasons[fit["plus"] * 1000 + fit["minus"]].startswith(word)


def test_outlier_test_needs_a_field_and_can_be_switched_off():
    _, fits, _ = synth.overlap_fits(4, 1, seed=1)
    fits[0]["c"] += 5000.0
    assert len(fits) < fitscreen.MIN_FITS_FOR_OUTLIERS
    assert fitscreen.screen(text(fits), RULE)[1] == []
    _, fits, _ = synth.overlap_fits(8, 6, seed=1)
    fits[0]["c"] += 5000.0
    assert fitscreen.screen(text(fits), OFF)[1] == []


def test_check_corrections_names_non_finite_and_wild_planes():
    ids = {0: "tile-a", 1: "tile-b", 2: "tile-c"}
    fit = {"a": "0.01", "b": "0", "c": "5", "boxx": "10", "boxy": "10", "boxwidth": "100", "boxheight": "100"}
    fit |= {"rms": "2"}
    fitscreen.check_corrections({0: (0.0, 0.0, 1.0), 1: (0.001, 0.0, -3.0)}, [fit], ids)
    with pytest.raises(ValueError, match=r"non-finite corrections for 1 of 3 images \(tile-b\)"):
        fitscreen.check_corrections({0: (0, 0, 1), 1: (0, 0, float("nan")), 2: (0, 0, 0)}, [fit], ids)
    with pytest.raises(ValueError, match=r"beyond what the fits allow for 1 of 2 images \(tile-c\)"):
        fitscreen.check_corrections({0: (0, 0, 1), 2: (-911.0, -85.8, -1.78e5)}, [fit], ids)


def test_the_model_step_screens_lists_and_refuses_wild_corrections(tmp_path):
    images, fits, _ = sliver_field()
    projected, fits_tbl = synth.write_overlap_fits(str(tmp_path), images, fits)
    corrections_tbl, corrections_tsv = str(tmp_path / "corrections.tbl"), str(tmp_path / "corrections.tsv")
    screened_tsv = str(tmp_path / "fits_screened.tsv")

    def model(rule, solver="mbgmodel"):
        return per_mosaic.background_model(
            projected, fits_tbl, corrections_tbl, corrections_tsv, screened_tsv, 100000, False, solver, rule
        )

    # Unscreened, mBgModel's planes are wild: no corrections table is left to correct images with.
    with pytest.raises(StepError, match="beyond what the fits allow.*no mosaic is made from them"):
        model(OFF)
    assert not os.path.exists(corrections_tbl)

    for solver in ("mbgmodel", "lsq"):
        summary = model(RULE, solver)
        assert "3 rejected" in summary
        listed = tables.read_tsv(screened_tsv)
        assert len(listed) == 3 and all(row["action"] == fitscreen.REJECTED for row in listed)
        assert {row["plus"] for row in listed} <= {
            os.path.basename(row["fname"]).removesuffix(".fits") for row in text(images)
        }
        corrections = planes_of(corrections_tbl)
        assert all(np.isfinite(plane).all() for plane in corrections.values())


def test_a_region_edge_that_cuts_overlaps_into_slivers(workflow):
    # The region's left and right edges fall 4 pixels inside the overlaps
    # between tile columns: every link of the outer columns is a sliver a few
    # pixels wide, as where the edge of a real 2-degree region cut 2MASS tiles.
    source = {"type": "synthetic", "columns": 3, "rows": 2, "seed": 7}
    region = {"center": "83.82 -5.39", "width": 0.11033, "height": 0.4167, "pixel_scale": 1.0}
    unscreened = {"fit_screen": {"min_width": 0, "min_pixels": 0, "outlier_sigma": 0}}
    config = {
        "mosaics": {
            "edge": {"source": source, "region": region},
            "unscreened": {"source": source, "region": region, "background": unscreened},
        }
    }
    workflow.run("-k", config=config, check=False)

    rows = tables.read_tsv(workflow.path("results", "edge", "quality.tsv"))
    edge = {(r["section"], r["metric"]): r["value"] for r in rows if not r["item"]}
    screened = tables.read_tsv(workflow.path("results", "edge", "fits_screened.tsv"))
    assert len(screened) >= 4 and all(row["action"] == fitscreen.SLIVER for row in screened)
    corrections = tables.read_tsv(workflow.path("results", "edge", "corrections.tsv"))
    assert all(np.isfinite(float(row[k])) for row in corrections for k in "abc")
    assert float(edge[("coverage", "finite_fraction")]) == 1.0
    # Screened, the steps left over the slivers are those the truth has (a few data units,
    # a few pixels wide at the region's edge: no seam figure counts them); elsewhere none.
    with open(workflow.path("results", "edge", "synthetic", "truth.json"), encoding="utf-8") as handle:
        steps = truth.overlap_steps(workflow.path("results", "edge"), json.load(handle))
    measured = {r["item"]: float(r["value"]) for r in rows if r["metric"] == "offset_after" and r["value"] != "n/a"}
    assert measured and max(abs(measured[item] - steps[item]) for item in measured) < 0.4
    assert float(edge[("seams", "max")]) < 1
    status = {row["name"]: row for row in tables.read_tsv(workflow.path("results", "summary.tsv"))}
    assert status["edge"]["status"] == "partial"  # the tile the region leaves blank; not broken
    # Fitted as they come, the slivers' planes tilt an image by ~50 data units per pixel:
    # the model step refuses those corrections, and no mosaic is made from them.
    assert status["unscreened"]["status"] == "failed"
    assert "corrections beyond what the fits allow for 1 of 5 images" in status["unscreened"]["reason"]
    assert not os.path.exists(workflow.path("results", "unscreened", "corrections.tbl"))
    assert not os.path.exists(workflow.path("results", "unscreened", "mosaic.fits"))

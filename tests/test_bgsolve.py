"""The direct background solver (background.solver: lsq) against analytic
answers, Montage's own mBgModel and mBackground, and the known backgrounds of
synthetic skies."""

import os

import numpy as np
import pytest
from astropy.io import fits as pyfits
from astropy.wcs import WCS

from mosaicflow.files import tables
from mosaicflow.montage import bgsolve, per_item
from mosaicflow.montage.per_item import load_montage
from mosaicflow.reference import truth
from mosaicflow.sky import region, synth


def as_text(rows):
    return [{key: str(value) for key, value in row.items()} for row in rows]


def exact_field(columns, rows, **settings):
    """A pixel-free field whose fits are the exact differences of the true planes."""
    images, fits, planes = synth.overlap_fits(columns, rows, **settings)
    for fit in fits:
        plus, minus = planes[fit["plus"]], planes[fit["minus"]]
        fit["a"], fit["b"], fit["c"] = (p - m for p, m in zip(plus, minus, strict=True))
    return images, fits, planes


def groups_of(images, fits):
    plus = np.array([int(f["plus"]) for f in fits], dtype=int)
    minus = np.array([int(f["minus"]) for f in fits], dtype=int)
    _, labels = bgsolve.image_groups(len(images), plus, minus)
    return {int(row["cntr"]): int(label) for row, label in zip(images, labels, strict=True)}


def error(images, fits, planes, solved):
    return truth.background_error(truth.plane_samples(images, planes), solved, groups_of(images, fits))


def read_planes(corrections_tbl):
    return {int(row["id"]): tuple(float(row[k]) for k in "abc") for row in tables.read_ipac(corrections_tbl)}


# ---- analytic answers -----------------------------------------------------------


def test_a_chain_of_levels_is_solved_exactly_with_the_overlap_weighted_mean_at_zero():
    # three 100 x 100 images in a row, 20 px overlaps; backgrounds 10, 25, 5
    images = [
        {"cntr": i, "fname": f"i{i}.fits", "naxis1": 100, "naxis2": 100, "crpix1": -80 * i, "crpix2": 0}
        for i in range(3)
    ]
    level = [10.0, 25.0, 5.0]
    fits = []
    for plus, minus in ((0, 1), (1, 2)):
        box = {"boxx": 80 * minus + 9.5, "boxy": 49.5, "boxwidth": 20, "boxheight": 100, "boxang": 0}
        fits.append({"plus": plus, "minus": minus, "a": 0, "b": 0, "c": level[plus] - level[minus]} | box)
        fits[-1] |= {"npixel": 2000, "rms": 1.0}
    solution = bgsolve.solve(as_text(images), as_text(fits), level_only=True)
    c = [solution.planes[i][2] for i in range(3)]
    assert c[0] - c[1] == pytest.approx(-15.0, abs=1e-9) and c[1] - c[2] == pytest.approx(20.0, abs=1e-9)
    # mBgModel's gauge: images weighted by their overlaps' box area (image 1 has two)
    assert c[0] + 2 * c[1] + c[2] == pytest.approx(0.0, abs=1e-9)
    assert all(plane[:2] == (0.0, 0.0) for plane in solution.planes.values())


def test_planes_of_a_grid_are_recovered_up_to_one_common_plane():
    images, fits, planes = exact_field(5, 4, seed=1)
    solution = bgsolve.solve(as_text(images), as_text(fits))
    assert error(images, fits, planes, solution.planes) < 1e-6
    # and the error measure sees a wrong answer: swapped signs
    flipped = {c: tuple(-v for v in p) for c, p in solution.planes.items()}
    assert error(images, fits, planes, flipped) > 10


def test_disconnected_groups_are_matched_within_each_group_and_lone_images_get_zero():
    left, left_fits, left_planes = exact_field(3, 2, seed=2)
    right, right_fits, right_planes = exact_field(3, 2, seed=3)
    shift = len(left)
    images = left + [
        row | {"cntr": row["cntr"] + shift, "crpix1": row["crpix1"] - 5000, "fname": f"r{row['fname']}"}
        for row in right
    ]
    lone = {"cntr": 2 * shift, "fname": "lone.fits", "naxis1": 128, "naxis2": 128, "crpix1": 9000, "crpix2": 0}
    images.append(lone)
    # the right group moved 5000 px along x: its planes and fits in the common frame change accordingly
    moved_fits = [f | {"boxx": f["boxx"] + 5000, "c": f["c"] - 5000 * f["a"]} for f in right_fits]
    fits = left_fits + [f | {"plus": f["plus"] + shift, "minus": f["minus"] + shift} for f in moved_fits]
    moved = [(a, b, c - 5000 * a) for a, b, c in right_planes]
    planes = left_planes + moved + [(0.0, 0.0, 0.0)]
    solution = bgsolve.solve(as_text(images), as_text(fits))
    assert solution.groups == 2
    assert solution.planes[2 * shift] == (0.0, 0.0, 0.0)
    assert error(images, fits, planes, solution.planes) < 1e-6
    # each group's own gauge: removing one plane from both groups at once would not do
    assert (
        truth.background_error(
            truth.plane_samples(images, planes), solution.planes, dict.fromkeys(range(2 * shift + 1), 0)
        )
        > 1.0
    )


def test_an_outlier_fit_is_rejected():
    images, fits, planes = exact_field(4, 3, seed=4)
    fits[7]["c"] += 20.0
    solution = bgsolve.solve(as_text(images), as_text(fits))
    assert solution.rejected == 1
    assert error(images, fits, planes, solution.planes) < 1e-3
    plain = bgsolve.solve(as_text(images), as_text(fits), robust=False)
    assert error(images, fits, planes, plain.planes) > 1.0


def test_fits_mbgmodel_ignores_are_ignored():
    images, fits, planes = exact_field(3, 3, seed=5)
    fits[0]["rms"] = float("inf")
    fits[1]["npixel"] = 1  # below 0.001 of an image
    fits[0]["c"] += 50.0
    fits[1]["c"] -= 50.0
    solution = bgsolve.solve(as_text(images), as_text(fits))
    assert solution.ignored == 2 and solution.rejected == 0
    assert error(images, fits, planes, solution.planes) < 1e-6


# ---- Montage's conventions ----------------------------------------------------------


def test_the_corrections_table_gives_mbgmodels_planes_on_exact_fits(tmp_path):
    """Same table format, same planes (gauge included) as mBgModel where both
    have one answer: fits that are exact differences."""
    images, fits, planes = exact_field(4, 3, seed=6)
    projected, fits_tbl = synth.write_overlap_fits(str(tmp_path), images, fits)
    ours, theirs = str(tmp_path / "lsq.tbl"), str(tmp_path / "mbgmodel.tbl")
    bgsolve.solve_tables(projected, fits_tbl, ours)
    per_item.check_status(load_montage().mBgModel(projected, fits_tbl, theirs, niteration=100000), "mBgModel")
    with open(ours, encoding="ascii") as mine, open(theirs, encoding="ascii") as montage:
        assert mine.readline() == montage.readline()  # the header line
    ours, theirs = read_planes(ours), read_planes(theirs)
    assert sorted(ours) == sorted(theirs)
    # the same level; slopes zero on average where mBgModel's mean slope is left to chance (a few 1e-3 here)
    for cntr in ours:
        assert ours[cntr][:2] == pytest.approx(theirs[cntr][:2], abs=5e-3)
        assert ours[cntr][2] == pytest.approx(theirs[cntr][2], abs=0.05)


def test_mbackground_subtracts_the_plane_in_the_frame_the_solver_uses(tmp_path):
    """mBackground subtracts a*x + b*y + c at 0-based pixel (i, j) with x = i - CRPIX1."""
    header = pyfits.Header({"NAXIS": 2, "NAXIS1": 40, "NAXIS2": 30, "CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN"})
    header.update(
        {"CRVAL1": 83.8, "CRVAL2": -5.4, "CRPIX1": -12.5, "CRPIX2": 7.0, "CDELT1": -1 / 3600, "CDELT2": 1 / 3600}
    )
    data = np.random.default_rng(0).normal(100.0, 1.0, (30, 40))
    image = str(tmp_path / "image.fits")
    pyfits.PrimaryHDU(data, header).writeto(image)
    pyfits.PrimaryHDU(np.ones_like(data), header).writeto(str(tmp_path / "image_area.fits"))
    a, b, c = 0.3, -0.2, 5.0
    per_item.background(image, str(tmp_path / "corrected.fits"), a, b, c)
    corrected = pyfits.getdata(str(tmp_path / "corrected.fits"))
    j, i = np.mgrid[0:30, 0:40]
    expected = data - (a * (i - header["CRPIX1"]) + b * (j - header["CRPIX2"]) + c)
    assert np.allclose(corrected, expected, atol=1e-9)


# ---- synthetic skies: pixels, mDiffFit, mBgModel ------------------------------------

FIELDS = {
    # name: synthetic settings (tiles of 128 x 256 px), region (deg)
    "grid": ({"columns": 5, "rows": 3, "overlap": 0.15, "seed": 11}, (0.2, 0.2)),
    "dense": ({"columns": 6, "rows": 3, "overlap": 0.55, "seed": 12}, (0.12, 0.14)),
    "chain": ({"columns": 8, "rows": 1, "overlap": 0.1, "seed": 13}, (0.3, 0.08)),
}


def sky_field(folder, settings, size):
    """Tiles of a synthetic sky through Montage up to the fits table; returns
    (projected table, fits table, samples of each projected image's true background)."""
    montage = load_montage()
    settings = {"tile_width": 128, "tile_height": 256, "stars": 150, "nebulae": 3, **settings}
    truth_field = synth.make_truth(settings)
    raw, projected = os.path.join(folder, "raw"), os.path.join(folder, "projected")
    for sub in (raw, projected, os.path.join(folder, "diffs")):
        os.makedirs(sub)
    for tile in truth_field["tiles"]:
        header, data = synth.render_tile(tile, truth_field)
        pyfits.PrimaryHDU(data, header).writeto(os.path.join(raw, tile["name"] + ".fits"))
    hdr = os.path.join(folder, "region.hdr")
    with open(hdr, "w", encoding="ascii") as handle:
        handle.write(region.header_text("83.82 -5.39", *size, 1.0, "TAN", "equatorial", 0.0))
    path = lambda name: os.path.join(folder, name)  # noqa: E731
    per_item.check_status(montage.mImgtbl(raw, path("raw.tbl")), "mImgtbl")
    per_item.check_status(montage.mProjExec(raw, path("raw.tbl"), hdr, projdir=projected), "mProjExec")
    per_item.check_status(montage.mImgtbl(projected, path("projected.tbl")), "mImgtbl")
    per_item.check_status(montage.mOverlaps(path("projected.tbl"), path("diffs.tbl")), "mOverlaps")
    per_item.check_status(
        montage.mDiffFitExec(projected, path("diffs.tbl"), hdr, path("diffs"), path("fits.tbl")), "mDiffFitExec"
    )
    return path("projected.tbl"), path("fits.tbl"), true_backgrounds(path("projected.tbl"), hdr, truth_field)


def true_backgrounds(projected_tbl, hdr, truth_field):
    """{cntr: (x, y, true background)} at points of each tile, in Montage's common frame."""
    s = truth_field["settings"]
    with open(hdr, encoding="ascii") as handle:
        mosaic = WCS(pyfits.Header.fromstring(handle.read(), sep="\n"))
    tiles = {tile["name"]: tile for tile in truth_field["tiles"]}
    ys, xs = np.mgrid[8 : s["tile_height"] - 8 : 7j, 8 : s["tile_width"] - 8 : 7j]
    samples = {}
    for row in tables.read_ipac(projected_tbl):
        tile = tiles[os.path.basename(row["fname"])[len("hdu0_") : -len(".fits")]]  # mProjExec names them so
        lon, lat = WCS(synth.tile_header(tile, s)).all_pix2world(xs.ravel(), ys.ravel(), 0)
        px, py = mosaic.all_world2pix(lon, lat, 0)
        value = tile["level"] + tile["slope_x"] * (xs.ravel() - s["tile_width"] / 2)
        value = value + tile["slope_y"] * (ys.ravel() - s["tile_height"] / 2)
        samples[int(row["cntr"])] = (px - mosaic.wcs.crpix[0], py - mosaic.wcs.crpix[1], value)
    return samples


@pytest.fixture(scope="module")
def sky_errors(tmp_path_factory):
    """{field: (lsq error, mBgModel error at 100000 iterations)}."""
    montage = load_montage()
    errors = {}
    for name, (settings, size) in FIELDS.items():
        folder = str(tmp_path_factory.mktemp(name))
        projected, fits_tbl, samples = sky_field(folder, settings, size)
        fits = tables.read_ipac(fits_tbl)
        images = tables.read_ipac(projected)
        groups = groups_of(images, fits)
        ours, theirs = os.path.join(folder, "lsq.tbl"), os.path.join(folder, "mbgmodel.tbl")
        bgsolve.solve_tables(projected, fits_tbl, ours)
        per_item.check_status(montage.mBgModel(projected, fits_tbl, theirs, niteration=100000), "mBgModel")
        errors[name] = tuple(truth.background_error(samples, read_planes(t), groups) for t in (ours, theirs))
    return errors


def test_on_synthetic_skies_lsq_is_no_worse_than_mbgmodel_anywhere_and_better_somewhere(sky_errors):
    print("background error (data units), lsq vs mBgModel at 100000 iterations:", sky_errors)
    for name, (lsq, mbgmodel) in sky_errors.items():
        assert lsq <= 1.01 * mbgmodel + 1e-3, (name, lsq, mbgmodel)
    assert any(lsq < 0.8 * mbgmodel for lsq, mbgmodel in sky_errors.values()), sky_errors


def test_on_synthetic_skies_the_backgrounds_are_found(sky_errors):
    # tiles carry levels of 20-200 and slopes up to 0.02/px; noise is 2 per pixel. (Along a
    # chain, slopes are fixed only by one strip per neighbour: both solvers leave a few units there.)
    for name in ("grid", "dense"):
        assert sky_errors[name][0] < 0.5, (name, sky_errors[name])

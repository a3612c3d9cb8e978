"""The per-mosaic quality report (mosaicflow.reports.quality), on real and hand-made mosaic folders."""

import os
import struct

import numpy as np
import pytest

from conftest import PER_ITEM_JOBS, projected_image
from mosaicflow.files import tables
from mosaicflow.montage import per_mosaic
from mosaicflow.reports import quality

# A small synthetic field: 6 tiles, 3 x 2, with background levels of 20-200,
# slopes up to 0.02/px and noise sigma 2 (mosaicflow.sky.synth's defaults).
FIELD = {"type": "synthetic", "columns": 3, "rows": 2, "seed": 7, "stars": 300, "nebulae": 3}
REGION = {"center": "83.82 -5.39", "width": 0.34, "height": 0.44}


def number(value):
    return float(value)


def png_size(path):
    with open(path, "rb") as handle:
        head = handle.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def depth_png_counts(png, nx, ny):
    """{depth: pixels} of the map in a depth PNG (its top-left nx x ny pixels; the legend is below)."""
    from PIL import Image

    from mosaicflow.reports import depthmap

    image = np.asarray(Image.open(png).convert("RGB"))
    assert image.shape[0] > ny and image.shape[1] >= nx, "the map, and the legend underneath"
    colours = {depthmap.colour(depth): depth for depth in range(len(depthmap.PALETTE) + 1)}
    counts = {}
    for pixel in image[:ny, :nx].reshape(-1, 3):
        depth = colours[tuple(int(v) for v in pixel)]
        counts[depth] = counts.get(depth, 0) + 1
    return counts


def report(mosaic_dir, **options):
    """Run the report into the folder; return (table as dict, paths)."""
    paths = {
        "tsv": os.path.join(mosaic_dir, "quality.tsv"),
        "png": os.path.join(mosaic_dir, "depth.png"),
        "fits": os.path.join(mosaic_dir, "depth.fits"),
    }
    quality.write_quality_report(mosaic_dir, paths["tsv"], paths["png"], depth_fits=paths["fits"], **options)
    return quality.read_report(paths["tsv"]), paths


# ---- on a mosaic made by the real workflow ----------------------------------------


@pytest.fixture(scope="module")
def field(tmp_path_factory):
    from conftest import Workflow

    wf = Workflow(tmp_path_factory.mktemp("quality"))
    wf.run(
        config={
            "keep_intermediates": {"corrected": True},
            "mosaics": {
                # per-image corrections, kept: the report below reads corrected/
                "q": {"source": FIELD, "region": REGION, "background": PER_ITEM_JOBS},
                "qn": {"source": FIELD, "region": REGION, "background": {**PER_ITEM_JOBS, "model": "none"}},
            },
        }
    )
    matched = report(wf.path("results", "q"))
    unmatched = report(wf.path("results", "qn"), background_model="none")
    return wf, matched, unmatched


def test_images_and_overlaps_are_counted(field):
    wf, (table, _), _ = field
    assert table[("images", "", "used")] == "6"
    assert table[("images", "", "skipped")] == "0"
    assert not [key for key in table if key[0] == "skipped"]
    pairs = per_mosaic.overlap_pairs(wf.path("results", "q", "overlaps.tbl"))
    assert len(pairs) > 0
    total = int(table[("overlaps", "", "total")])
    fitted = int(table[("overlaps", "", "fitted")])
    failed = int(table[("overlaps", "", "failed")])
    assert total == len(pairs)
    assert fitted + failed == total
    # One status row per overlap, keyed by the fit's file name.
    for plus, minus in pairs:
        assert table[("overlap", f"{plus}+{minus}", "status")] in ("ok", "failed")
    assert table[("corrections", "", "images")] == "6"
    levels = [
        number(table[("correction", row["id"], "level")])
        for row in tables.read_tsv(wf.path("results", "q", "corrections.tsv"))
    ]
    assert number(table[("corrections", "", "level_max")]) == pytest.approx(max(levels), rel=1e-5)


def test_background_matching_shrinks_the_overlap_differences(field):
    _, (table, _), _ = field
    before = number(table[("overlap_rms", "", "rms_before_median")])
    after = number(table[("overlap_rms", "", "rms_after_median")])
    # Tile offsets of tens of units before; noise (sigma 2, smoothed a little
    # by reprojection) times sqrt(2) after.
    assert before > 10
    assert after < 5
    assert number(table[("overlap_rms", "", "rms_after_max")]) < number(table[("overlap_rms", "", "rms_before_max")])
    per_overlap = [key[1] for key in table if key[0] == "overlap" and key[2] == "rms_after"]
    for item in per_overlap:
        assert number(table[("overlap", item, "rms_after")]) < number(table[("overlap", item, "rms_before")])
        assert int(table[("overlap", item, "pixels")]) > 1000


def test_corrections_applied_in_the_report_equal_mbackgrounds(field, tmp_path):
    # correct_jobs: coadd leaves no corrected/ images: the report subtracts the
    # planes from the projected pixels itself. Every row (rms_after included,
    # to the 6 digits written) equals the report from mBackground's corrected/.
    wf, (table, _), _ = field
    tsv = str(tmp_path / "quality.tsv")
    quality.write_quality_report(wf.path("results", "q"), tsv, str(tmp_path / "depth.png"), correct_jobs="coadd")
    planes = quality.read_report(tsv)
    assert planes == table
    assert len([key for key in planes if key[2] == "rms_after" and planes[key] != quality.NA]) > 3


def test_a_pixel_cache_of_one_image_gives_the_same_report(field, tmp_path, monkeypatch):
    # The overlap measurements keep recently used images' pixels up to a byte
    # budget; with no room for a second image every overlap reads its images
    # again, and every row is the same.
    wf, (table, _), _ = field
    monkeypatch.setattr(quality, "PIXEL_CACHE_BYTES", 1)
    tsv = str(tmp_path / "quality.tsv")
    quality.write_quality_report(wf.path("results", "q"), tsv, str(tmp_path / "depth.png"))
    assert quality.read_report(tsv) == table
    assert len([key for key in table if key[0] == "overlap" and key[2] == "pixels" and table[key] != "0"]) > 3


def test_the_report_job_asks_for_the_memory_its_pixel_cache_takes(field):
    # What a pool enforces: the job's request covers the coadd's estimate and the cache.
    import re

    wf, _, _ = field
    result = wf.run("-n", "--forcerun", "quality_report", "results/q/quality.tsv")
    block = (result.stdout + result.stderr).split("rule quality_report:")[1]
    requested = int(re.search(r"\bmem_mb=(\d+)", block).group(1))
    assert requested >= 256 + quality.PIXEL_CACHE_BYTES // 2**20
    assert int(re.search(r"htcondor_request_mem_mb=(\d+)", block).group(1)) == requested


def test_coverage_and_depth(field):
    wf, (table, paths), _ = field
    assert number(table[("coverage", "", "fraction")]) > 0.999
    assert int(table[("depth", "", "min")]) >= 1
    assert int(table[("depth", "", "max")]) >= 2
    assert 0 < number(table[("depth", "", "fraction_ge_2")]) < 1
    histogram = {int(key[1]): int(value) for key, value in table.items() if key[0] == "depth_histogram"}
    assert sum(histogram.values()) == int(table[("depth", "", "covered_pixels")])
    # The depth map is what mAdd writes in count mode, pixel for pixel (NaN where no
    # image), and an independent count of valid pixels placed by CRPIX.
    from astropy.io import fits

    from mosaicflow.montage import per_mosaic
    from mosaicflow.montage.per_item import load_montage

    depth = fits.getdata(paths["fits"])
    base = wf.path("results", "q")
    madd = str(wf.path("depth-madd.fits"))
    result = load_montage().mAdd(
        os.path.join(base, "projected"),
        os.path.join(base, "projected.tbl"),
        os.path.join(base, "region.hdr"),
        madd,
        haveAreas=True,
        coadd=per_mosaic.COADD_METHODS["count"],
    )
    assert result["status"] == "0", result
    assert np.array_equal(depth, fits.getdata(madd), equal_nan=True)
    region = quality._read_region(wf.path("results", "q", "region.hdr"))
    expected = np.zeros((region["naxis2"], region["naxis1"]), dtype=int)
    for row in tables.read_tsv(wf.path("results", "q", "images.tsv")):
        image = projected_image(wf.path("results", "q"), row["id"])
        with fits.open(image) as hdul:
            data, header = hdul[0].data, hdul[0].header
        area = fits.getdata(image.replace(".fits", "_area.fits"))
        dx = round(region["crpix1"] - header["CRPIX1"])
        dy = round(region["crpix2"] - header["CRPIX2"])
        expected[dy : dy + data.shape[0], dx : dx + data.shape[1]] += np.isfinite(data) & (area > 0)
    assert np.array_equal(np.nan_to_num(depth, nan=0.0).astype(int), expected)
    mosaic = fits.getdata(wf.path("results", "q", "mosaic.fits"))
    assert np.array_equal(np.isfinite(mosaic), expected > 0)


def test_depth_png_and_no_leftovers(field):
    wf, (_, paths), _ = field
    width, height = png_size(paths["png"])
    # 0.34 x 0.44 deg at 1"/px (1224 x 1584), every 2nd pixel to fit DEPTH_MAX_SIZE, and the legend underneath
    assert width == 612
    assert 792 < height <= 792 + 60
    assert 1000 < os.path.getsize(paths["png"]) < 20_000_000
    assert not [name for name in os.listdir(wf.path("results", "q")) if name.startswith(".tmp-")]


def test_correction_at_image_centres_is_what_montage_subtracts_and_matches_the_truth(field):
    """The quality page plots each image's correction at its centre: check it against
    mBackground's own output (projected - corrected) and against the synthetic sky's tile levels."""
    import json

    from astropy.io import fits

    wf, (table, _), _ = field
    base = wf.path("results", "q")
    with open(wf.path("results", "q", "synthetic", "truth.json"), encoding="utf-8") as handle:
        truth = {tile["name"]: tile["level"] for tile in json.load(handle)["tiles"]}
    offsets = []
    for row in tables.read_tsv(os.path.join(base, "corrections.tsv")):
        centre = number(table[("correction", row["id"], "centre_level")])
        projected = fits.getdata(projected_image(base, row["id"]))
        corrected = fits.getdata(os.path.join(base, "corrected", f"{row['id']}.fits"))
        ny, nx = projected.shape
        # the plane at the exact centre: the mean of the (up to four) middle pixels
        rows, columns = slice((ny - 1) // 2, ny // 2 + 1), slice((nx - 1) // 2, nx // 2 + 1)
        subtracted = float(np.mean(projected[rows, columns] - corrected[rows, columns]))
        assert centre == pytest.approx(subtracted, abs=1e-3)
        offsets.append(centre - truth[row["id"].rsplit("-", 1)[0]])
    # Matching removes each tile's own level up to one common offset; what is left (fit error
    # over a chain of overlaps with stars and nebulae in them) is small against the tile levels' spread.
    levels = list(truth.values())
    assert max(offsets) - min(offsets) < min(10, 0.1 * (max(levels) - min(levels)))


def test_without_background_matching_after_is_not_applicable(field):
    _, (matched, _), (table, paths) = field
    assert table[("mosaic", "", "background_model")] == "none"
    assert table[("overlap_rms", "", "rms_after_median")] == "n/a"
    assert table[("overlap_rms", "", "rms_after_max")] == "n/a"
    assert table[("overlaps", "", "fitted")] == "n/a"
    assert not [key for key in table if key[0] in ("corrections", "correction")]
    # No overlaps.tbl without matching: the report finds the same overlaps itself,
    # and the projected images (hence the before-RMS) are those of the matched mosaic.
    assert table[("overlaps", "", "total")] == matched[("overlaps", "", "total")]
    assert table[("overlap_rms", "", "rms_before_median")] == matched[("overlap_rms", "", "rms_before_median")]
    assert table[("depth", "", "max")] == matched[("depth", "", "max")]
    png_size(paths["png"])


# ---- on hand-made folders whose answers are exact -----------------------------------

NX, NY = 40, 30  # the mosaic grid
CRPIX = (20.5, 15.5)


def header_lines(naxis1, naxis2, crpix1, crpix2):
    cards = {
        "SIMPLE": "T",
        "BITPIX": "-64",
        "NAXIS": "2",
        "NAXIS1": str(naxis1),
        "NAXIS2": str(naxis2),
        "CTYPE1": "'RA---TAN'",
        "CTYPE2": "'DEC--TAN'",
        "EQUINOX": "2000",
        "CRVAL1": "10.0",
        "CRVAL2": "20.0",
        "CRPIX1": repr(crpix1),
        "CRPIX2": repr(crpix2),
        "CDELT1": "-0.0002777777777777778",
        "CDELT2": "0.0002777777777777778",
        "CROTA2": "0.0",
    }
    return cards


def write_cutout(path, dx, dy, nx, ny, values, area=None):
    """A projected-style image: a (dx, dy, nx, ny) cutout of the grid, values(X, Y) in mosaic pixels."""
    from astropy.io import fits

    header = fits.Header()
    for key, value in header_lines(nx, ny, CRPIX[0] - dx, CRPIX[1] - dy).items():
        if key not in ("SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2"):
            header[key] = value.strip("'") if value.startswith("'") else float(value)
    y, x = np.mgrid[dy : dy + ny, dx : dx + nx]
    fits.writeto(path, values(x, y).astype(float), header, overwrite=True)
    fits.writeto(
        path.replace(".fits", "_area.fits"), np.ones((ny, nx)) if area is None else area, header, overwrite=True
    )


def make_folder(root, images, skipped=()):
    """A mosaic folder: region.hdr, images.tsv, skipped.tsv, projected/ (+tables), mosaic.fits."""
    os.makedirs(os.path.join(root, "projected"))
    with open(os.path.join(root, "region.hdr"), "w", encoding="ascii") as handle:
        for key, value in header_lines(NX, NY, *CRPIX).items():
            handle.write(f"{key:<8}= {value}\n")
        handle.write("END\n")
    for ident, spec in images.items():
        write_cutout(os.path.join(root, "projected", f"{ident}.fits"), *spec)
    tables.write_tsv(os.path.join(root, "images.tsv"), ["id", "path"], [{"id": i, "path": f"/in/{i}"} for i in images])
    tables.write_tsv(os.path.join(root, "skipped.tsv"), ["path", "kind", "reason"], list(skipped))
    per_mosaic.projected_table(
        [{"id": ident, "path": ident} for ident in images],
        os.path.join(root, "projected"),
        os.path.join(root, "projected.tbl"),
        os.path.join(root, "failed_images.tsv"),
    )
    per_mosaic.coadd(
        os.path.join(root, "projected"),
        os.path.join(root, "projected.tbl"),
        os.path.join(root, "region.hdr"),
        os.path.join(root, "mosaic.fits"),
        "mean",
    )


A, B = "alpha-0000000a", "beta-0000000b"
# A covers mosaic columns 0-24, all rows; B columns 15-39, rows 5-24. Values are a
# ramp in mosaic coordinates, so a cutout placed one pixel off changes the difference.
RAMP = lambda x, y: x + 2.0 * y
A_SPEC = (0, 0, 25, 30, lambda x, y: RAMP(x, y) + 5.0)
B_SPEC = (15, 5, 25, 20, lambda x, y: RAMP(x, y) + 2.0)


def test_hand_made_pair_gives_exact_answers(tmp_path):
    root = str(tmp_path / "pair")
    a_area = np.ones((30, 25))
    a_area[10, 20] = 0.0  # mosaic (x=20, y=10): A has data there but no area
    b_values = lambda x, y: np.where((x == 22) & (y == 12), np.nan, RAMP(x, y) + 2.0)
    make_folder(
        root,
        {A: (*A_SPEC[:4], A_SPEC[4], a_area), B: (*B_SPEC[:4], b_values)},
        skipped=[{"path": "/data/bad file.fits", "kind": "bad-input", "reason": "truncated data"}],
    )
    per_mosaic.overlaps(
        os.path.join(root, "projected.tbl"),
        os.path.join(root, "overlaps.tbl"),
        os.path.join(root, "overlaps_skipped.tsv"),
    )
    pairs = per_mosaic.overlap_pairs(os.path.join(root, "overlaps.tbl"))
    assert sorted(pairs[0]) == [A, B]
    plus, minus = pairs[0]
    os.makedirs(os.path.join(root, "fits"))
    tables.write_tsv(
        os.path.join(root, "fits", f"{plus}+{minus}.tsv"),
        ["status", "message"],
        [{"status": "failed", "message": "too few pixels"}],
    )
    # Corrections: A - 5, B - 2.5, so the corrected images differ by 0.5.
    tables.write_tsv(
        os.path.join(root, "corrections.tsv"),
        ["id", "a", "b", "c"],
        [{"id": A, "a": "0", "b": "0", "c": "5"}, {"id": B, "a": "3e-3", "b": "4e-3", "c": "2.5"}],
    )
    os.makedirs(os.path.join(root, "corrected"))
    write_cutout(os.path.join(root, "corrected", f"{A}.fits"), *A_SPEC[:4], RAMP, a_area)
    write_cutout(os.path.join(root, "corrected", f"{B}.fits"), *B_SPEC[:4], lambda x, y: b_values(x, y) - 2.5)

    table, paths = report(root)  # model inferred from corrections.tsv
    assert table[("mosaic", "", "background_model")] == "matched"
    assert table[("images", "", "used")] == "2"
    assert table[("images", "", "skipped")] == "1"
    assert table[("images", "", "skipped_bad-input")] == "1"
    assert table[("skipped", "/data/bad file.fits", "bad-input")] == "truncated data"
    assert table[("overlaps", "", "total")] == "1"
    assert table[("overlaps", "", "fitted")] == "0"
    assert table[("overlaps", "", "failed")] == "1"
    item = f"{plus}+{minus}"
    assert table[("overlap", item, "status")] == "failed"
    assert table[("overlap", item, "message")] == "too few pixels"
    # 10 x 20 common pixels, less the one without area and the one that is NaN.
    assert table[("overlap", item, "pixels")] == "198"
    assert number(table[("overlap", item, "rms_before")]) == pytest.approx(3.0)
    assert number(table[("overlap_rms", "", "rms_before_median")]) == pytest.approx(3.0)
    assert number(table[("overlap_rms", "", "rms_after_max")]) == pytest.approx(0.5)
    assert number(table[("corrections", "", "level_median")]) == pytest.approx(3.75)
    assert number(table[("correction", B, "slope")]) == pytest.approx(5e-3)
    assert table[("corrections", "", "zero")] == "0"
    # Union of A (25 x 30) and B (25 x 20) less their 10 x 20 overlap: 1050 of 1200 pixels.
    assert table[("coverage", "", "covered_pixels")] == "1050"
    assert number(table[("coverage", "", "fraction")]) == pytest.approx(0.875)
    histogram = {int(key[1]): int(value) for key, value in table.items() if key[0] == "depth_histogram"}
    assert histogram == {1: 852, 2: 198}
    assert table[("depth", "", "median")] == "1"
    assert number(table[("depth", "", "fraction_ge_2")]) == pytest.approx(198 / 1050, rel=1e-5)  # written to 6 digits
    # the picture shows the same counts, one colour per depth (not shrunk: 40 x 30 pixels)
    assert depth_png_counts(paths["png"], NX, NY) == {0: 150, 1: 852, 2: 198}


def test_single_image_without_overlaps(tmp_path):
    root = str(tmp_path / "single")
    make_folder(root, {A: A_SPEC})
    # No depth_fits: the depth map lives in a scratch folder that is removed.
    png = os.path.join(root, "depth.png")
    quality.write_quality_report(root, os.path.join(root, "quality.tsv"), png, background_model="none")
    table = quality.read_report(os.path.join(root, "quality.tsv"))
    assert sorted(name for name in os.listdir(root) if "depth" in name or name.startswith(".tmp-")) == ["depth.png"]
    assert table[("overlaps", "", "total")] == "0"
    assert table[("overlaps", "", "with_common_pixels")] == "0"
    for metric in ("rms_before_median", "rms_before_max", "rms_after_median", "rms_after_max"):
        assert table[("overlap_rms", "", metric)] == "n/a"
    assert table[("depth", "", "min")] == table[("depth", "", "max")] == table[("depth", "", "median")] == "1"
    assert table[("depth", "", "fraction_ge_2")] == "0"
    assert number(table[("coverage", "", "fraction")]) == pytest.approx(750 / 1200)
    assert depth_png_counts(png, NX, NY) == {0: 450, 1: 750}


def test_cutout_off_the_mosaic_grid_is_refused(tmp_path):
    root = str(tmp_path / "offgrid")
    make_folder(root, {A: A_SPEC})
    region = quality._read_region(os.path.join(root, "region.hdr"))
    region["crpix1"] += 0.25
    with pytest.raises(quality.QualityError, match="off the mosaic grid"):
        quality._Cutout(os.path.join(root, "projected", f"{A}.fits"), region)


def test_large_depth_map_is_shrunk_for_the_png(tmp_path):
    root = str(tmp_path / "shrink")
    make_folder(root, {A: A_SPEC, B: B_SPEC})
    table, paths = report(root, background_model="none", max_size=16)
    # 40 x 30 pixels, every third kept (ceil(40 / 16) = 3): 14 x 10, then the legend
    from PIL import Image

    from mosaicflow.reports import depthmap

    image = np.asarray(Image.open(paths["png"]).convert("RGB"))
    palette = {depthmap.UNCOVERED, *depthmap.PALETTE}
    assert {tuple(pixel) for pixel in image[:10, :14].reshape(-1, 3)} <= palette
    assert depthmap.colour(2) in {tuple(pixel) for pixel in image[:10, :14].reshape(-1, 3)}
    assert image.shape[0] > 10
    assert table[("depth", "", "max")] == "2"


def test_image_rows_read_plain_scaled_and_truncated_files(tmp_path):
    # Montage's float images are read straight from the file; anything else through
    # astropy; a file cut short is an error naming it, not a silently short array.
    from astropy.io import fits

    data = np.arange(6 * 5, dtype=float).reshape(6, 5)
    data[2, 3] = np.nan
    plain = str(tmp_path / "plain.fits")
    fits.PrimaryHDU(data).writeto(plain)
    rows = quality._ImageRows(plain)
    assert (rows.nx, rows.ny) == (5, 6)
    assert np.array_equal(rows.rows(1, 4), data[1:4], equal_nan=True)
    assert np.array_equal(rows.rows(2, 3, slice(2, 4)), data[2:3, 2:4], equal_nan=True)
    single = str(tmp_path / "single.fits")
    fits.PrimaryHDU(data.astype(np.float32)).writeto(single)
    assert np.array_equal(quality._ImageRows(single).rows(0, 6), data, equal_nan=True)
    scaled = str(tmp_path / "scaled.fits")
    hdu = fits.PrimaryHDU(np.arange(30, dtype=np.int16).reshape(6, 5))
    hdu.header["BZERO"], hdu.header["BSCALE"] = 100.0, 0.5
    hdu.writeto(scaled)
    assert np.array_equal(quality._ImageRows(scaled).rows(4, 6), np.arange(20, 30).reshape(2, 5) * 0.5 + 100)
    truncated = str(tmp_path / "truncated.fits")
    with open(plain, "rb") as source, open(truncated, "wb") as target:
        target.write(source.read()[: 2880 + 8 * 12])
    with pytest.raises(quality.QualityError, match="truncated.fits: truncated data"):
        quality._ImageRows(truncated).rows(0, 6)
    with open(truncated, "wb") as target:
        target.write(b"SIMPLE  =                    T" + b" " * 50)
    with pytest.raises(quality.QualityError, match="no END card"):
        quality._ImageRows(truncated)


def test_verdict_names_collapsed_coverage_seams_and_worse_overlaps():
    from mosaicflow.reports.quality import SEAM_LIMIT, Rows, verdict

    def rows_of(values):
        rows = Rows()
        for (section, metric), value in values.items():
            rows.add(section, metric, value)
        return rows

    fine = {
        ("coverage", "finite_fraction"): 1.0,
        ("seams", "max"): SEAM_LIMIT / 2,
        ("seams", "max_overlap"): "a+b",
        ("overlap_rms", "rms_before_median"): 1.5,
        ("overlap_rms", "rms_after_median"): 0.9,
    }
    assert verdict(rows_of(fine)) == []
    # the real 2-degree field: 2,606 finite pixels of 51,753,636
    (reason,) = verdict(rows_of(fine | {("coverage", "finite_fraction"): 2606 / 51753636}))
    assert reason.startswith("coverage collapsed: 0.005% of the pixels")
    (reason,) = verdict(rows_of(fine | {("seams", "max"): 7.0}))
    assert reason == "a seam of 7 noise units between a and b after matching"
    (reason,) = verdict(rows_of(fine | {("overlap_rms", "rms_after_median"): 2.0}))
    assert reason.startswith("matching made the overlaps worse")
    rows = rows_of(fine | {("seams", "max"): 7.0})
    verdict(rows)
    assert [r["value"] for r in rows.rows if r["section"] == "verdict"][0] == "broken"


def test_the_depth_map_fits_a_screen_whatever_the_mosaic(tmp_path):
    from mosaicflow.montage import per_mosaic
    from mosaicflow.reports.quality import DEPTH_MAX_SIZE

    # a 7194 x 7194 mosaic (the real 2-degree field) is drawn every 8th pixel: 900 x 900 at most
    every = per_mosaic.shrink_factor(7194, 7194, min(2000, DEPTH_MAX_SIZE))
    assert -(-7194 // every) <= DEPTH_MAX_SIZE

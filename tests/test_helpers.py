"""Unit tests of the helpers: tables, ids, validation, geometry, region."""

import gzip
import os
import re

import numpy as np
import pytest
from astropy.io import fits

from mosaicflow import UserError
from mosaicflow.files import atomic, tables
from mosaicflow.montage import per_mosaic
from mosaicflow.sky import region
from mosaicflow.sources import inputs


def header(ra=83.8, dec=-5.4, nx=100, ny=200, projection="TAN", frame=("RA", "DEC")):
    h = fits.Header()
    h["NAXIS"], h["NAXIS1"], h["NAXIS2"] = 2, nx, ny
    h["CTYPE1"] = frame[0] + "-" * (5 - len(frame[0])) + projection
    h["CTYPE2"] = frame[1] + "-" * (5 - len(frame[1])) + projection
    h["CRVAL1"], h["CRVAL2"] = ra, dec
    h["CRPIX1"], h["CRPIX2"] = (nx + 1) / 2, (ny + 1) / 2
    h["CDELT1"], h["CDELT2"] = -1 / 3600, 1 / 3600
    return h


# ---- tables -----------------------------------------------------------------


def test_ipac_round_trip_keeps_values_with_spaces(tmp_path):
    path = str(tmp_path / "t.tbl")
    rows = [{"cntr": 0, "fname": "a b.fits"}, {"cntr": 12, "fname": "c.fits"}]
    tables.write_ipac(path, ["cntr", "fname"], rows, types={"cntr": "int", "fname": "char"})
    assert tables.read_ipac(path) == [{"cntr": "0", "fname": "a b.fits"}, {"cntr": "12", "fname": "c.fits"}]


def test_tsv_cells_cannot_break_rows(tmp_path):
    path = str(tmp_path / "t.tsv")
    tables.write_tsv(path, ["path", "reason"], [{"path": "a\tb\nc.fits", "reason": "x"}])
    assert tables.read_tsv(path) == [{"path": "a b c.fits", "reason": "x"}]


def test_fit_rows_use_mdifffitexec_format():
    fit = dict(
        a=1.5e-3,
        b=-2e-4,
        c=3.25,
        crpix1=38.0,
        crpix2=131.0,
        xmin=-38,
        xmax=37,
        ymin=-131,
        ymax=123,
        xcenter=-0.07,
        ycenter=-3.59,
        npixel=15296,
        rms=1.38,
        boxx=-0.5,
        boxy=-3.5,
        boxwidth=255.0,
        boxheight=75.0,
        boxang=90.0,
    )
    row = tables.format_fit_row(0, 1, fit)
    assert row.split()[:5] == ["0", "1", "1.50000e-03", "-2.00000e-04", "3.25000e+00"]
    assert len(tables.FITS_HEADER.split("|")) - 2 == len(tables.FITS_COLUMNS)


def test_overlap_pairs_and_projected_table_ids(tmp_path):
    path = str(tmp_path / "diffs.tbl")
    rows = [{"cntr1": 0, "cntr2": 1, "plus": "a-0000000a.fits", "minus": "b-0000000b.fits", "diff": "d.fits"}]
    tables.write_ipac(path, ["cntr1", "cntr2", "plus", "minus", "diff"], rows)
    assert per_mosaic.overlap_pairs(path) == [("a-0000000a", "b-0000000b")]


# ---- atomic writes ----------------------------------------------------------


def test_failed_write_leaves_no_file(tmp_path):
    final = str(tmp_path / "out" / "x.fits")
    with pytest.raises(RuntimeError):
        with atomic.fits_pair(final) as temp:
            open(temp, "w").write("partial")
            raise RuntimeError("interrupted")
    assert os.listdir(tmp_path / "out") == []


def test_pair_commits_image_and_area(tmp_path):
    final = str(tmp_path / "x.fits")
    with atomic.fits_pair(final) as temp:
        open(temp, "w").write("image")
        open(atomic.area_name(temp), "w").write("area")
    assert sorted(os.listdir(tmp_path)) == ["x.fits", "x_area.fits"]


def test_copy_file_copies_every_byte(tmp_path):
    source = tmp_path / "a b.fits"
    source.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    atomic.copy_file(str(source), str(tmp_path / "copy.fits"))
    assert (tmp_path / "copy.fits").read_bytes() == source.read_bytes()


@pytest.mark.parametrize("method", ["mProjectPP", "mProject", "mProjectQL"])
def test_correction_equals_mbackground_with_its_own_area_copy(tmp_path, method):
    """per_item.background runs mBackground without areas (which keeps pixels whose area is 0
    that mBackground with areas would blank: every projector leaves those NaN) and copies
    the area itself; the files must be exactly Montage's."""
    import MontagePy.main as montage

    from mosaicflow.montage import per_item

    rng = np.random.default_rng(3)
    raw = str(tmp_path / "raw.fits")
    fits.writeto(raw, rng.normal(100, 5, (200, 100)).astype("float32"), header(nx=100, ny=200))
    region_header = str(tmp_path / "region.hdr")
    cards = {"SIMPLE": True, "BITPIX": -64, **header(ra=83.801, dec=-5.399, nx=140, ny=240)}
    with open(region_header, "w") as handle:
        for key, value in cards.items():
            handle.write(f"{key:<8}= {fits.Card(key, value).image[10:].strip()}\n")
        handle.write("END\n")
    projected = str(tmp_path / "projected" / "p.fits")
    per_item.project(raw, 0, region_header, projected, method)
    plane = (0.01, -0.02, 3.5)
    ours = str(tmp_path / "ours" / "c.fits")
    per_item.background(projected, ours, *plane)
    reference = str(tmp_path / "montage_c.fits")
    assert montage.mBackground(projected, reference, *plane)["status"] == "0"
    for mine, montages in ((ours, reference), (atomic.area_name(ours), atomic.area_name(reference))):
        with open(mine, "rb") as a, open(montages, "rb") as b:
            assert a.read() == b.read(), mine
    assert sorted(os.listdir(tmp_path / "ours")) == ["c.fits", "c_area.fits"]


# ---- image ids and candidates -----------------------------------------------


def test_image_ids_are_stable_safe_and_unique():
    a = inputs.image_id("tile 'one' $(x).fits.gz")
    assert a == inputs.image_id("tile 'one' $(x).fits.gz")
    assert all(c.isalnum() or c in "_-" for c in a)
    assert a.startswith("tile_one_x-")
    assert inputs.image_id("sub/a.fits") != inputs.image_id("a.fits")
    assert inputs.image_id("étoile.fits").startswith("toile-") or inputs.image_id("étoile.fits").startswith("_")
    assert not inputs.image_id("x_area.fits").endswith("_area")


def test_folder_scan_sorts_fits_names_from_other_files_and_leaves_hidden_ones_out(tmp_path):
    for name in ("b.fits", "a.FITS.gz", "c.fz", ".hidden.fits", "notes.txt", "region.hdr"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.fit").write_bytes(b"")
    fits_named, others = inputs.scan_folder(str(tmp_path), False)
    assert [rel for _, rel in fits_named] == ["a.FITS.gz", "b.fits", "c.fz"]
    assert [rel for _, rel in others] == ["notes.txt", "region.hdr"]
    assert "sub/d.fit" in [rel for _, rel in inputs.scan_folder(str(tmp_path), recursive=True)[0]]


def test_missing_source_folder_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        inputs.scan_folder(str(tmp_path / "nope"), False)


# ---- validation -------------------------------------------------------------


@pytest.fixture
def good_data():
    return np.random.default_rng(1).normal(10, 1, (200, 100)).astype(np.float32)


def test_inspect_finds_first_celestial_image_hdu(tmp_path, good_data):
    path = str(tmp_path / "mef.fits")
    spectral = fits.ImageHDU(good_data, fits.Header({"CTYPE1": "WAVE", "CTYPE2": "LINEAR"}))
    fits.HDUList([fits.PrimaryHDU(), spectral, fits.ImageHDU(good_data, header())]).writeto(path)
    index, found = inputs.inspect_image(path)
    assert index == 2 and found["CTYPE1"] == "RA---TAN"


def test_inspect_reads_gzip_named_fits(tmp_path, good_data):
    plain = str(tmp_path / "p.fits")
    fits.PrimaryHDU(good_data, header()).writeto(plain)
    with open(plain, "rb") as src, gzip.open(str(tmp_path / "g.fits"), "wb") as dst:
        dst.write(src.read())
    assert inputs.inspect_image(str(tmp_path / "g.fits"))[0] == 0


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda p, d: open(p, "wb").close(), "empty file"),
        (lambda p, d: open(p, "w").write("hello" * 1000), "not a FITS file (starts with 'hellohell', not 'SIMPLE  =')"),
        (lambda p, d: fits.PrimaryHDU(d).writeto(p), "no celestial WCS"),
        (lambda p, d: fits.PrimaryHDU(np.full_like(d, np.nan), header()).writeto(p), "NaN"),
        (lambda p, d: fits.PrimaryHDU(np.zeros(10, np.float32)).writeto(p), "no image HDU"),
        (lambda p, d: open(p, "wb").write(b"\x1f\x8b" + b"not gzip" * 100), "not a FITS file (no valid SIMPLE card"),
    ],
)
def test_inspect_rejects_bad_files_with_reasons(tmp_path, good_data, make, reason):
    path = str(tmp_path / "bad.fits")
    make(path, good_data)
    with pytest.raises(inputs.BadImage, match=re.escape(reason)):
        inputs.inspect_image(path)


def test_inspect_rejects_truncated_data(tmp_path, good_data):
    path = str(tmp_path / "t.fits")
    fits.PrimaryHDU(good_data, header()).writeto(path)
    blob = open(path, "rb").read()
    open(path, "wb").write(blob[: 2880 * 2 + 1000])
    with pytest.raises(inputs.BadImage, match="truncated|unreadable"):
        inputs.inspect_image(path)


def test_images_read_in_parallel_give_the_serial_results(tmp_path, good_data):
    """inspect_images with two processes: same headers, fingerprints and
    reasons (for bad, unreadable and vanished files) as one process."""
    paths = []
    for i in range(20):
        path = str(tmp_path / f"tile {i}.fits")
        fits.PrimaryHDU(good_data + i, header(ra=83.8 + 0.01 * i)).writeto(path)
        paths.append(path)
    open(paths[3], "w").write("hello" * 1000)
    fits.PrimaryHDU(np.full_like(good_data, np.nan), header()).writeto(paths[7], overwrite=True)
    os.remove(paths[11])
    with_inf = good_data.copy()
    with_inf[5, 5] = np.inf
    fits.PrimaryHDU(with_inf, header()).writeto(paths[15], overwrite=True)

    def comparable(result):
        if isinstance(result, Exception):
            return type(result).__name__, str(result)
        hdu, found, fingerprint, has_infinities, content, scale = result
        return hdu, found["CRVAL1"], fingerprint, has_infinities, content, scale

    serial = inputs.inspect_images(paths, workers=1)
    parallel = inputs.inspect_images(paths, workers=2)
    assert list(parallel) == paths
    assert {p: comparable(r) for p, r in parallel.items()} == {p: comparable(r) for p, r in serial.items()}
    assert isinstance(parallel[paths[3]], inputs.BadImage)
    assert "NaN" in str(parallel[paths[7]])
    assert isinstance(parallel[paths[11]], OSError)
    assert parallel[paths[15]][3] is True and parallel[paths[0]][3] is False
    assert len({parallel[p][2] for p in paths if p not in (paths[3], paths[7], paths[11])}) == 17
    # the scale comes from the WCS the check made: what a WCS of the header alone gives
    assert parallel[paths[0]][5] == inputs._pixel_scale(parallel[paths[0]][1]) > 0

    # the cached inspection gives the same results, and re-reads only changed files
    cache = str(tmp_path / "cache.json")
    assert {p: comparable(r) for p, r in inputs.inspect_images_cached(paths, cache, 2).items()} == {
        p: comparable(r) for p, r in serial.items()
    }
    fits.PrimaryHDU(good_data - 1, header(ra=83.8)).writeto(paths[0], overwrite=True)  # same size, new pixels
    with open(paths[1], "r+b") as handle:  # truncated in place, mtime put back: ctime still tells
        before = os.stat(paths[1])
        handle.truncate(2880 + 100)
    os.utime(paths[1], ns=(before.st_atime_ns, before.st_mtime_ns))
    again = inputs.inspect_images_cached(paths, cache, 1)
    assert again[paths[0]][2] != serial[paths[0]][2] and again[paths[0]][4] != serial[paths[0]][4]
    assert isinstance(again[paths[1]], inputs.BadImage)
    assert {p: comparable(again[p]) for p in paths[2:]} == {p: comparable(serial[p]) for p in paths[2:]}
    import json

    with open(cache) as handle:  # a cache written before the scale was kept: computed again
        entries = json.load(handle)
    with open(cache, "w") as handle:
        json.dump({path: {k: v for k, v in entry.items() if k != "scale"} for path, entry in entries.items()}, handle)
    assert {p: comparable(r) for p, r in inputs.inspect_images_cached(paths, cache, 1).items()} == {
        p: comparable(again[p]) for p in paths
    }
    open(cache, "w").write("{not json")  # a damaged cache is ignored, then rewritten
    assert comparable(inputs.inspect_images_cached(paths, cache, 1)[paths[0]]) == comparable(again[paths[0]])


# ---- geometry and projector choice ------------------------------------------


def test_image_table_reads_headers_while_pixels_are_checked(tmp_path, good_data, monkeypatch):
    """The raw table made from Montage's table of every candidate (read while the
    pixels are checked) is byte for byte mImgtbl of the images used; the links
    of files not used are gone and nothing temporary is left. With an image whose
    infinities are blanked into a copy, the table is read again from the links
    (the raw file is never written)."""
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    for i in range(6):
        fits.PrimaryHDU(good_data + i, header(ra=83.8 + 0.01 * i)).writeto(folder / f"tile{i}.fits")
    in_extension = fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(good_data + 9, header(ra=83.9))])
    in_extension.writeto(folder / "mef.fits")
    (folder / "page.fits").write_text("<html>503</html>" * 100)
    (folder / "empty.fits").write_bytes(b"")
    fits.PrimaryHDU(good_data, header()).writeto(folder / "tile0_area.fits")
    # a duplicate named to come first: the original then drops out of the middle of the table
    (folder / "acopy.fits").write_bytes((folder / "tile0.fits").read_bytes())
    os.mkfifo(folder / "pipe.fits")  # would block a reader: neither linked nor opened

    def build(out_dir):
        return inputs.build_image_table(
            str(folder), str(out_dir), region_header_path=None, method="auto", recursive=False, auto_frame="equatorial"
        )

    def montage_of_used(out_dir, used):
        expected = str(tmp_path / "expected.tbl")
        names = [os.path.basename(row["link"]) for row in used]
        per_mosaic.image_table(str(out_dir / "inputs"), names, expected, showCorners=True, haveCubes=False)
        wanted = {(os.path.basename(r["link"]), int(r["hdu"])) for r in used}
        tables.filter_ipac(expected, expected, lambda row: (row["fname"], int(row["hdu"])) in wanted)
        return open(expected).read()

    with monkeypatch.context() as patched:  # no second reading of the headers when nothing was blanked
        patched.setattr(per_mosaic, "image_table", lambda *a, **k: pytest.fail("headers read twice"))
        used, skipped = build(out)
    assert sorted(row["hdu"] for row in used) == [0] * 6 + [1]
    assert {os.path.basename(row["path"]) for row in skipped} >= {"page.fits", "empty.fits", "tile0.fits", "pipe.fits"}
    assert sorted(os.listdir(out / "inputs")) == sorted(os.path.basename(row["link"]) for row in used)
    assert open(out / "raw.tbl").read() == montage_of_used(out, used)
    assert not [name for name in os.listdir(out) if name.startswith(".")]

    with_inf = good_data.copy()
    with_inf[5, 5] = np.inf
    fits.PrimaryHDU(with_inf, header(ra=83.95)).writeto(folder / "inf.fits")
    os.chmod(folder / "inf.fits", 0o444)
    raw_bytes = (folder / "inf.fits").read_bytes()
    used, _ = build(out)
    blanked = next(row for row in used if row["path"].endswith("inf.fits"))
    assert not os.path.islink(blanked["link"]) and (folder / "inf.fits").read_bytes() == raw_bytes
    assert open(out / "raw.tbl").read() == montage_of_used(out, used)
    assert not [name for name in os.listdir(out) if name.startswith(".")]


def test_overlap_area_inside_outside_and_partial():
    reg = header(nx=1000, ny=1000)
    assert inputs.overlap_area(header(), reg) == pytest.approx(100 * 200, rel=1e-3)
    far = header(ra=84.5)
    assert inputs.overlap_area(far, reg) == 0.0
    # shifted by half its width past the region's east edge (RA increases to the left)
    edge = header(ra=83.8 + (500 / 3600) / np.cos(np.radians(5.4)))
    assert inputs.overlap_area(edge, reg) == pytest.approx(50 * 200, rel=0.05)


def test_overlap_area_across_frames():
    galactic_region = header(ra=209.01, dec=-19.38, nx=2000, ny=2000, frame=("GLON", "GLAT"))
    assert inputs.overlap_area(header(), galactic_region) > 0


def test_projection_method_follows_mprojexec():
    tan, sin, car = header(), header(projection="SIN"), header(projection="CAR")
    galactic = header(frame=("GLON", "GLAT"))
    assert inputs.projection_method("auto", sin, tan) == "mProjectPP"
    assert inputs.projection_method("auto", car, tan) == "mProjectPP-tan"
    assert inputs.projection_method("auto", tan, galactic) == "mProjectPP-rotated"
    assert inputs.projection_method("mProjectQL", tan, galactic) == "mProjectQL"


# ---- region -----------------------------------------------------------------


def test_box_header_has_the_requested_geometry(tmp_path):
    out = str(tmp_path / "r.hdr")
    cfg = {"center": "83.82, -5.39", "width": 0.5, "height": 0.25, "pixel_scale": 2.0, "frame": "galactic"}
    cfg.update(projection="TAN", rotation=0.0)
    region.write_region_header(cfg, out, max_pixels=400_000_000)
    h = region.read_header_template(out)
    assert (h["NAXIS1"], h["NAXIS2"]) == (900, 450)
    assert h["CTYPE1"] == "GLON-TAN" and h["CDELT2"] == pytest.approx(2 / 3600)
    assert h["CRPIX1"] == 450.5


def test_absurd_region_is_refused_with_its_size(tmp_path):
    cfg = {"center": "10 10", "width": 100.0, "height": 100.0, "pixel_scale": 0.1}
    with pytest.raises(UserError, match=r"3600000 x 3600000 = 12,960,000,000,000 pixels"):
        region.write_region_header(cfg, str(tmp_path / "r.hdr"), max_pixels=400_000_000)
    assert not os.path.exists(tmp_path / "r.hdr")


@pytest.mark.parametrize("text", ["83.8", "a b", "10 95"])
def test_bad_centres_are_user_errors(text):
    with pytest.raises(UserError):
        region.parse_center(text)


def test_header_template_without_wcs_is_a_user_error(tmp_path):
    path = tmp_path / "bad.hdr"
    path.write_text("SIMPLE  = T\nNAXIS   = 2\nEND\n")
    with pytest.raises(UserError, match="lacks the keyword NAXIS1"):
        region.read_header_template(str(path))


def test_disk_estimate_counts_projected_corrected_and_mosaic():
    images = [{"naxis1": 100, "naxis2": 200, "scale": 1 / 3600}, {"naxis1": 100, "naxis2": 200, "scale": 2 / 3600}]
    region_header = header(nx=1000, ny=1000)  # 1"/px
    projected = 100 * 200 * 16 * (1 + 4)  # data + area as float64; the 2"/px image covers 4x the pixels
    assert inputs.estimate_disk_bytes(images, region_header) == 2 * projected + 1000 * 1000 * 16


def test_warns_when_the_disk_is_too_small(tmp_path, caplog):
    import shutil

    huge = header(nx=300_000, ny=300_000)  # 1.44 TB for the mosaic alone
    before = shutil.disk_usage(tmp_path).free
    need, free = inputs.warn_if_disk_short([{"naxis1": 512, "naxis2": 1024, "scale": 1 / 3600}], huge, str(tmp_path))
    after = shutil.disk_usage(tmp_path).free
    # the free space of that disk, read between the two (other tests write to it meanwhile)
    assert need > free and min(before, after) <= free <= max(before, after)
    assert "needs about 1440.0 GB" in caplog.text and "keep_intermediates" in caplog.text


def test_scratch_goes_to_local_scratch_and_killed_jobs_scratch_is_found(tmp_path, monkeypatch):
    from mosaicflow.files import atomic

    local = tmp_path / "local"
    local.mkdir()
    monkeypatch.setenv("TMPDIR", str(local))
    monkeypatch.delenv("_CONDOR_SCRATCH_DIR", raising=False)
    with atomic.scratch_dir(str(tmp_path / "shared" / "out.fits")) as scratch:
        assert os.path.dirname(scratch) == str(local)
        open(os.path.join(scratch, "diff.fits"), "w").write("x")
    assert os.listdir(local) == []
    monkeypatch.setenv("_CONDOR_SCRATCH_DIR", str(tmp_path))
    assert atomic.scratch_root("x/out.fits") == str(tmp_path)
    # a folder that NFS keeps because a file in it is still open elsewhere
    kept = local / ".tmp-scratch-x"
    kept.mkdir()
    (kept / ".nfs000123").write_text("")
    atomic.remove_scratch(str(kept))  # no error: NFS clears it later
    # a killed job's scratch (its process is gone) is stale; a live one's is not
    host = os.uname().nodename
    dead = local / f".tmp-scratch-{host}.999999999.0"
    alive = local / f".tmp-scratch-{host}.{os.getpid()}.0"
    dead.mkdir()
    alive.mkdir()
    assert atomic.stale_scratch(str(local)) == [str(dead)]


def test_job_command_formats_as_quoted_words_and_is_not_a_tracked_type():
    from mosaicflow.jobs.command import JobCommand

    command = JobCommand("/opt/my env/bin/python", "/work/scripts/montage_job.py")
    assert f"{command} project" == "'/opt/my env/bin/python' /work/scripts/montage_job.py project"
    # Snakemake tracks params of built-in types only (str included): this one is left out
    assert not isinstance(command, (str, bytes, list, tuple, dict))


def test_rendering_only_the_stars_near_a_tile_gives_the_same_pixels(monkeypatch):
    """The RA/Dec box cut before the WCS test drops no star that reaches the tile."""
    import numpy as np

    from mosaicflow.sky import synth

    truth = synth.make_truth(
        {"columns": 12, "rows": 10, "stars": 3000, "tile_width": 96, "tile_height": 64, "overlap": 0.1, "seed": 3}
    )
    tiles = truth["tiles"][::17]
    cut = [synth.render_tile(tile, truth)[1] for tile in tiles]
    kept = [len(synth._stars_near(truth["stars"], *_tile_sky(tile, truth), 0.01)[0]) for tile in tiles]
    assert max(kept) < len(truth["stars"]["ra"]) / 10  # the cut does cut
    monkeypatch.setattr(synth, "_stars_near", lambda stars, ra, dec, margin: (stars["ra"], stars["dec"], stars["flux"]))
    for tile, pixels in zip(tiles, cut, strict=True):
        assert np.array_equal(synth.render_tile(tile, truth)[1], pixels)


def _tile_sky(tile, truth):
    import numpy as np
    from astropy.wcs import WCS

    from mosaicflow.sky import synth

    settings = truth["settings"]
    wcs = WCS(synth.tile_header(tile, settings))
    y, x = np.mgrid[0 : settings["tile_height"], 0 : settings["tile_width"]]
    return wcs.all_pix2world(x.ravel(), y.ravel(), 0)


def _small_tiles(folder, count):
    from mosaicflow.sky import synth

    truth = synth.make_truth({"columns": count, "rows": 1, "stars": 50, "tile_width": 40, "tile_height": 30})
    names = []
    for tile in truth["tiles"]:
        header, data = synth.render_tile(tile, truth)
        fits.PrimaryHDU(data, header).writeto(folder / f"{tile['name']}.fits")
        names.append(f"{tile['name']}.fits")
    return names


@pytest.mark.parametrize("options", [{}, {"showCorners": True, "haveCubes": False}])
def test_image_table_in_parts_writes_the_bytes_of_one_mimgtbl(tmp_path, options):
    names = _small_tiles(tmp_path, 7)[::-1]  # the list's order, not the folder's
    per_mosaic.image_table(str(tmp_path), names, str(tmp_path / "one.tbl"), **options)
    per_mosaic.image_table(str(tmp_path), names, str(tmp_path / "three.tbl"), 3, min_per_process=2, **options)
    one = (tmp_path / "one.tbl").read_bytes()
    assert (tmp_path / "three.tbl").read_bytes() == one
    assert [row["cntr"] for row in tables.read_ipac(str(tmp_path / "three.tbl"))] == [str(n) for n in range(7)]
    assert [row["fname"] for row in tables.read_ipac(str(tmp_path / "one.tbl"))] == names
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*names, "one.tbl", "three.tbl"])  # no temp left


@pytest.mark.parametrize("processes", [1, 2])
def test_image_table_names_the_files_mimgtbl_could_not_read(tmp_path, processes):
    from mosaicflow.montage.per_item import StepError

    names = _small_tiles(tmp_path, 4)
    (tmp_path / "broken.fits").write_text("<html>not found</html>")
    with pytest.raises(StepError, match="broken.fits"):
        per_mosaic.image_table(
            str(tmp_path), [*names, "broken.fits"], str(tmp_path / "t.tbl"), processes, min_per_process=2
        )


def test_image_table_in_parts_takes_more_names_than_a_command_line_holds(tmp_path):
    """A part's names go to its process in a list file (Linux refuses an argument over 128 KiB)."""
    (tile,) = _small_tiles(tmp_path, 1)
    names = [f"{n:04d}{'x' * 240}.fits" for n in range(1200)]  # ~150 KB of names per part
    for name in names:
        os.symlink(tmp_path / tile, tmp_path / name)
    per_mosaic.image_table(str(tmp_path), names, str(tmp_path / "t.tbl"), 2)
    assert [row["fname"] for row in tables.read_ipac(str(tmp_path / "t.tbl"))] == names


def test_a_call_in_a_fresh_interpreter_returns_its_result_or_raises_its_step_error(tmp_path, monkeypatch):
    from mosaicflow.montage.per_item import StepError
    from mosaicflow.montage.subprocess_call import Call

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    near = str(tmp_path / "out.tbl")
    result = Call(
        "mosaicflow.montage.per_item", "check_status", {"status": "0", "count": 3}, "mImgtbl", near=near
    ).result()
    assert result == {"status": "0", "count": 3}
    with pytest.raises(StepError, match="^mAdd: no pixels$"):
        Call(
            "mosaicflow.montage.per_item", "check_status", {"status": "1", "msg": "no pixels"}, "mAdd", near=near
        ).result()
    with pytest.raises(StepError, match="AttributeError"):
        Call("mosaicflow.montage.per_item", "no_such_function", near=near).result()
    assert os.listdir(tmp_path) == []  # the scratch folders are gone


# ---- process-level helpers ----------------------------------------------------


def test_schema_loader_reads_what_pyyaml_reads():
    import yaml

    from mosaicflow.config import fields, validation

    config_schema = os.path.join(os.path.dirname(fields.FIELDS_SCHEMA), "schema.yaml")
    for path in (config_schema, fields.FIELDS_SCHEMA):
        with open(path, encoding="utf-8") as handle:
            assert validation.load_schema(path) == yaml.safe_load(handle)


SCRIPT_JOB = """
import gc, sys, types
from mosaicflow import UserError
from mosaicflow.jobs import snakejob

def work(snakemake):
    if snakemake.params == "fail":
        raise UserError("the table names no images")

job = types.SimpleNamespace(log=[{log!r}], params={outcome!r})
try:
    snakejob.run(job, work)
finally:
    print("frozen", gc.get_freeze_count(), file=sys.stderr)
"""


@pytest.mark.parametrize("outcome", ["succeed", "fail"])
def test_script_job_freezes_its_objects_only_when_done(tmp_path, outcome):
    """A finished script job takes its imports out of the collector's view
    (its exit need not walk them); a failed one exits 1 with a one-line message."""
    import subprocess
    import sys

    log = str(tmp_path / "job.log")
    code = SCRIPT_JOB.format(log=log, outcome=outcome)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    frozen = int(re.search(r"frozen (\d+)", done.stderr).group(1))
    if outcome == "succeed":
        assert done.returncode == 0, done.stderr
        assert frozen > 1000
        with open(log, encoding="utf-8") as handle:
            assert handle.read().splitlines()[-1].startswith("job usage: cpu_s=")  # for the accounting
    else:
        assert done.returncode == 1
        assert frozen == 0
        with open(log, encoding="utf-8") as handle:
            assert handle.read() == "error: the table names no images\n"

"""Bad input, tried systematically: every kind of broken or awkward file in one
folder, through the real workflow. Each bad file gets a named, readable reason
in skipped.tsv; the good ones make the mosaic; no shell command is injected."""

import gzip
import os
import shutil

import numpy as np
import pytest
from astropy.io import fits

from conftest import small_region
from mosaicflow.files import tables
from mosaicflow.sky import synth


def good_tiles():
    truth = synth.make_truth({"columns": 3, "rows": 2, "seed": 31, "stars": 300, "nebulae": 2})
    return [synth.render_tile(tile, truth) for tile in truth["tiles"]]


def write(path, data, header):
    fits.PrimaryHDU(data, header).writeto(path)


def edit_card(path, key, value):
    """Change one header card in place, keeping the file's layout (as a broken writer would)."""
    blob = bytearray(open(path, "rb").read())
    at = blob.index(key.ljust(8).encode() + b"=")
    blob[at : at + 80] = f"{key:<8}= {value:>20}".ljust(80).encode()
    open(path, "wb").write(bytes(blob))


def truncated(p, d, h):
    write(p, d, h)
    with open(p, "r+b") as handle:
        handle.truncate(2880 * 3 + 5000)


def wrong_naxis(p, d, h):
    write(p, d, h)
    edit_card(p, "NAXIS2", 2048)


def text_file(text):
    return lambda p, d, h: open(p, "w").write(text * 200)


def without_ctype(p, d, h):
    header = h.copy()
    for key in ("CTYPE1", "CTYPE2"):
        del header[key]
    write(p, d, header)


# (file name, how to make it from a good tile (path, data, header), expected kind, reason contains)
CASES = [
    ("truncated.fits", truncated, "bad-input", "truncated"),
    ("wrong-naxis.fits", wrong_naxis, "bad-input", "truncated"),
    ("no-ctype.fits", without_ctype, "bad-input", "celestial WCS"),
    (
        "bad-projection.fits",
        lambda p, d, h: write(p, d, _with(h, CTYPE1="RA---XYZ", CTYPE2="DEC--XYZ")),
        "bad-input",
        "WCS",
    ),
    ("zero-scale.fits", lambda p, d, h: write(p, d, _with(h, CDELT1=0.0, CDELT2=0.0)), "bad-input", "CDELT1 is zero"),
    ("all-nan.fits", lambda p, d, h: write(p, np.full_like(d, np.nan), h), "bad-input", "NaN"),
    ("empty.fits", lambda p, d, h: open(p, "wb").close(), "bad-input", "empty file"),
    ("notes.fits", text_file("these are my notes\n"), "bad-input", "not a FITS file (starts with 'these are'"),
    ("fake.fits.gz", text_file("plain text, not gzip\n"), "bad-input", "not a FITS file (starts with 'plain tex'"),
    (
        "html.fits",
        text_file("<!DOCTYPE html><html>503</html>\n"),
        "bad-input",
        "not a FITS file (starts with '<!DOCTYPE'",
    ),
]


def _with(header, **cards):
    header = header.copy()
    for key, value in cards.items():
        header[key] = value
    return header


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from conftest import Workflow

    wf = Workflow(tmp_path_factory.mktemp("bad"))
    folder = wf.path("in put")
    os.makedirs(folder)
    tiles = good_tiles()
    # good images under awkward names and formats
    names = ["plain.fits", "with space.fits", 'quote\'s "double".fits', "$(touch PWNED).fits", "ÅngströmΩ.fits"]
    for (header, data), name in zip(tiles[:5], names, strict=True):
        write(os.path.join(folder, name), data, header)
    header, data = tiles[5]
    blocked = data.copy()
    blocked[100:300, 100:300] = np.nan
    blocked[500:600, 200:300] = np.inf
    write(os.path.join(folder, "blocks.fits"), blocked, header)
    shutil.copy(os.path.join(folder, "plain.fits"), os.path.join(folder, "zz plain copy.fits"))
    with (
        open(os.path.join(folder, "with space.fits"), "rb") as src,
        gzip.open(os.path.join(folder, "z.fits"), "wb") as dst,
    ):
        dst.write(src.read())  # the same image again, compressed, under another name
    for name, make, _, _ in CASES:
        make(os.path.join(folder, name), data, header)
    config = {"mosaics": {"bad": {"source": {"type": "local", "path": "in put"}, "region": small_region()}}}
    result = wf.run(config=config)
    wf.output = result.stdout + result.stderr
    wf.folder = folder
    return wf


def skipped(run):
    return {os.path.basename(r["path"]): r for r in tables.read_tsv(run.path("results", "bad", "skipped.tsv"))}


@pytest.mark.parametrize("name, kind, reason", [(c[0], c[2], c[3]) for c in CASES])
def test_each_bad_file_is_skipped_with_its_reason(run, name, kind, reason):
    row = skipped(run)[name]
    assert row["kind"] == kind and reason in row["reason"], row


def test_duplicates_are_used_once(run):
    rows = skipped(run)
    duplicates = {name: row["reason"] for name, row in rows.items() if row["kind"] == "duplicate"}
    assert set(duplicates) == {"zz plain copy.fits", "z.fits"}
    assert "plain.fits" in duplicates["zz plain copy.fits"] and "with space.fits" in duplicates["z.fits"]


def test_good_images_make_the_mosaic_and_infinities_are_blanked(run):
    used = {os.path.basename(r["path"]) for r in tables.read_tsv(run.path("results", "bad", "images.tsv"))}
    assert used == {
        "plain.fits",
        "with space.fits",
        'quote\'s "double".fits',
        "$(touch PWNED).fits",
        "ÅngströmΩ.fits",
        "blocks.fits",
    }
    mosaic = fits.getdata(run.path("results", "bad", "mosaic.fits"))
    assert not np.isinf(mosaic).any()
    # the blanked blocks (200 x 200 NaN, 100 x 100 inf) are holes where no other tile covers them
    assert 0.95 < np.isfinite(mosaic).mean() < 1.0


def test_no_injection_no_traceback_raw_untouched(run):
    assert not os.path.exists(run.path("PWNED")) and not os.path.exists(os.path.join(run.folder, "PWNED"))
    assert "Traceback" not in run.output
    for name in os.listdir(run.path("logs", "bad")):
        path = run.path("logs", "bad", name)
        if os.path.isfile(path):
            assert "Traceback" not in open(path, encoding="utf-8", errors="replace").read()
    with fits.open(os.path.join(run.folder, "blocks.fits")) as hdul:
        assert np.isinf(hdul[0].data).any()  # the raw file still has its infinities


def test_absurd_region_is_refused_before_any_work(workflow):
    region = {"center": "10 10", "width": 50.0, "height": 50.0, "pixel_scale": 0.2}
    config = {"mosaics": {"huge": {"source": {"type": "synthetic"}, "region": region}}}
    result = workflow.run("--cores", "1", config=config, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "900000 x 900000 = 810,000,000,000 pixels" in output
    assert not os.path.exists(workflow.path("results"))


def test_bad_files_come_first_and_apart_from_the_files_outside_the_region(run):
    # The terminal names the bad files and counts the rest; skipped.tsv and the log list all.
    summary = {r["name"]: r for r in tables.read_tsv(run.path("results", "summary.tsv"))}
    skipped = tables.read_tsv(run.path("results", "bad", "skipped.tsv"))
    bad = [r for r in skipped if r["kind"] in ("bad-input", "duplicate")]
    assert bad and summary["bad"]["bad_files"] == str(len(bad))
    assert int(summary["bad"]["images_skipped"]) == len(skipped)
    output = run.output
    first = output.index("bad file ")
    for row in bad:
        assert f"bad file {row['path']}: " in output
    for row in skipped:
        if row["kind"] not in ("bad-input", "duplicate"):
            assert row["path"] not in output[first:]  # counted on the terminal, listed in the log
    with open(run.path("logs", "bad", "image_table.log"), encoding="utf-8") as handle:
        log = handle.read()
    assert all(row["path"] in log for row in skipped)

"""Awkward real-world inputs through the whole workflow."""

import gzip
import os
import shutil

import numpy as np
from astropy.io import fits

from conftest import small_region
from mosaicflow.files import tables
from mosaicflow.sky import synth

ODD_NAMES = [
    "tile with spaces.fits",
    "tile 'quoted' \"name\".fits",
    "tile_$(touch PWNED).fits",
    "étoile_ñ.fits",
]


def make_odd_folder(folder):
    """Six good tiles under awkward names and formats, plus bad files."""
    truth = synth.make_truth({"columns": 3, "rows": 2, "seed": 11, "stars": 600, "nebulae": 4})
    os.makedirs(folder)
    tiles = [synth.render_tile(tile, truth) for tile in truth["tiles"]]
    (h0, d0), (h1, d1), (h2, d2), (h3, d3), (h4, d4), (h5, d5) = tiles
    fits.PrimaryHDU(d0, h0).writeto(os.path.join(folder, ODD_NAMES[0]))
    fits.PrimaryHDU(d1, h1).writeto(os.path.join(folder, ODD_NAMES[1]))
    fits.PrimaryHDU(d2, h2).writeto(os.path.join(folder, ODD_NAMES[2]))
    # gzip data under a plain .fits name (as some archives deliver it), non-ASCII name
    buffer = os.path.join(folder, "plain.tmp")
    fits.PrimaryHDU(d3, h3).writeto(buffer)
    with open(buffer, "rb") as src, gzip.open(os.path.join(folder, ODD_NAMES[3]), "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.remove(buffer)
    # tile-compressed .fz
    fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(d4, h4)]).writeto(os.path.join(folder, "tile4.fits.fz"))
    # multi-extension: empty primary, a table, then the image
    table = fits.BinTableHDU.from_columns([fits.Column(name="x", format="E", array=np.zeros(3))])
    fits.HDUList([fits.PrimaryHDU(), table, fits.ImageHDU(d5, h5)]).writeto(os.path.join(folder, "mef.fits.gz"))
    # bad files
    open(os.path.join(folder, "empty.fits"), "wb").close()
    with open(os.path.join(folder, "notfits.fits"), "w") as handle:
        handle.write("SIMPLE? no, this is a text file\n" * 100)
    good = os.path.join(folder, ODD_NAMES[0])
    with open(good, "rb") as handle:
        blob = handle.read()
    with open(os.path.join(folder, "truncated.fits"), "wb") as handle:
        handle.write(blob[: len(blob) // 2])
    nowcs = fits.Header({k: h0[k] for k in ("NAXIS1", "NAXIS2")})
    fits.PrimaryHDU(d0, nowcs).writeto(os.path.join(folder, "nowcs.fits"))
    fits.PrimaryHDU(np.full_like(d0, np.nan), h0).writeto(os.path.join(folder, "allnan.fits"))
    # not FITS-named: listed as not used, never read
    with open(os.path.join(folder, "region.hdr"), "w") as handle:
        handle.write("SIMPLE  = T\nEND\n")
    with open(os.path.join(folder, "README"), "w") as handle:
        handle.write("observing notes\n")
    return truth


def test_odd_names_formats_and_bad_files(workflow):
    source = workflow.path("raw images")
    make_odd_folder(source)
    for name in os.listdir(source):
        os.chmod(os.path.join(source, name), 0o444)
    before = {n: os.path.getmtime(os.path.join(source, n)) for n in os.listdir(source)}
    config = {"mosaics": {"odd": {"source": {"type": "local", "path": "raw images"}, "region": small_region()}}}
    workflow.run(config=config)

    used = tables.read_tsv(workflow.path("results", "odd", "images.tsv"))
    assert len(used) == 6
    assert {os.path.basename(r["path"]) for r in used} >= set(ODD_NAMES)
    hdus = {os.path.basename(r["path"]): r["hdu"] for r in used}
    assert hdus["tile4.fits.fz"] == "1" and hdus["mef.fits.gz"] == "2"

    skipped = {
        os.path.basename(r["path"]): r["reason"]
        for r in tables.read_tsv(workflow.path("results", "odd", "skipped.tsv"))
    }
    names = {"empty.fits", "notfits.fits", "truncated.fits", "nowcs.fits", "allnan.fits", "region.hdr", "README"}
    assert set(skipped) == names
    assert skipped["region.hdr"] == "not named as a FITS file (.hdr)"
    assert skipped["README"] == "not named as a FITS file (no suffix)"
    assert "empty" in skipped["empty.fits"]
    assert "not a FITS file (starts with" in skipped["notfits.fits"]
    assert "ignore_missing_simple" not in skipped["notfits.fits"]
    assert "truncated" in skipped["truncated.fits"]
    assert "celestial WCS" in skipped["nowcs.fits"]
    assert "NaN" in skipped["allnan.fits"]

    with fits.open(workflow.path("results", "odd", "mosaic.fits")) as hdul:
        assert np.isfinite(hdul[0].data).mean() > 0.99
    # no shell injection, raw inputs untouched
    assert not os.path.exists(workflow.path("PWNED")) and not os.path.exists(os.path.join(source, "PWNED"))
    assert before == {n: os.path.getmtime(os.path.join(source, n)) for n in os.listdir(source)}


def test_no_usable_image_stops_with_a_clear_message(workflow):
    source = workflow.path("junk")
    os.makedirs(source)
    open(os.path.join(source, "a.fits"), "wb").close()
    config = {"mosaics": {"junk": {"source": {"type": "local", "path": "junk"}, "region": small_region()}}}
    result = workflow.run(config=config, check=False)
    assert result.returncode != 0
    log = open(workflow.path("logs", "junk", "image_table.log"), encoding="utf-8").read()
    assert "no usable images" in log and "a.fits" in log and "empty file" in log
    assert "Traceback" not in log

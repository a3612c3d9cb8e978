"""The tiled coadd's geometry and assembly (mosaicflow.montage.tiles)."""

import numpy as np
import pytest
from astropy.io import fits

from mosaicflow.montage import tiles
from mosaicflow.montage.per_item import StepError

REGION = """SIMPLE  = T
BITPIX  = -64
NAXIS   = 2
NAXIS1  = 250
NAXIS2  = 130
CTYPE1  = 'RA---TAN'
CTYPE2  = 'DEC--TAN'
CRVAL1  = 83.82
CRVAL2  = -5.39
CRPIX1  = 125.5
CRPIX2  = 65.5
CDELT1  = -0.0002777777777777778
CDELT2  = 0.0002777777777777778
END
"""


@pytest.fixture
def region(tmp_path):
    path = tmp_path / "region.hdr"
    path.write_text(REGION)
    return str(path)


def test_the_grid_covers_every_pixel_once():
    covered = np.zeros((130, 250), int)
    for name, x0, y0, width, height in tiles.grid(250, 130, 100):
        assert tiles.tile(250, 130, 100, name) == (x0, y0, width, height)
        covered[y0 : y0 + height, x0 : x0 + width] += 1
    assert (covered == 1).all()
    assert [t[0] for t in tiles.grid(250, 130, 100)][:4] == ["r00c00", "r00c01", "r00c02", "r01c00"]
    with pytest.raises(StepError, match="outside"):
        tiles.tile(250, 130, 100, "r02c00")


def test_a_tile_header_is_the_region_grid_shifted(region):
    text = tiles.tile_header_text(tiles.read_header_file(region), 200, 100, 50, 30)
    values = {line.split("=")[0].strip(): line.split("=")[1].strip() for line in text.splitlines() if "=" in line}
    assert (values["NAXIS1"], values["NAXIS2"]) == ("50", "30")
    assert float(values["CRPIX1"]) == 125.5 - 200 and float(values["CRPIX2"]) == 65.5 - 100
    assert values["CRVAL1"] == "83.82" and values["CTYPE2"] == "'DEC--TAN'"


def test_images_are_assigned_to_the_tiles_they_touch(region):
    header = tiles.read_header_file(region)
    # an image of 20 x 10 px whose first pixel is mosaic pixel (101, 1), i.e. 0-based column 100
    image = {"fname": "a.fits", "naxis1": "20", "naxis2": "10", "crpix1": str(125.5 - 100), "crpix2": "65.5"}
    touched = [name for name, *box in tiles.grid(250, 130, 100) if tiles.images_in_tile([image], header, *box)]
    # columns 100-119 lie in tile column 1; the one pixel of slack also admits column 0's tile
    assert "r00c01" in touched and "r01c01" not in touched and "r00c02" not in touched


def test_tiles_touched_are_the_tiles_each_image_touches(region):
    """The per-image lookup gives exactly what checking every image against every tile gives."""
    header = tiles.read_header_file(region)
    rng = np.random.default_rng(5)
    images = [
        {"fname": f"i{k}.fits", "naxis1": str(rng.integers(1, 120)), "naxis2": str(rng.integers(1, 80))}
        | {"crpix1": str(125.5 - rng.integers(-130, 260)), "crpix2": str(65.5 - rng.integers(-90, 140))}
        for k in range(60)
    ]
    for size in (7, 30, 100, 400):
        every = {}
        for name, *box in tiles.grid(250, 130, size):
            if members := tiles.images_in_tile(images, header, *box):
                every[name] = members
        assert tiles.tiles_touched(images, header, size) == every
        assert list(tiles.tiles_touched(images, header, size)) == list(every)


def test_assembly_copies_tiles_and_blanks_the_rest(region, tmp_path):
    truth = np.arange(250 * 130, dtype=float).reshape(130, 250)
    files = {}
    for name, x0, y0, width, height in tiles.grid(250, 130, 100):
        if name == "r01c02":
            continue  # no image touches it: blank
        path = tmp_path / f"{name}.fits"
        cards = fits.Header({"CRPIX1": 125.5 - x0, "CRPIX2": 65.5 - y0})
        fits.PrimaryHDU(truth[y0 : y0 + height, x0 : x0 + width], cards).writeto(path)
        files[name] = str(path)
    out = tmp_path / "mosaic.fits"
    tiles.assemble(files, region, 100, str(out))
    with fits.open(out) as hdul:
        hdul.verify("exception")
        data, header = hdul[0].data, hdul[0].header
    expected = truth.copy()
    x0, y0, width, height = tiles.tile(250, 130, 100, "r01c02")
    expected[y0 : y0 + height, x0 : x0 + width] = np.nan
    assert np.array_equal(data, expected, equal_nan=True)
    assert (header["NAXIS1"], header["NAXIS2"], header["CRPIX1"], header["CRPIX2"]) == (250, 130, 125.5, 65.5)


def test_a_truncated_tile_is_an_error_not_a_mosaic(region, tmp_path):
    files = {}
    for name, _x0, _y0, width, height in tiles.grid(250, 130, 100):
        path = tmp_path / f"{name}.fits"
        fits.PrimaryHDU(np.zeros((height, width))).writeto(path)
        files[name] = str(path)
    with open(files["r01c01"], "r+b") as handle:
        handle.truncate(2880 + 100)
    with pytest.raises(StepError, match="cut short"):
        tiles.assemble(files, region, 100, str(tmp_path / "mosaic.fits"))
    assert not (tmp_path / "mosaic.fits").exists()


def test_a_hand_written_template_is_read_as_montage_reads_it(tmp_path):
    # "KEY = value" with the '=' before column 9, as people type templates
    path = tmp_path / "region.hdr"
    path.write_text(REGION.replace("NAXIS1  = 250", "NAXIS1 = 250").replace("CRPIX1  = 125.5", "CRPIX1=125.5"))
    header = tiles.read_header_file(str(path))
    assert (header.get("NAXIS1"), header.get("CRPIX1"), header.get("NAXIS2")) == (250, 125.5, 130)
    assert [t[0] for t in tiles.grid(header.get("NAXIS1"), header.get("NAXIS2"), 100)][-1] == "r01c02"


def test_tiles_are_equal_parts_of_each_axis_within_the_size():
    """4096 on a 6390 x 7336 mosaic: 2 x 2 tiles of 3195 x 3668, not 4096 and the remainder."""
    assert tiles.tile_steps(6390, 7336, 4096) == (3195, 3668)
    assert [box[3:] for box in tiles.grid(6390, 7336, 4096)] == [(3195, 3668)] * 4
    for naxis1, naxis2, size in ((250, 130, 100), (11303, 11310, 4096), (4096, 4097, 4096), (10, 1, 3)):
        boxes = tiles.grid(naxis1, naxis2, size)
        widths = {width for _, _, _, width, _ in boxes}
        heights = {height for _, _, _, _, height in boxes}
        assert max(widths) <= size and max(heights) <= size
        assert max(widths) - min(widths) < len({x0 for _, x0, _, _, _ in boxes})  # equal but for rounding
        assert max(heights) - min(heights) < len({y0 for _, _, y0, _, _ in boxes})

"""Montage's drivers hand-parallelised (mosaicflow.reference.hand_parallel), the speed
the workflow is raced against, make the serial chain's mosaic byte for byte."""

import os

import numpy as np
import pytest
from astropy.io import fits

from mosaicflow.files import tables
from mosaicflow.montage.per_item import check_status, load_montage
from mosaicflow.reference.chain import run_chain
from mosaicflow.reference.hand_parallel import run_hand_parallel, split_table
from mosaicflow.sky import synth


@pytest.fixture(scope="module")
def field(tmp_path_factory):
    """Five 256 x 512 tiles (an odd count, so parts differ in size) and a header fitting them."""
    folder = tmp_path_factory.mktemp("field")
    inputs = folder / "inputs"
    inputs.mkdir()
    truth = synth.make_truth(
        {"columns": 3, "rows": 2, "tile_width": 256, "tile_height": 512, "stars": 300, "nebulae": 3, "seed": 3}
    )
    names = []
    for tile in truth["tiles"][:5]:
        header, data = synth.render_tile(tile, truth)
        names.append(tile["name"] + ".fits")
        fits.PrimaryHDU(data, header).writeto(inputs / names[-1])
    montage = load_montage()
    check_status(montage.mImgtbl(str(inputs), str(folder / "raw.tbl")), "mImgtbl")
    check_status(montage.mMakeHdr(str(folder / "raw.tbl"), str(folder / "region.hdr")), "mMakeHdr")
    return str(inputs), sorted(names), str(folder / "region.hdr")


@pytest.mark.parametrize("parts", [2, 3])
def test_same_bytes_as_the_serial_chain(field, tmp_path, parts):
    inputs, names, header = field
    run_chain(inputs, names, header, str(tmp_path / "chain"), iterations=1000)
    times = run_hand_parallel(inputs, names, header, str(tmp_path / "parallel"), iterations=1000, parts=parts)
    assert {"project", "difference_fit", "background", "coadd"} <= set(times)
    # Every image was corrected (a correction lost to a wrong renumbering would
    # leave an image out or uncorrected, and change the mosaic).
    for name in ("projected.tbl", "corrections.tbl", "fits.tbl"):
        assert len(tables.read_ipac(tmp_path / "parallel" / name)) == len(tables.read_ipac(tmp_path / "chain" / name))
    assert len(os.listdir(tmp_path / "parallel" / "corrected")) == 2 * len(names)
    ours = fits.getdata(tmp_path / "parallel" / "mosaic.fits")
    theirs = fits.getdata(tmp_path / "chain" / "mosaic.fits")
    assert np.isfinite(theirs).mean() > 0.5
    assert np.array_equal(ours, theirs, equal_nan=True)
    assert (tmp_path / "parallel" / "mosaic.fits").read_bytes() == (tmp_path / "chain" / "mosaic.fits").read_bytes()


def test_make_header_makes_the_workflows_automatic_region(field, tmp_path):
    """speed.py has the scripts make their header (--make-header) as the workflow's
    ``region: {auto: true}`` does, with the defaults of config/schema.yaml."""
    from conftest import REPO
    from mosaicflow.config import validation
    from mosaicflow.montage.per_mosaic import image_table
    from mosaicflow.sky import region

    inputs, names, _ = field
    made = tmp_path / "made.hdr"
    times = run_chain(inputs, names, str(made), str(tmp_path / "chain"), iterations=10, make_header=True)
    assert times["region_header"] > 0
    config = {"mosaics": {"m": {"source": {"type": "synthetic"}, "region": {"auto": True}}}}
    settings = validation.validate(config, os.path.join(REPO, "config", "schema.yaml"))["mosaics"]["m"]["region"]
    # the workflow's raw table of the same files (image table job), and its region header job
    image_table(inputs, names, str(tmp_path / "raw.tbl"), 1, showCorners=True, haveCubes=False)
    region.write_region_header(settings, str(tmp_path / "region.hdr"), 10**9, raw_table=str(tmp_path / "raw.tbl"))
    assert made.read_text() == (tmp_path / "region.hdr").read_text()


def test_split_table_renumbers_each_part_from_zero(tmp_path):
    rows = [{"cntr": k, "fname": f"image {k}.fits"} for k in range(5)]
    tables.write_ipac(tmp_path / "all.tbl", ["cntr", "fname"], rows)
    blocks = split_table(tmp_path / "all.tbl", [tmp_path / "a.tbl", tmp_path / "b.tbl"], renumber="cntr")
    assert [[row["cntr"] for row in block] for block in blocks] == [["0", "1", "2"], ["3", "4"]]
    assert [[row["fname"] for row in block] for block in blocks] == [
        ["image 0.fits", "image 1.fits", "image 2.fits"],
        ["image 3.fits", "image 4.fits"],
    ]
    assert [row["cntr"] for row in tables.read_ipac(tmp_path / "b.tbl")] == ["0", "1"]
    assert [row["fname"] for row in tables.read_ipac(tmp_path / "b.tbl")] == ["image 3.fits", "image 4.fits"]

"""Real 2MASS tiles: the workflow's mosaic equals Montage's own chain's."""

import os

import numpy as np
import pytest
from astropy.io import fits

from conftest import shared_dataset
from mosaicflow.files import tables
from mosaicflow.reference.chain import run_chain


def stem(name):
    # mProjExec names the projection of x.fits.gz "x.gz.fits"
    return name.split(".")[0]


def compare_with_chain(workflow, dataset, region):
    source = shared_dataset(dataset)
    # the chain's background model, whatever the default
    background = {"solver": "mbgmodel"}
    config = {
        "mosaics": {"real": {"source": {"type": "local", "path": source}, "region": region, "background": background}}
    }
    workflow.run(config=config)
    base = workflow.path("results", "real")
    images = tables.read_tsv(os.path.join(base, "images.tsv"))

    # The chain gets every file of the folder (through links, as the workflow's
    # Montage calls do) and the same header.
    every = sorted(n for n in os.listdir(source) if n.endswith((".fits", ".gz")))
    links = workflow.path("chain-inputs")
    os.makedirs(links)
    for name in every:
        os.symlink(os.path.join(source, name), os.path.join(links, name))
    run_chain(links, every, os.path.join(base, "region.hdr"), workflow.path("chain"), iterations=100000)
    # Images outside the region: the workflow lists them in skipped.tsv, the
    # chain's mProjExec silently writes no projection for them.
    projected_by_chain = {
        stem(n[len("hdu0_") :]) for n in os.listdir(workflow.path("chain", "projected")) if not n.endswith("_area.fits")
    }
    assert {stem(os.path.basename(row["path"])) for row in images} == projected_by_chain
    ours = fits.getdata(os.path.join(base, "mosaic.fits")).astype(float)
    theirs = fits.getdata(workflow.path("chain", "mosaic.fits")).astype(float)
    assert ours.shape == theirs.shape
    assert np.array_equal(np.isfinite(ours), np.isfinite(theirs))
    finite = np.isfinite(ours)
    difference = np.abs(ours[finite] - theirs[finite])
    spread = np.percentile(theirs[finite], 99) - np.percentile(theirs[finite], 1)
    return difference.max(), spread


def test_orion_j_gzip_named_fits_with_header(workflow):
    header = os.path.join(shared_dataset("2mass-m42-j-10"), "region.hdr")
    worst, spread = compare_with_chain(workflow, "2mass-m42-j-10", {"header": header})
    # float32 images: differences at the level of single-precision rounding
    assert worst <= 1e-5 * spread, (worst, spread)


def test_m17_ks_fits_gz_with_automatic_region(workflow):
    worst, spread = compare_with_chain(workflow, "2mass-m17-ks-8", {"auto": True})
    assert worst <= 1e-5 * spread, (worst, spread)


@pytest.mark.parametrize("dataset", ["2mass-m42-j-10"])
def test_real_inputs_are_never_written(workflow, dataset):
    source = shared_dataset(dataset)
    before = {n: os.stat(os.path.join(source, n)).st_mtime_ns for n in os.listdir(source)}
    config = {
        "mosaics": {
            "real": {
                "source": {"type": "local", "path": source},
                "region": {"header": os.path.join(source, "region.hdr")},
                "background": {"model": "none"},
            }
        }
    }
    workflow.run(config=config)
    assert before == {n: os.stat(os.path.join(source, n)).st_mtime_ns for n in os.listdir(source)}

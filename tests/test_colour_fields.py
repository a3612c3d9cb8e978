"""Colour composites (bands, colors) and many fields per run (fields table)."""

import glob
import os

import numpy as np
import pytest
from PIL import Image

from conftest import small_field, small_region
from mosaicflow import UserError
from mosaicflow.config import fields
from mosaicflow.files import tables

# ---- expansion of the short forms -------------------------------------------


def test_bands_expand_to_mosaics_and_a_composite():
    region = small_region()
    config = {
        "mosaics": {
            "carina": {
                "bands": ["J", "H", "K"],
                "source": {"type": "archive", "survey": "2MASS", "location": "161.26 -59.87", "size": 1.0},
                "region": region,
            }
        }
    }
    mosaics, colours = fields.expand(config)
    assert sorted(mosaics) == ["carina_H", "carina_J", "carina_K"]
    assert mosaics["carina_K"]["source"]["band"] == "K"
    assert all(m["region"] == region for m in mosaics.values())
    assert colours == {"carina": {"blue": "carina_J", "green": "carina_H", "red": "carina_K"}}


def test_local_band_paths_need_a_placeholder():
    mosaic = {"bands": ["g", "r", "i"], "source": {"type": "local", "path": "/data/m31"}, "region": small_region()}
    with pytest.raises(UserError, match=r"must contain \{band\}"):
        fields.expand({"mosaics": {"m31": mosaic}})
    mosaic["source"]["path"] = "/data/m31/{band}"
    mosaics, _ = fields.expand({"mosaics": {"m31": mosaic}})
    assert mosaics["m31_r"]["source"]["path"] == "/data/m31/r"


@pytest.mark.parametrize(
    "regions, message",
    [
        ((small_region(), small_region(), small_region(width=0.5)), "region of blue"),
        (({"auto": True}, {"auto": True}, {"auto": True}), "auto"),
    ],
)
def test_composites_need_one_shared_explicit_region(regions, message):
    mosaics = {
        name: {"source": {"type": "local", "path": name}, "region": region}
        for name, region in zip(("k", "h", "j"), regions, strict=True)
    }
    with pytest.raises(UserError, match=message):
        fields.expand({"mosaics": mosaics, "colors": {"rgb": {"red": "k", "green": "h", "blue": "j"}}})


def test_composite_of_unknown_mosaic():
    mosaics = {"k": {"source": {"type": "local", "path": "k"}, "region": small_region()}}
    with pytest.raises(UserError, match="no mosaic named 'h'"):
        fields.expand({"mosaics": mosaics, "colors": {"rgb": {"red": "k", "green": "h", "blue": "k"}}})


def test_fields_table_rows_become_mosaics(tmp_path):
    table = tmp_path / "fields.tsv"
    table.write_text(
        "name\tsource\tcenter\tsize\tsurvey\tbands\tpath\n"
        "# comment lines are ignored\n"
        "carina\tarchive\t161.26 -59.87\t0.5\t2MASS\tJ,H,K\t\n"
        "m17\tarchive\t275.18 -16.14\t0.3\t2MASS\tK\t\n"
        "mine\tlocal\t83.8 -5.4\t0.2\t\t\t/data/mine\n"
    )
    result = fields.read_fields_table(str(table))
    assert result["m17"]["source"]["band"] == "K" and "bands" not in result["m17"]
    assert result["carina"]["bands"] == ["J", "H", "K"]
    assert result["mine"] == {
        "source": {"type": "local", "path": "/data/mine"},
        "region": {"center": "83.8 -5.4", "width": 0.2, "height": 0.2, "pixel_scale": 1.0},
    }
    mosaics, colours = fields.expand({"fields": str(table)})
    assert {"carina_J", "carina_K", "m17", "mine"} <= set(mosaics) and list(colours) == ["carina"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("name\tcolour\nx\ty\n", "unknown columns"),
        ("name\tcenter\tsize\tpath\nx\t1 2\tbig\t/d\n", "not a number"),
        ("name\tcenter\tsize\tpath\nx\t1 2\t1\t/d\nx\t1 2\t1\t/d\n", "appears twice"),
        ("name\tcenter\tsize\tsurvey\nx\t1 2\t1\t2MASS\n", "needs bands"),
        ("name\tcenter\tsize\tpath\nx\t1 2\t1\n", "3 cells for 4 columns"),
    ],
)
def test_bad_fields_tables_are_reported_by_line(tmp_path, text, message):
    table = tmp_path / "fields.tsv"
    table.write_text(text)
    with pytest.raises(UserError, match=message):
        fields.read_fields_table(str(table))


# ---- end to end -------------------------------------------------------------


def test_three_band_synthetic_field_makes_a_colour_composite(workflow):
    source = small_field()
    config = {"mosaics": {"rgb": {"bands": ["J", "H", "K"], "source": source, "region": small_region()}}}
    workflow.run(config=config)
    headers = {b: open(workflow.path("results", f"rgb_{b}", "region.hdr")).read() for b in "JHK"}
    assert headers["J"] == headers["H"] == headers["K"]
    image = Image.open(workflow.path("results", "color", "rgb.png"))
    assert image.mode == "RGB" and image.size == (1224, 1584)
    pixels = np.asarray(image).astype(float)
    spreads = pixels.reshape(-1, 3).std(axis=0)
    assert (spreads > 10).all(), spreads  # three non-trivial channels
    red, green, blue = (pixels[..., i] for i in range(3))
    assert not np.array_equal(red, blue) and not np.array_equal(red, green)
    # each band has its own background levels and noise
    tiles = [
        open(p, "rb").read()
        for p in sorted(glob.glob(workflow.path("results", "rgb_*", "synthetic", "tiles", "*r00_c00.fits")))
    ]
    assert len(tiles) == 3 and len(set(tiles)) == 3
    summary = {r["name"]: r for r in tables.read_tsv(workflow.path("results", "summary.tsv"))}
    assert summary["rgb"]["kind"] == "colour" and summary["rgb"]["status"] == "complete"


def write_fields(workflow, rows):
    lines = ["name\tsource\tcenter\tsize\tpath\tseed"] + ["\t".join(row) for row in rows]
    with open(workflow.path("fields.tsv"), "w") as handle:
        handle.write("\n".join(lines) + "\n")


def test_fields_table_isolates_a_bad_field_and_grows_by_one(workflow):
    from astropy.io import fits

    from mosaicflow.sky import synth

    good = workflow.path("good")
    os.makedirs(good)
    truth = synth.make_truth({"columns": 2, "rows": 2, "seed": 4, "stars": 300, "nebulae": 2})
    for tile in truth["tiles"]:
        header, data = synth.render_tile(tile, truth)
        fits.PrimaryHDU(data, header).writeto(os.path.join(good, tile["name"] + ".fits"))
    bad = workflow.path("bad")
    os.makedirs(bad)
    open(os.path.join(bad, "empty.fits"), "wb").close()
    with open(os.path.join(bad, "text.fits"), "w") as handle:
        handle.write("not FITS\n" * 50)
    rows = [["good", "local", "83.82 -5.39", "0.25", "good", ""], ["bad", "local", "83.82 -5.39", "0.25", "bad", ""]]
    write_fields(workflow, rows)
    config = {"fields": "fields.tsv"}

    result = workflow.run("--keep-going", config=config, check=False)
    assert result.returncode != 0
    summary = {r["name"]: r for r in tables.read_tsv(workflow.path("results", "summary.tsv"))}
    assert summary["good"]["status"] == "complete"
    assert summary["bad"]["status"] == "failed"
    assert "no usable images" in summary["bad"]["reason"] and "empty.fits" in summary["bad"]["reason"]
    assert "not complete" in (result.stdout + result.stderr).lower()

    before = {p: os.stat(p).st_mtime_ns for p in glob.glob(workflow.path("results", "good", "**"), recursive=True)}
    write_fields(workflow, [*rows, ["third", "synthetic", "83.82 -5.39", "0.15", "", "8"]])
    planned = workflow.planned_jobs(config=config)
    assert planned.get("synthetic_field") == 1 and planned.get("image_table") == 2  # third, and bad again
    workflow.run("--keep-going", config=config, check=False)
    after = {p: os.stat(p).st_mtime_ns for p in before}
    assert before == after
    summary = {r["name"]: r for r in tables.read_tsv(workflow.path("results", "summary.tsv"))}
    assert summary["third"]["status"] == "complete" and summary["good"]["status"] == "complete"

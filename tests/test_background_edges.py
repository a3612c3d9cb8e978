"""Background matching at the edges: one image, no overlaps, disconnected
groups, failed fits. Each has a defined result (README, "Background model")."""

import os

import numpy as np
import pytest
from astropy.io import fits

from conftest import PER_ITEM_JOBS, projected_image, small_region
from mosaicflow import UserError
from mosaicflow.files import layout, tables
from mosaicflow.montage import per_mosaic
from mosaicflow.sky import synth


def write_tiles(folder, settings, keep):
    truth = synth.make_truth(settings)
    os.makedirs(folder)
    for index in keep:
        tile = truth["tiles"][index]
        header, data = synth.render_tile(tile, truth)
        fits.PrimaryHDU(data, header).writeto(os.path.join(folder, tile["name"] + ".fits"))


def corrections(wf, name):
    return {
        row["id"]: [float(row[k]) for k in "abc"]
        for row in tables.read_tsv(wf.path("results", name, "corrections.tsv"))
    }


def overlap_offset(wf, name, folder, plus, minus):
    """Median of (plus - minus) over the two images' common pixels."""
    images = []
    for ident in (plus, minus):
        base = wf.path("results", name)
        path = projected_image(base, ident) if folder == "projected" else os.path.join(base, folder, ident + ".fits")
        with fits.open(path) as hdul:
            h = hdul[0].header
            images.append((hdul[0].data.astype(float), round(h["CRPIX1"]), round(h["CRPIX2"])))
    (a, ax, ay), (b, bx, by) = images
    # pixel (i, j) of an image is mosaic pixel (i - crpix1, j - crpix2) up to a common offset
    x0, x1 = max(-ax, -bx), min(a.shape[1] - ax, b.shape[1] - bx)
    y0, y1 = max(-ay, -by), min(a.shape[0] - ay, b.shape[0] - by)
    cut_a = a[y0 + ay : y1 + ay, x0 + ax : x1 + ax]
    cut_b = b[y0 + by : y1 + by, x0 + bx : x1 + bx]
    return float(np.nanmedian(cut_a - cut_b))


def test_single_image_is_left_unchanged(workflow):
    config = {
        "mosaics": {
            "one": {
                "source": {"type": "synthetic", "columns": 1, "rows": 1, "seed": 2},
                "region": small_region(width=0.1, height=0.2),
            }
        }
    }
    workflow.run(config=config)
    assert list(corrections(workflow, "one").values()) == [[0.0, 0.0, 0.0]]
    assert tables.read_ipac(workflow.path("results", "one", "overlaps.tbl")) == []


def test_images_without_overlaps_are_left_unchanged(workflow):
    write_tiles(workflow.path("apart"), {"columns": 4, "rows": 1, "seed": 3, "overlap": 0.0}, keep=[0, 2])
    config = {"mosaics": {"apart": {"source": {"type": "local", "path": "apart"}, "region": small_region()}}}
    workflow.run(config=config)
    assert all(c == [0.0, 0.0, 0.0] for c in corrections(workflow, "apart").values())
    assert len(corrections(workflow, "apart")) == 2


def test_disconnected_groups_are_matched_within_each_group(workflow):
    # five tiles in a row without the middle one: two groups of two overlapping tiles
    write_tiles(workflow.path("groups"), {"columns": 5, "rows": 1, "seed": 6}, keep=[0, 1, 3, 4])
    region = small_region(width=0.62, height=0.3)
    config = {
        "keep_intermediates": {"corrected": True},  # the test reads them
        "mosaics": {
            "groups": {"source": {"type": "local", "path": "groups"}, "region": region, "background": PER_ITEM_JOBS}
        },
    }
    workflow.run(config=config)
    pairs = per_mosaic.overlap_pairs(workflow.path("results", "groups", "overlaps.tbl"))
    assert len(pairs) == 2  # one overlap per group, none between the groups
    for plus, minus in pairs:
        before = overlap_offset(workflow, "groups", "projected", plus, minus)
        after = overlap_offset(workflow, "groups", "corrected", plus, minus)
        assert abs(before) > 5.0 and abs(after) < 0.5, (before, after)


def test_failed_fits_are_left_out_and_counted(tmp_path):
    projected = tmp_path / "projected.tbl"
    rows = [{"cntr": i, "fname": f"img{i}-0000000{i}.fits"} for i in range(3)]
    tables.write_ipac(str(projected), ["cntr", "fname"], rows)
    ok = {name: "1.0" for name in tables.FIT_FIELDS}
    files = {}
    cases = [
        (("img0-00000000", "img1-00000001"), {"status": "ok", "message": "", **ok}),
        (("img1-00000001", "img2-00000002"), {"status": "failed", "message": "too few pixels"}),
    ]
    for pair, row in cases:
        path = tmp_path / f"{pair[0]}+{pair[1]}.tsv"
        tables.write_tsv(str(path), ["status", "message", *tables.FIT_FIELDS], [row])
        files[pair] = str(path)
    fitted, failed = per_mosaic.gather_fits(str(projected), list(files), str(tmp_path), str(tmp_path / "fits.tbl"))
    assert (fitted, failed) == (1, 1)
    lines = (tmp_path / "fits.tbl").read_text().splitlines()
    assert len(lines) == 2 and lines[1].split()[:2] == ["0", "1"]


def write_projected_row(path, ids, heights=None):
    """A projected table of cutouts 300 px wide, 100 px apart along x (each overlaps the next two)."""
    rows = [
        {
            "cntr": i,
            "fname": f"{ident}.fits",
            "naxis1": 300,
            "naxis2": (heights or {}).get(i, 100),
            "crpix1": -100.0 * i,
            "crpix2": 0.0,
        }
        for i, ident in enumerate(ids)
    ]
    tables.write_ipac(str(path), ["cntr", "fname", "naxis1", "naxis2", "crpix1", "crpix2"], rows)


def test_per_image_fit_batches_give_the_same_table_as_per_overlap_files(tmp_path):
    projected = tmp_path / "projected.tbl"
    ids = [f"img{i}-0000000{i}" for i in range(3)]
    write_projected_row(projected, ids)
    pairs = [(ids[0], ids[1]), (ids[0], ids[2]), (ids[1], ids[2])]
    rows = {pair: {name: str(k + 1.5) for name in tables.FIT_FIELDS} for k, pair in enumerate(pairs)}
    single, batched = tmp_path / "single", tmp_path / "batched"
    single.mkdir(), batched.mkdir()
    for (plus, minus), fit in rows.items():
        tables.write_tsv(str(single / f"{plus}+{minus}.tsv"), [*tables.FIT_FIELDS, "status"], [{**fit, "status": "ok"}])
    for plus in (ids[0], ids[1]):
        batch = [{"plus": p, "minus": m, "status": "ok", **fit} for (p, m), fit in rows.items() if p == plus]
        tables.write_tsv(str(batched / f"{plus}.tsv"), ["plus", "minus", "status", *tables.FIT_FIELDS], batch)
    # fit_jobs: batch, two batches: each file holds the overlaps hashed to it
    hashed = tmp_path / "hashed"
    hashed.mkdir()
    items = layout.fit_items(pairs, "batch", 2)
    assert len(set(items.values())) == 2
    for item in set(items.values()):
        batch = [{"plus": p, "minus": m, "status": "ok", **fit} for (p, m), fit in rows.items()]
        batch = [row for row in batch if items[(row["plus"], row["minus"])] == item]
        tables.write_tsv(str(hashed / f"{item}.tsv"), ["plus", "minus", "status", *tables.FIT_FIELDS], batch)
    assert per_mosaic.gather_fits(str(projected), pairs, str(single), str(tmp_path / "a.tbl")) == (3, 0)
    assert per_mosaic.gather_fits(str(projected), pairs, str(batched), str(tmp_path / "b.tbl"), "image") == (3, 0)
    assert per_mosaic.gather_fits(str(projected), pairs, str(hashed), str(tmp_path / "h.tbl"), "batch", 2) == (3, 0)
    assert (tmp_path / "a.tbl").read_text() == (tmp_path / "b.tbl").read_text() == (tmp_path / "h.tbl").read_text()
    # A batch that lacks one of its image's overlaps (stale) is an error, not a silent gap.
    with pytest.raises(per_mosaic.StepError, match="no fit of"):
        per_mosaic.gather_fits(
            str(projected), [*pairs, (ids[1], ids[0])], str(batched), str(tmp_path / "c.tbl"), "image"
        )


def test_fit_batches_hold_every_overlap_once_by_a_hash_of_its_name():
    ids = [f"tile_{i:03d}-{i:08x}" for i in range(40)]
    pairs = [(ids[i], ids[j]) for i in range(40) for j in (i + 1, i + 2) if j < 40]
    by_batch = layout.pairs_by_batch(pairs, 4)
    assert sorted(by_batch) == [0, 1, 2, 3]
    assert sorted(pair for members in by_batch.values() for pair in members) == sorted(pairs)
    # spread over the batches (a hash of the plus image alone put whole corners in one)
    assert max(map(len, by_batch.values())) < len(pairs) / 2
    assert layout.pairs_by_batch(list(reversed(pairs)), 4) == by_batch  # the table's order does not matter
    items = layout.fit_items(pairs, "batch", 4)
    assert all(items[pair] == f"batch-{batch}" for batch, members in by_batch.items() for pair in members)
    # fewer overlaps than batches: no empty batch
    assert len(layout.pairs_by_batch(pairs[:2], 4)) <= 2
    assert layout.fit_items(pairs[:1], "image") == {pairs[0]: pairs[0][0]}
    assert layout.fit_items(pairs[:1], "overlap") == {pairs[0]: f"{pairs[0][0]}+{pairs[0][1]}"}
    with pytest.raises(UserError, match="fit_jobs is one of"):
        layout.fit_items(pairs, "tile", 4)


def test_an_incomplete_fit_file_is_never_taken_as_a_fit(tmp_path):
    projected = tmp_path / "projected.tbl"
    tables.write_ipac(
        str(projected),
        ["cntr", "fname"],
        [{"cntr": 0, "fname": "a-0000000a.fits"}, {"cntr": 1, "fname": "b-0000000b.fits"}],
    )
    empty = tmp_path / "a-0000000a+b-0000000b.tsv"
    empty.write_text("")
    with pytest.raises(per_mosaic.StepError, match="incomplete"):
        per_mosaic.gather_fits(
            str(projected), [("a-0000000a", "b-0000000b")], str(tmp_path), str(tmp_path / "fits.tbl")
        )


def test_overlaps_too_small_for_the_model_get_no_fit_job(workflow):
    # 2 x 2 tiles overlapping by 1%: the diagonal neighbours touch in a corner of a few
    # pixels, far below mBgModel's limit (0.001 of the average image, ~520 pixels here).
    write_tiles(workflow.path("corners"), {"columns": 2, "rows": 2, "seed": 9, "overlap": 0.01}, keep=[0, 1, 2, 3])
    # one fit job per overlap, so that the fit files count the overlaps fitted
    corners = {"source": {"type": "local", "path": "corners"}, "region": small_region(), "background": PER_ITEM_JOBS}
    workflow.run(config={"mosaics": {"corners": corners}})
    skipped = tables.read_tsv(workflow.path("results", "corners", "overlaps_skipped.tsv"))
    kept = per_mosaic.overlap_pairs(workflow.path("results", "corners", "overlaps.tbl"))
    assert len(skipped) >= 1 and all(float(row["box_pixels"]) < 524.3 for row in skipped)
    # among what is left out: diagonal neighbours (row and column both differ)
    diagonal = [r for r in skipped if r["plus"][5:8] != r["minus"][5:8] and r["plus"][9:12] != r["minus"][9:12]]
    assert diagonal, skipped
    assert len(kept) >= 2
    fit_files = os.listdir(workflow.path("results", "corners", "fits"))
    assert len(fit_files) == len(kept)
    assert "too small for the background model" in open(workflow.path("logs", "corners", "projected_table.log")).read()


def test_box_overlap_of_cutouts_on_the_mosaic_grid():
    a = {"crpix1": "0", "crpix2": "0", "naxis1": "100", "naxis2": "50"}
    b = {"crpix1": "-90", "crpix2": "-40", "naxis1": "100", "naxis2": "100"}  # starts at (90, 40)
    assert per_mosaic._box_overlap(a, b) == 10 * 10
    c = {"crpix1": "-200", "crpix2": "0", "naxis1": "10", "naxis2": "10"}
    assert per_mosaic._box_overlap(a, c) == 0.0

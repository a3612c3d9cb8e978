"""Bright nebulosity across tile boundaries, as around M42: the background
model against the truth, both solvers side by side, and a field whose tiles'
zero points differ (which additive matching cannot make seamless) called
broken."""

import json

import pytest

from conftest import Workflow
from mosaicflow.files import tables
from mosaicflow.reference import truth

# Four nebulae of 1,500-6,000 data units (tile backgrounds 20-200, noise 2)
# over a 4 x 2 field of 256 x 512 px tiles: half the overlaps lie in nebulosity.
NEBULOUS = {
    "type": "synthetic",
    "columns": 4,
    "rows": 2,
    "tile_width": 256,
    "tile_height": 512,
    "seed": 11,
    "nebulae": 4,
    "nebula_amplitude": [1500, 6000],
    "nebula_size": [40, 200],
}
# The same sky seen by scans whose zero points differ by 2% (sigma): a nebula
# leaves (gain_plus - gain_minus) * sky in an overlap's difference.
GAINS = {**NEBULOUS, "gain_scatter": 0.02}
AUTO = {"auto": True}


@pytest.fixture(scope="module")
def bright(tmp_path_factory):
    workflow = Workflow(tmp_path_factory.mktemp("bright"))
    mosaics = {
        "nebulous": {"source": NEBULOUS, "region": AUTO},
        "nebulous_lsq": {"source": NEBULOUS, "region": AUTO, "background": {"solver": "lsq"}},
        "gains": {"source": GAINS, "region": AUTO},
        "gains_lsq": {"source": GAINS, "region": AUTO, "background": {"solver": "lsq"}},
    }
    workflow.run(config={"mosaics": mosaics})
    return workflow


def quality(workflow, name):
    rows = tables.read_tsv(workflow.path("results", name, "quality.tsv"))
    return {(r["section"], r["metric"]): r["value"] for r in rows if not r["item"]}, rows


def true_steps(workflow, name):
    with open(workflow.path("results", name, "synthetic", "truth.json"), encoding="utf-8") as handle:
        return truth.overlap_steps(workflow.path("results", name), json.load(handle))


def status(workflow):
    return {row["name"]: row for row in tables.read_tsv(workflow.path("results", "summary.tsv"))}


def test_bright_nebulae_across_tiles_leave_no_seam(bright):
    # Planar offsets under nebulae 1,000 times the noise: the fits (mDiffFit's
    # plane, clipped at twice its rms) and the model recover the tiles' planes.
    summary, rows = quality(bright, "nebulous")
    steps = true_steps(bright, "nebulous")
    assert len(steps) >= 12
    assert max(abs(step) for step in steps.values()) < 0.2  # data units; noise 2
    measured = {r["item"]: float(r["value"]) for r in rows if r["metric"] == "offset_after" and r["value"] != "n/a"}
    assert max(abs(measured[item] - steps[item]) for item in measured) < 0.7
    assert float(summary[("seams", "max")]) < 0.5  # noise units
    assert float(summary[("coverage", "finite_fraction")]) == 1.0
    assert status(bright)["nebulous"]["status"] == "complete"


def test_the_default_solver_is_the_flatter_on_bright_fields(bright):
    # background.solver's default (mbgmodel) against lsq on both bright fields:
    # the largest seam after matching, in noise units, is no larger.
    for field in ("nebulous", "gains"):
        default = float(quality(bright, field)[0][("seams", "max")])
        lsq = float(quality(bright, f"{field}_lsq")[0][("seams", "max")])
        assert default <= lsq * 1.05, (field, default, lsq)


def test_tiles_whose_zero_points_differ_are_called_broken(bright):
    # An additive plane per tile cannot undo a gain: over the nebulae the
    # matched tiles still differ by many noise sigmas, and the run says so.
    summary, _ = quality(bright, "gains")
    assert float(summary[("seams", "max")]) > 5
    for name in ("gains", "gains_lsq"):
        row = status(bright)[name]
        assert row["status"] == "broken"
        assert "noise units between" in row["reason"] and "after matching" in row["reason"]

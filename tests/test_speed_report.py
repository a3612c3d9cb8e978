"""benchmarks/speed.py's report (mosaicflow.reference.speed): ratios to the hand-parallel script for the systems run."""

import argparse

import pytest

from mosaicflow.reference import speed


def _measured(systems, walls):
    runs = {
        system: [
            {"wall": wall, "cpu": 2 * wall, "load": 1.0, "stages": {"projection": wall / 2}, "jobs": 4, "own_cpu": 1.0}
            for wall in walls[system]
        ]
        for system in systems
    }
    return [{"field": {"name": "grid-3", "layout": "grid"}, "images": 3, "overlaps": 2, "results": runs}]


def _args(systems, repeats):
    return argparse.Namespace(systems=list(systems), cores=2, repeats=repeats)


def test_pairs_of_two_systems_print_their_ratio_and_no_readme_table(capsys):
    systems = ["mosaic.fits", "hand"]
    walls = {"mosaic.fits": [110.0, 90.0, 120.0], "hand": [100.0, 100.0, 100.0]}
    speed.report(_measured(systems, walls), _args(systems, 3), (2.0, 1.9, 2.1))
    out = capsys.readouterr().out
    # median 110 against 100; pair by pair 1.1, 0.9, 1.2: median 1.1
    assert "mosaic.fits / hand: 1.10 (pairwise median 1.10); CPU 1.10" in out
    assert "defaults / hand" not in out and "chain / hand" not in out
    assert "For the README" not in out
    assert "Snakemake process (CPU-s)" in out


def test_all_four_print_the_readme_table(capsys):
    walls = {system: [100.0 + 10 * k] for k, system in enumerate(speed.SYSTEMS)}
    speed.report(_measured(speed.SYSTEMS, walls), _args(speed.SYSTEMS, 1), (2.0, 1.9, 2.1))
    out = capsys.readouterr().out
    assert "| 3 tiles, 2 overlaps | 100.0 s, 200.0 CPU-s | 110.0 s, 220.0 CPU-s |" in out
    assert out.rstrip().endswith("| 0.77 | 0.85 |")


def test_systems_must_include_the_hand_parallel_script(monkeypatch):
    monkeypatch.setattr("sys.argv", ["speed.py", "--systems", "mosaic.fits", "chain"])
    with pytest.raises(SystemExit) as stop:
        speed.arguments("benchmarks/speed.py")
    assert stop.value.code == 2


def test_all_four_in_another_order_still_print_the_readme_table(capsys):
    systems = list(reversed(speed.SYSTEMS))
    walls = {system: [100.0] for system in systems}
    speed.report(_measured(systems, walls), _args(systems, 1), (2.0, 1.9, 2.1))
    assert "For the README" in capsys.readouterr().out

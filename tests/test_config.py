"""Config validation through the real Snakemake CLI: clear messages, no traceback."""

import pytest

from conftest import small_region


@pytest.mark.parametrize(
    "mosaic, expected",
    [
        ({"source": {"type": "local"}, "region": small_region()}, "path"),
        ({"source": {"type": "local", "path": "x"}, "region": {"center": "83 -5"}}, "region"),
        ({"source": {"type": "ftp", "path": "x"}, "region": small_region()}, "source"),
        ({"source": {"type": "local", "path": "x"}, "region": small_region(), "coadd": {"method": "sum"}}, "sum"),
    ],
)
def test_invalid_config_is_reported_by_key(workflow, mosaic, expected):
    result = workflow.run("-n", config={"mosaics": {"m": mosaic}}, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert expected in output
    assert "Traceback" not in output


def test_keeping_corrected_images_that_are_never_written_is_refused(workflow):
    mosaic = {"source": {"type": "local", "path": "x"}, "region": small_region()}
    mosaic["background"] = {"correct_jobs": "coadd"}
    config = {"mosaics": {"m": mosaic}, "keep_intermediates": {"corrected": True}}
    result = workflow.run("-n", config=config, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "mosaics.m.background.correct_jobs: coadd" in output and "keep_intermediates.corrected" in output
    assert "Traceback" not in output


def test_bad_mosaic_name_is_rejected(workflow):
    result = workflow.run(
        "-n",
        config={"mosaics": {"a b": {"source": {"type": "local", "path": "x"}, "region": small_region()}}},
        check=False,
    )
    assert result.returncode != 0 and "a b" in result.stdout + result.stderr


def test_missing_source_folder_fails_with_its_name(workflow):
    config = {"mosaics": {"m": {"source": {"type": "local", "path": "no such folder"}, "region": small_region()}}}
    result = workflow.run(config=config, check=False)
    assert result.returncode != 0
    assert "no such folder" in result.stdout + result.stderr


def test_default_config_is_the_offline_demo(workflow):
    counts = workflow.planned_jobs()
    assert counts.get("synthetic_field") == 1

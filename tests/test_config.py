"""Config validation through the real Snakemake CLI: clear messages, no traceback."""

import os
import shutil

import pytest

from conftest import REPO, small_field, small_region


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


def test_a_copy_of_the_workflow_will_not_run_another_copys_package(workflow, tmp_path):
    """This environment's package is this checkout's: a copy elsewhere stops before
    any work, naming both folders and the install that fixes it."""
    copy = tmp_path / "copy"
    shutil.copytree(
        REPO, copy, ignore=shutil.ignore_patterns(".git", ".venv", "__pycache__", "tests", "benchmarks", "docs")
    )
    config = {"mosaics": {"m": {"source": small_field(), "region": small_region()}}}
    result = workflow.run("-n", config=config, check=False, snakefile=str(copy / "Snakefile"))
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert os.path.join(REPO, "scripts", "mosaicflow") in output
    assert os.path.join(str(copy), "scripts", "mosaicflow") in output
    assert f"pip install -e {copy}" in output
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


def test_projection_batches_not_kept_are_removed_once_used(workflow):
    # keep_intermediates.projected: false makes each batch's folder temp(): gone
    # after the run, and the next run plans nothing
    mosaic = {"source": small_field(), "region": small_region()}
    workflow.run(config={"mosaics": {"m": mosaic}, "keep_intermediates": {"projected": False}})
    assert os.path.exists(workflow.path("results", "m", "mosaic.fits"))
    projected = workflow.path("results", "m", "projected")
    assert not os.path.exists(projected) or not os.listdir(projected)
    assert workflow.planned_jobs() == {}


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
    output = result.stdout + result.stderr
    assert "mosaics.m.source.path: 'no such folder' does not exist" in output
    assert "MissingInputException" not in output


def test_missing_header_template_and_a_file_as_folder_fail_with_the_key(workflow, tmp_path):
    not_a_folder = tmp_path / "image.fits"
    not_a_folder.write_bytes(b"")
    config = {"mosaics": {"m": {"source": {"type": "local", "path": str(not_a_folder)}, "region": small_region()}}}
    result = workflow.run("-n", config=config, check=False)
    assert result.returncode != 0
    assert f"mosaics.m.source.path: '{not_a_folder}' is not a folder" in result.stdout + result.stderr
    config["mosaics"]["m"] = {"source": {"type": "synthetic"}, "region": {"header": "no.hdr"}}
    result = workflow.run("-n", config=config, check=False)
    assert result.returncode != 0
    assert "mosaics.m.region.header: 'no.hdr' does not exist" in result.stdout + result.stderr


def test_default_config_is_the_offline_demo(workflow):
    counts = workflow.planned_jobs()
    assert counts.get("synthetic_field") == 1


def _refusal(workflow, config_text, *args):
    """Output of a dry run with a config file written as given, which must fail."""
    path = workflow.path("my.yaml")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(config_text)
    workflow.configfile = path
    result = workflow.run("-n", *args, check=False)
    assert result.returncode != 0
    return result.stdout + result.stderr


def test_misspelled_keys_are_named_with_the_key_meant_in_a_few_lines(workflow):
    output = _refusal(
        workflow,
        "mosaics:\n"
        "  m42_j:\n"
        "    source: {type: local, pth: images}\n"
        "    regoin: {center: '83.8 -5.4', width: 0.2, height: 0.2}\n",
    )
    assert "unknown key 'regoin' in mosaics.m42_j; did you mean 'region'?" in output
    assert "unknown key 'pth' in mosaics.m42_j.source; did you mean 'path'?" in output
    assert "is a required property" not in output and "missing key 'region'" not in output
    assert "$defs" not in output  # no schema dump
    assert len(output.splitlines()) < 15, output


def test_a_misspelled_value_and_a_box_key_are_both_named(workflow):
    output = _refusal(
        workflow,
        "mosaics:\n"
        "  m:\n"
        "    source: {type: local, path: images}\n"
        "    region: {center: '83.8 -5.4', widht: 0.2, height: 0.2}\n"
        "    background: {model: planar}\n",
    )
    assert "unknown key 'widht' in mosaics.m.region; did you mean 'width'?" in output
    assert "mosaics.m.background.model: 'planar' is not one of 'plane', 'level', 'none'" in output


def test_a_top_level_typo_is_named_and_the_demo_is_not_merged(workflow):
    output = _refusal(
        workflow,
        "mosaic:\n  m:\n    source: {type: local, path: images}\n    region: {auto: true}\n",
    )
    assert "unknown key 'mosaic' at the config's top level; did you mean 'mosaics'?" in output
    assert "demo" not in output and "synthetic_field" not in output
    assert len(output.splitlines()) < 15, output


def test_a_config_file_without_mosaics_does_not_fall_back_to_the_demo(workflow):
    output = _refusal(workflow, "max_pixels: 1000000\n")
    assert "defines no mosaics (neither 'mosaics' nor 'fields')" in output
    assert "synthetic_field" not in output


@pytest.mark.parametrize("center", ["05:35:17 -05:23:28", "5h35m17s -5d23m28s", "05 35 17 -05 23 28"])
def test_sexagesimal_centres_give_the_same_region_as_degrees(workflow, center):
    from mosaicflow.sky import region

    assert region.parse_center(center) == pytest.approx((83.8208333, -5.3911111))
    mosaic = {"source": {"type": "synthetic"}, "region": {"center": center, "width": 0.1, "height": 0.1}}
    workflow.run("--until", "region_header", config={"mosaics": {"m": mosaic}})
    header = region.read_header_template(workflow.path("results", "m", "region.hdr"))
    assert header["CRVAL1"] == pytest.approx(83.8208333)
    assert header["CRVAL2"] == pytest.approx(-5.3911111)


def test_an_unreadable_centre_is_refused_before_any_work_with_the_accepted_forms(workflow):
    mosaic = {"source": {"type": "synthetic"}, "region": {"center": "Orion", "width": 0.1, "height": 0.1}}
    result = workflow.run("-n", config={"mosaics": {"m": mosaic}}, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "mosaics.m.region.center: cannot read 'Orion' as a centre" in output
    assert "'05:35:17 -05:23:28'" in output


def _check_config(tmp_path, text):
    import subprocess
    import sys

    from conftest import REPO

    path = tmp_path / "my.yaml"
    path.write_text(text)
    script = os.path.join(REPO, "scripts", "check_config.py")
    return subprocess.run([sys.executable, script, str(path)], capture_output=True, text=True)


def test_config_checker_names_the_file_and_line_of_a_yaml_error(tmp_path):
    result = _check_config(tmp_path, "mosaics:\n  m:\n    source: {type: local, path: x\n    region: {auto: true}\n")
    assert result.returncode == 1
    assert f"{tmp_path / 'my.yaml'}, line 4, column 11: not valid YAML" in result.stderr


def test_config_checker_names_unknown_keys_and_passes_a_valid_config(tmp_path):
    result = _check_config(tmp_path, "mosaics:\n  m:\n    source: {type: synthetic}\n    regoin: {auto: true}\n")
    assert result.returncode == 1
    assert "unknown key 'regoin' in mosaics.m; did you mean 'region'?" in result.stderr
    result = _check_config(tmp_path, "mosaics:\n  m:\n    source: {type: synthetic}\n    region: {auto: true}\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("valid")


def test_config_checker_refuses_what_a_run_refuses(tmp_path):
    # rules of the config beyond the schema, from the one loader the workflow uses too
    keep = "keep_intermediates: {corrected: true}\n"
    mosaic = "mosaics:\n  m:\n    source: {type: synthetic}\n    region: {center: '83 -5', width: %s, height: %s}\n"
    result = _check_config(tmp_path, keep + mosaic % (0.1, 0.1))
    assert result.returncode == 1
    assert "mosaics.m.background.correct_jobs: coadd writes no corrected images" in result.stderr
    result = _check_config(tmp_path, mosaic % (10, 10))  # 36000 x 36000 pixels, more than max_pixels
    assert result.returncode == 1 and "mosaics.m.region" in result.stderr and "max_pixels" in result.stderr


def test_config_checker_names_a_missing_source_folder_and_header(tmp_path):
    text = "mosaics:\n  m:\n    source: {type: local, path: images/m}\n    region: {header: r.hdr}\n"
    result = _check_config(tmp_path, text)
    assert result.returncode == 1
    assert "mosaics.m.source.path: 'images/m' does not exist" in result.stderr
    assert "mosaics.m.region.header: 'r.hdr' does not exist" in result.stderr


def test_long_lists_of_problems_are_cut_to_a_few_lines():
    from conftest import REPO
    from mosaicflow import UserError
    from mosaicflow.config import validation

    mosaics = {f"m{i}": {"source": {"type": "synthetic"}, "region": {"auto": True}, f"bad{i}": 1} for i in range(9)}
    with pytest.raises(UserError) as raised:
        validation.validate({"mosaics": mosaics}, os.path.join(REPO, "config", "schema.yaml"))
    lines = str(raised.value).splitlines()
    assert len(lines) == 1 + validation.MAX_PROBLEMS + 1
    assert lines[-1].strip() == f"(and {9 - validation.MAX_PROBLEMS} more)"

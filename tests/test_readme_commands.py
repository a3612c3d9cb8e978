"""The README's commands, copied out of README.md and run with bash exactly as written.

Every fenced block right after a ``<!-- test: NAME -->`` line is a command a
user types; each runs in a fresh copy of the repository, the way the README
says to run it (an activated virtual environment is this test run's own).
"""

import getpass
import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import REPO, shared_dataset
from mosaicflow.files import tables
from mosaicflow.operations import personal_pool

README = os.path.join(REPO, "README.md")
BLOCK = re.compile(r"^<!-- test: ([a-z-]+) -->\n```(?:bash|sh)\n(.*?)^```", re.M | re.S)
TESTED = {"quick-start", "own-images", "report", "apart", "graphs", "pool"}


def readme_blocks():
    with open(README, encoding="utf-8") as handle:
        return {name: text for name, text in BLOCK.findall(handle.read())}


def test_every_marked_block_is_run_by_a_test():
    assert set(readme_blocks()) == TESTED


def copy_of_repository(destination):
    """The repository's tracked files (as a clone has them), without results or environments."""
    listed = subprocess.run(
        ["git", "-C", REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split("\0")
    files = [name for name in listed if name and os.path.isfile(os.path.join(REPO, name))]
    if not files:
        pytest.skip("the repository's file list needs git and a git checkout")
    for name in files:
        target = os.path.join(destination, name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(os.path.join(REPO, name), target)
    return str(destination)


def activated(clone, home=None, python=sys.executable):
    """The environment of a shell where ``python``'s virtual environment (this test run's)
    is active, with ``clone``'s package in it as ``pip install -e CLONE`` would put it (on
    the path first: the environment's own install stays as it is)."""
    env = dict(os.environ)
    bin_dir = os.path.dirname(python)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    env["VIRTUAL_ENV"] = os.path.dirname(bin_dir)
    env["PYTHONPATH"] = os.path.join(clone, "scripts")
    if home:
        env["HOME"] = str(home)
    return env


def run_block(name, cwd, env, timeout=1200):
    result = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", readme_blocks()[name]],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"README block {name!r} failed ({result.returncode}):\n{output[-6000:]}"
    return output


def link_images(folder):
    """The real M42 J tiles (and their header file, which is not an image) in ``folder``, as links."""
    source = shared_dataset("2mass-m42-j-10")
    os.makedirs(folder)
    for name in os.listdir(source):
        os.symlink(os.path.join(source, name), os.path.join(folder, name))


def test_quick_start_from_a_fresh_clone(tmp_path):
    # The Quick start makes its own environment from PyPI (pip's cache makes it quick).
    clone = copy_of_repository(tmp_path / "clone")
    # A newcomer's shell: no virtual environment, no HTCondor, and Python writes its
    # bytecode (without it every job of the demo compiles astropy and Snakemake again).
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("VIRTUAL_ENV", "CONDOR_CONFIG", "PYTHONDONTWRITEBYTECODE")
    }
    env["PATH"] = os.pathsep.join(
        part for part in env.get("PATH", "").split(os.pathsep) if part != os.path.dirname(sys.executable)
    )
    env["PIP_COMPILE"] = "false"  # pip's --no-compile: the run compiles what it imports, not all 7,800 modules
    output = run_block("quick-start", clone, env, timeout=1800)
    for name in ("mosaic.fits", "mosaic_area.fits", "mosaic.png"):
        assert os.path.getsize(os.path.join(clone, "results", "demo", name)) > 0
    assert "CONDOR_CONFIG" not in output  # a local install has no HTCondor bindings to warn


def test_the_test_environment_runs_snakemake_without_warnings(tmp_path):
    # The README's test command installs envs/requirements-dev.txt, on top of the run
    # requirements and not of the pool's: its snakemake warns about nothing.
    env = {key: value for key, value in os.environ.items() if key != "CONDOR_CONFIG"}
    command = [sys.executable, "-m", "snakemake", "-s", os.path.join(REPO, "Snakefile"), "-d", str(tmp_path), "-n"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Warning" not in result.stdout + result.stderr, (result.stdout + result.stderr)[-3000:]


def test_own_images_with_the_example_config_then_its_report(tmp_path):
    clone = copy_of_repository(tmp_path / "clone")
    link_images(os.path.join(clone, "images", "m42_j"))
    output = run_block("own-images", clone, activated(clone))
    assert "my.yaml: valid" in output
    assert os.path.getsize(os.path.join(clone, "results", "m42_j", "mosaic.fits")) > 0
    used = tables.read_tsv(os.path.join(clone, "results", "m42_j", "images.tsv"))
    assert len(used) == 10
    skipped = {
        os.path.basename(r["path"]): r for r in tables.read_tsv(os.path.join(clone, "results", "m42_j", "skipped.tsv"))
    }
    assert skipped["region.hdr"]["kind"] == "ignored"

    # then the per-mosaic performance tables and the HTML report of that run
    run_block("report", clone, activated(clone))
    assert os.path.getsize(os.path.join(clone, "results", "m42_j", "performance.tsv")) > 0
    with open(os.path.join(clone, "report.html"), encoding="utf-8") as handle:
        assert "m42_j" in handle.read()


def test_code_and_data_apart_with_the_profile_found_by_its_path(tmp_path):
    home = tmp_path / "home"
    code = copy_of_repository(home / "mosaicflow")
    link_images(str(home / "orion" / "images" / "m42_j"))
    shutil.copy(home / "mosaicflow" / "config" / "local-example.yaml", home / "orion" / "my.yaml")
    elsewhere = tmp_path / "elsewhere"  # the user's shell is in neither folder
    elsewhere.mkdir()
    # its second line, a dry run for a pool, needs envs/requirements-htcondor.txt
    pool_python = personal_pool.pool_environment(None if os.geteuid() == 0 else getpass.getuser())
    output = run_block("apart", str(elsewhere), activated(code, home, pool_python))
    assert os.path.getsize(home / "orion" / "results" / "m42_j" / "mosaic.fits") > 0
    assert "no profile.yaml" not in output
    assert "Nothing to be done" in output  # the dry run with the pool profile: all built
    assert not os.listdir(elsewhere)


def test_dry_run_and_graphs(tmp_path):
    if shutil.which("dot") is None:
        pytest.skip("graphviz's dot is not installed (Debian package graphviz)")
    clone = copy_of_repository(tmp_path / "clone")
    output = run_block("graphs", clone, activated(clone))
    assert "synthetic_field" in output  # the demo's plan
    for name in ("dag.svg", "rules.svg"):
        with open(os.path.join(clone, name), encoding="utf-8") as handle:
            assert "<svg" in handle.read()

"""The package's bytecode is written once per run, so jobs do not compile it."""

import os
import shutil
import subprocess
import sys

from mosaicflow import bytecode

PACKAGE = os.path.join(os.path.dirname(__file__), os.pardir, "scripts", "mosaicflow")


def copy_of_package(tmp_path):
    folder = tmp_path / "scripts" / "mosaicflow"
    shutil.copytree(PACKAGE, folder, ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def test_jobs_load_the_written_bytecode_even_when_python_writes_none(tmp_path):
    folder = copy_of_package(tmp_path)
    assert bytecode.ensure(str(folder)) == []
    modules = sorted(name for name in os.listdir(folder) if name.endswith(".py"))
    assert sorted(os.listdir(folder / "__pycache__")) == sorted(
        f"{name[:-3]}.{sys.implementation.cache_tag}.pyc" for name in modules
    )
    environment = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(folder.parent)}
    environment.pop("PYTHONPYCACHEPREFIX", None)
    verbose = subprocess.run(
        [sys.executable, "-v", "-c", "import mosaicflow.steps"],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    steps_cache = str(folder / "__pycache__" / f"steps.{sys.implementation.cache_tag}.pyc")
    assert f"code object from '{steps_cache}'" in verbose


def test_changed_sources_are_compiled_again_and_fresh_ones_left(tmp_path):
    folder = copy_of_package(tmp_path)
    bytecode.ensure(str(folder))
    steps = folder / "steps.py"
    cached = folder / "__pycache__" / f"steps.{sys.implementation.cache_tag}.pyc"
    atomic_cache = folder / "__pycache__" / f"atomic.{sys.implementation.cache_tag}.pyc"
    before = atomic_cache.stat().st_mtime_ns
    steps.write_text(steps.read_text() + "\nCHANGED = True\n")
    assert not bytecode.is_fresh(str(steps), str(cached))
    bytecode.ensure(str(folder))
    assert bytecode.is_fresh(str(steps), str(cached))
    assert atomic_cache.stat().st_mtime_ns == before


def test_a_folder_without_room_for_bytecode_is_reported_not_fatal(tmp_path):
    folder = copy_of_package(tmp_path)
    (folder / "__pycache__").write_text("a file where the cache folder would go")
    not_written = bytecode.ensure(str(folder))
    assert "steps.py" in not_written

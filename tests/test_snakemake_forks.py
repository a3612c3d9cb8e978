"""The suite's runs of Snakemake by fork (tests/snakemake_forks.py) give what
``python -m snakemake`` gives: exit status, output, files, environment."""

import os
import subprocess
import sys

import snakemake_forks

SNAKEFILE = """
import os
if os.environ.get("PROBE_IMPORT"):
    import probe_module  # importable only where the run's PYTHONPATH reaches it

rule all:
    input: "out/value.txt", "out/cwd.txt"

rule value:
    output: "out/value.txt"
    shell: "printf %s \\"$PROBE_VALUE\\" > {output}"

rule cwd:
    output: "out/cwd.txt"
    run:
        with open(output[0], "w") as handle:
            handle.write(os.getcwd())

rule broken:
    output: "out/broken.txt"
    shell: "echo the job fails on purpose >&2; exit 3"
"""


def workflow(folder):
    os.makedirs(folder)
    with open(os.path.join(folder, "Snakefile"), "w") as handle:
        handle.write(SNAKEFILE)
    return folder


def run_both_ways(tmp_path, *args, env):
    """``snakemake ARGS`` in two copies of the workflow: [(folder, result)] by fork, then by a new process."""
    command = [sys.executable, "-m", "snakemake", "--cores", "1", *args]
    forked, plain = workflow(str(tmp_path / "forked")), workflow(str(tmp_path / "plain"))
    return [
        (forked, snakemake_forks.run(command, cwd=forked, env=env)),
        (plain, subprocess.run(command, capture_output=True, text=True, cwd=plain, env=env)),
    ]


def read(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def test_a_forked_run_makes_the_files_a_new_process_makes(tmp_path):
    forks = snakemake_forks.SERVER.runs
    (forked, by_fork), (plain, by_process) = run_both_ways(tmp_path, env={**os.environ, "PROBE_VALUE": "42"})
    assert snakemake_forks.SERVER.runs == forks + 1
    assert by_fork.returncode == by_process.returncode == 0, by_fork.stderr[-2000:]
    assert read(os.path.join(forked, "out", "value.txt")) == read(os.path.join(plain, "out", "value.txt")) == "42"
    assert read(os.path.join(forked, "out", "cwd.txt")) == forked
    for result in (by_fork, by_process):
        assert "3 of 3 steps (100%) done" in result.stderr


def test_a_failed_forked_run_fails_as_a_new_process_does(tmp_path):
    forks = snakemake_forks.SERVER.runs
    (_, by_fork), (_, by_process) = run_both_ways(tmp_path, "broken", env=dict(os.environ))
    assert snakemake_forks.SERVER.runs == forks + 1
    assert by_fork.returncode == by_process.returncode == 1
    for result in (by_fork, by_process):
        assert "the job fails on purpose" in result.stderr
        assert "Error in rule broken" in result.stderr


def test_a_run_with_other_interpreter_settings_gets_a_process_of_its_own(tmp_path):
    # the Snakefile's import needs PYTHONPATH in the Snakemake process itself,
    # which a fork of the server would not have
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "probe_module.py").write_text("")
    path = os.pathsep.join(filter(None, [str(modules), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PROBE_VALUE": "7", "PROBE_IMPORT": "1", "PYTHONPATH": path}
    forks = snakemake_forks.SERVER.runs
    (forked, by_fork), _ = run_both_ways(tmp_path, env=env)
    assert snakemake_forks.SERVER.runs == forks
    assert by_fork.returncode == 0, by_fork.stderr[-2000:]
    assert read(os.path.join(forked, "out", "value.txt")) == "7"

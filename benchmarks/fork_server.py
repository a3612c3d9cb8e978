#!/usr/bin/env -S sh -c 'exec "$(dirname "$0")/../.venv/bin/python" "$0" "$@"'
"""CPU of the test suite's forked Snakemake runs (tests/snakemake_forks.py), per run.

    benchmarks/fork_server.py --no-op 10 --fresh 3

Makes the rerun tests' 6-tile field (tests/rerun_world.py, default settings), runs
it once, then times through the suite's fork server: ``--no-op`` runs that find
nothing to do and ``--fresh`` runs after the field's results, logs and
``.snakemake`` were removed. Prints the mean CPU seconds of the server's
children (the forked runs and the jobs they waited for, from
``/proc/<server>/stat``) and the mean wall seconds per run. The work folder is
removed at the end.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

TESTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests")
sys.path.insert(0, TESTS)

import snakemake_forks  # noqa: E402  (the suite's module, from tests/)
from rerun_world import World, render_pool  # noqa: E402


def children_cpu(pid):
    """CPU seconds of the process's waited-for children (cutime + cstime)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def timed(world, runs, before_each=None):
    server = snakemake_forks.SERVER.process.pid
    cpu, start = children_cpu(server), time.perf_counter()
    for _ in range(runs):
        if before_each:
            before_each()
        result = world.rerun()
        if result.returncode != 0:
            raise SystemExit(result.stderr[-3000:])
    return (children_cpu(server) - cpu) / runs, (time.perf_counter() - start) / runs


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-op", type=int, default=10, help="runs with nothing to do (default 10)")
    parser.add_argument("--fresh", type=int, default=3, help="runs from no results (default 3)")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="fork-server-")
    try:
        render_pool(os.path.join(folder, "pool"))
        world = World(os.path.join(folder, "world"), os.path.join(folder, "pool"), seed=1, jobs="defaults")
        if world.rerun().returncode != 0:
            raise SystemExit("the field's first run failed")

        def remove_outputs():
            for name in ("results", "logs", ".snakemake"):
                shutil.rmtree(os.path.join(world.workflow.workdir, name), ignore_errors=True)

        for label, runs, before_each in (("no-op", args.no_op, None), ("fresh", args.fresh, remove_outputs)):
            cpu, wall = timed(world, runs, before_each)
            print(f"{label}: {cpu:.2f} CPU-s, {wall:.2f} s wall per run ({runs} runs)")
    finally:
        snakemake_forks.SERVER.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env -S sh -c 'exec "$(dirname "$0")/../.venv/bin/python" "$0" "$@"'
"""Run one mosaic with profiles/local and with profiles/htcondor, and tabulate.

    benchmarks/local_vs_htcondor.py --columns 6 --rows 4

Needs HTCondor's binaries (``condor_master`` on PATH or ``$CONDOR_BIN``): a
personal pool is started on 127.0.0.1 for the run (as in the tests) and
stopped afterwards. Prints, for each profile, the wall time, the number of
Snakemake jobs and of Condor jobs, and the summed job time per stage, and
checks that the two mosaics are identical.
"""

import argparse
import glob
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "scripts"))
sys.path.insert(0, os.path.join(REPO, "tests"))

import numpy as np  # noqa: E402
import yaml  # noqa: E402
from astropy.io import fits  # noqa: E402

from htcondor_pool import PersonalPool, copy_workflow, find_condor_master  # noqa: E402
from mosaicflow import tables  # noqa: E402


def per_stage(work):
    stages = {}
    for path in glob.glob(os.path.join(work, "results", "*", "benchmarks", "**", "*.tsv"), recursive=True):
        rule = os.path.relpath(path, os.path.join(work, "results")).split(os.sep)[2].removesuffix(".tsv")
        count, seconds = stages.get(rule, (0, 0.0))
        stages[rule] = (count + 1, seconds + float(tables.read_tsv(path)[0]["s"]))
    return stages


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--columns", type=int, default=6)
    parser.add_argument("--rows", type=int, default=4)
    parser.add_argument("--status-interval", default="2", help="seconds between status checks on the pool")
    args = parser.parse_args()
    master = find_condor_master()
    if master is None:
        sys.exit("HTCondor is not installed: no condor_master on PATH and CONDOR_BIN is not set")

    source = {"type": "synthetic", "columns": args.columns, "rows": args.rows, "seed": 5}
    step_deg = 512 * 0.88 / 3600
    region = {"center": "83.82 -5.39", "width": step_deg * args.columns, "height": 2 * step_deg * args.rows}
    config = {"mosaics": {"compare": {"source": source, "region": region}}}

    pool = PersonalPool(master)
    results, mosaics = {}, {}
    try:
        pool.start()
        for profile in ("local", "htcondor"):
            snakefile = copy_workflow(os.path.join(pool.root, profile, "workflow"))
            work = os.path.join(pool.root, profile, "work")
            os.makedirs(work)
            with open(os.path.join(work, "config.yaml"), "w") as handle:
                yaml.safe_dump(config, handle)
            pool.chown(os.path.join(pool.root, profile))
            argv = [
                pool.python,
                "-m",
                "snakemake",
                "-s",
                snakefile,
                "-d",
                work,
                "--configfile",
                os.path.join(work, "config.yaml"),
                "--profile",
                os.path.join(os.path.dirname(snakefile), "profiles", profile),
                "--quiet",
            ]
            if profile == "local":
                argv += ["--cores", "2"]
            else:
                argv += ["--seconds-between-status-checks", args.status_interval]
            before = len(pool.history())
            start = time.perf_counter()
            pool.run(argv, cwd=work)
            wall = time.perf_counter() - start
            condor_jobs = len(pool.history()) - before
            results[profile] = (wall, per_stage(work), condor_jobs)
            mosaics[profile] = fits.getdata(os.path.join(work, "results", "compare", "mosaic.fits"))
    finally:
        pool.stop()
    identical = np.array_equal(mosaics["local"], mosaics["htcondor"], equal_nan=True)

    print(
        f"field: {args.columns} x {args.rows} synthetic tiles (512 x 1024 px); {os.cpu_count()} CPUs, "
        f"personal pool on this machine; mosaics identical: {identical}"
    )
    print(f"{'':22s} {'local':>18s} {'htcondor':>18s}")
    print(f"{'wall time (s)':22s} {results['local'][0]:18.1f} {results['htcondor'][0]:18.1f}")
    jobs = {p: sum(c for c, _ in r[1].values()) for p, r in results.items()}
    print(f"{'Snakemake jobs':22s} {jobs['local']:18d} {jobs['htcondor']:18d}")
    print(f"{'Condor jobs':22s} {'-':>18s} {results['htcondor'][2]:18d}")
    print("summed job time per stage (s):")
    rules = sorted(set(results["local"][1]) | set(results["htcondor"][1]), key=lambda r: -results["local"][1][r][1])
    for rule in rules:
        local = results["local"][1].get(rule, (0, 0.0))[1]
        pooled = results["htcondor"][1].get(rule, (0, 0.0))[1]
        print(f"  {rule:20s} {local:18.2f} {pooled:18.2f}")


if __name__ == "__main__":
    main()

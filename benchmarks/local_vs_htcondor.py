#!/usr/bin/env -S sh -c 'exec "$(dirname "$0")/../.venv/bin/python" "$0" "$@"'
"""Run one mosaic locally and on a personal HTCondor pool, and say where the pool's time goes.

    benchmarks/local_vs_htcondor.py --columns 4 --rows 3 --status-intervals 15 5 2 1

Needs HTCondor's binaries (``condor_master`` on PATH or ``$CONDOR_BIN``): a
personal pool is started on 127.0.0.1 for the run (as in the tests, with
2-second negotiation) and stopped afterwards. For each run: the wall time, the
Condor jobs, and from the pool's job event log the seconds during which some
job was waiting in the queue (submitted, not started), some job was running,
and no job was in the pool at all (Snakemake starting, planning, running its
local rules, or not yet having noticed that a job ended: the status check).
The mosaics of all runs must be identical.
"""

import argparse
import datetime
import glob
import os
import re
import sys
import time

import numpy as np
import yaml
from astropy.io import fits

from mosaicflow.files import layout
from mosaicflow.operations.personal_pool import PersonalPool, find_condor_master

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

EVENT = re.compile(r"^(\d{3}) \((\d+)\.(\d+)\.\d+\) (\S+) (\S+)")
LAYOUTS = {
    "defaults": {},
    "per-item": {"projection": {"jobs": "image"}, "background": {"fit_jobs": "overlap", "correct_jobs": "image"}},
}


def job_intervals(event_log):
    """[(submitted, started or None, ended)] per Condor job, in seconds since the epoch."""
    jobs = {}
    with open(event_log) as handle:
        for line in handle:
            match = EVENT.match(line)
            if not match:
                continue
            code, cluster, proc, day, clock = match.groups()
            when = datetime.datetime.fromisoformat(f"{day}T{clock}").timestamp()
            job = jobs.setdefault((cluster, proc), {})
            if code == "000":
                job["submitted"] = when
            elif code == "001":
                job.setdefault("started", when)
            elif code in ("005", "009"):
                job["ended"] = when
    return [(j["submitted"], j.get("started"), j["ended"]) for j in jobs.values() if "ended" in j]


def covered(intervals):
    """Seconds of the union of [start, end) intervals."""
    total, reach = 0.0, None
    for start, end in sorted(intervals):
        if reach is None or start > reach:
            total += end - start
            reach = end
        elif end > reach:
            total += end - reach
            reach = end
    return total


def breakdown(event_log, wall):
    jobs = job_intervals(event_log)
    running = covered([(s, e) for _, s, e in jobs if s is not None])
    in_pool = covered([(q, e) for q, _, e in jobs])
    return {
        "condor jobs": len(jobs),
        "queued only": in_pool - running,
        "running": running,
        "no job in pool": wall - in_pool,
    }


def run_once(pool, name, config, profile, status_interval):
    snakefile = pool.workflow_copy(os.path.join(pool.root, name, "workflow"))
    work = os.path.join(pool.root, name, "work")
    os.makedirs(work)
    with open(os.path.join(work, "config.yaml"), "w") as handle:
        yaml.safe_dump(config, handle)
    pool.chown(os.path.join(pool.root, name))
    argv = [pool.python, "-m", "snakemake", "-s", snakefile, "-d", work, "--configfile", "config.yaml"]
    argv += ["--profile", os.path.join(os.path.dirname(snakefile), "profiles", profile), "--quiet"]
    if status_interval is not None:
        argv += ["--seconds-between-status-checks", str(status_interval)]
    start = time.perf_counter()
    result = pool.run(argv, cwd=work, check=False)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"the {name} run failed:\n{result.stderr[-4000:]}")
    row = {"wall": wall}
    if profile == "htcondor":
        row.update(breakdown(os.path.join(work, ".snakemake", "htcondor", "snakemake-rules.log"), wall))
    mosaic = fits.getdata(glob.glob(os.path.join(work, layout.path("*", "mosaic")))[0])
    return row, mosaic


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--columns", type=int, default=4)
    parser.add_argument("--rows", type=int, default=3)
    parser.add_argument("--layout", choices=sorted(LAYOUTS), default="defaults")
    parser.add_argument(
        "--status-intervals", nargs="+", default=["profile"], help="seconds between status checks ('profile': its own)"
    )
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    master = find_condor_master()
    if master is None:
        sys.exit("HTCondor is not installed: no condor_master on PATH and CONDOR_BIN is not set")

    source = {"type": "synthetic", "columns": args.columns, "rows": args.rows, "seed": 5}
    step_deg = 512 * 0.88 / 3600
    region = {"center": "83.82 -5.39", "width": step_deg * args.columns, "height": 2 * step_deg * args.rows}
    config = {"mosaics": {"compare": {"source": source, "region": region, **LAYOUTS[args.layout]}}}

    pool = PersonalPool(master)
    rows, mosaics = [], []
    try:
        pool.start()
        for repeat in range(args.repeats):
            for interval in [None, *args.status_intervals]:
                profile = "local" if interval is None else "htcondor"
                seconds = None if interval in (None, "profile") else int(interval)
                row, mosaic = run_once(pool, f"{profile}-{interval}-{repeat}", config, profile, seconds)
                row["run"] = "local (--cores 2)" if interval is None else f"pool, status every {interval} s"
                rows.append(row)
                mosaics.append(mosaic)
    finally:
        pool.stop()
    identical = all(np.array_equal(mosaics[0], m, equal_nan=True) for m in mosaics[1:])
    print(
        f"{args.columns} x {args.rows} synthetic tiles, layout {args.layout}; {os.cpu_count()} CPUs, personal pool "
        f"on this machine (negotiation every 2 s); mosaics identical: {identical}\n"
    )
    columns = ["wall", "condor jobs", "queued only", "running", "no job in pool"]
    print("| run | " + " | ".join(f"{c} (s)" if c != "condor jobs" else c for c in columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for row in rows:
        cells = [f"{row[c]:.1f}" if isinstance(row.get(c), float) else str(row.get(c, "-")) for c in columns]
        print(f"| {row['run']} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

#!/bin/sh
# Counts JobScheduler rounds and re-evaluation timers on plain Snakemake
# (default --max-jobs-per-timespan 100/1s). Pass "fixed" to run with at most
# one re-evaluation timer pending (the suggested fix), for comparison.
# Usage: sh run.sh [fixed]   (PYTHON=/path/to/python to pick an interpreter)
set -e
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
cp "$here/Snakefile" "$work/"
cd "$work"
"${PYTHON:-python}" - "${1:-plain}" <<'PY'
import sys, threading, time
import snakemake, snakemake.cli
from snakemake.scheduling.job_scheduler import JobScheduler

mode = sys.argv[1]
count = {"rounds": 0, "timers": 0}
finish_jobs = JobScheduler._finish_jobs
schedule_reevaluation = JobScheduler._schedule_reevalutation

def counted_finish_jobs(self):  # called once at the start of every round
    count["rounds"] += 1
    return finish_jobs(self)

def counted_reevaluation(self, delay):
    count["timers"] += 1
    return schedule_reevaluation(self, delay)

lock = threading.Lock()
def one_pending_timer(self, delay):  # the suggested fix
    with lock:
        if getattr(self, "_timer_pending", False):
            return
        self._timer_pending = True
    count["timers"] += 1
    def fire():
        with lock:
            self._timer_pending = False
        self._open_jobs.release()
    threading.Timer(delay, fire).start()

JobScheduler._finish_jobs = counted_finish_jobs
JobScheduler._schedule_reevalutation = one_pending_timer if mode == "fixed" else counted_reevaluation
start = time.time()
try:
    snakemake.cli.main(["--cores", "2", "--scheduler", "greedy", "--quiet"])
finally:
    print(f"snakemake {snakemake.__version__} ({mode}): 200 jobs, "
          f"{count['rounds']} scheduler rounds, {count['timers']} re-evaluation timers started, "
          f"{time.time() - start:.1f} s wall, {time.process_time():.1f} s CPU of the Snakemake process")
PY
rm -rf "$work"

#!/bin/sh
# Counts the input paths whose size JobScheduler.update_input_sizes looks up
# (an exists() and a size() call each) on plain Snakemake.
# Usage: sh run.sh [plain|fixed|one-timer]   (PYTHON=/path/to/python to pick an interpreter)
#   fixed:     look up only sizes not known yet (the suggested fix)
#   one-timer: keep at most one re-evaluation timer pending (see ../scheduler-timers),
#              to show the lookups grow with the ready jobs times the rounds either way
set -e
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
cp "$here/Snakefile" "$work/"
cd "$work"
mkdir in
for i in $(seq 0 199); do for x in a b c; do echo "$i" > "in/$i.$x"; done; done
"${PYTHON:-python}" - "${1:-plain}" <<'PY'
import asyncio, sys, threading, time
import snakemake, snakemake.cli
from snakemake.scheduling.job_scheduler import JobScheduler

mode = sys.argv[1]
count = {"rounds": 0, "calls": 0, "lookups": 0, "seconds": 0.0}
paths_seen = set()
update_input_sizes = JobScheduler.update_input_sizes
finish_jobs = JobScheduler._finish_jobs

def counted_finish_jobs(self):  # called once at the start of every round
    count["rounds"] += 1
    return finish_jobs(self)

async def counted_update_input_sizes(self, jobs):  # Snakemake's, counted
    paths = {path for job in jobs for path in job.input}
    count["calls"] += 1
    count["lookups"] += len(paths)
    paths_seen.update(paths)
    start = time.perf_counter()
    await update_input_sizes(self, jobs)
    count["seconds"] += time.perf_counter() - start

async def fixed_update_input_sizes(self, jobs):  # the suggested fix, counted
    start = time.perf_counter()
    async def get_size(path):
        return path, await path.size() if await path.exists() else None
    paths = {path for job in jobs for path in job.input}
    unknown = {path for path in paths if self._input_sizes.get(path) is None}
    count["calls"] += 1
    count["lookups"] += len(unknown)
    paths_seen.update(paths)
    if unknown:
        self._input_sizes.update(await asyncio.gather(*[get_size(p) for p in unknown]))
    if len(self._input_sizes) > 10000:
        for path in [p for p in self._input_sizes if p not in paths]:
            del self._input_sizes[path]
    count["seconds"] += time.perf_counter() - start

lock = threading.Lock()
def one_pending_timer(self, delay):
    with lock:
        if getattr(self, "_timer_pending", False):
            return
        self._timer_pending = True
    def fire():
        with lock:
            self._timer_pending = False
        self._open_jobs.release()
    threading.Timer(delay, fire).start()

JobScheduler._finish_jobs = counted_finish_jobs
JobScheduler.update_input_sizes = fixed_update_input_sizes if mode == "fixed" else counted_update_input_sizes
if mode == "one-timer":
    JobScheduler._schedule_reevalutation = one_pending_timer
try:
    snakemake.cli.main(["--cores", "2", "--scheduler", "greedy", "--quiet"])
finally:
    print(f"snakemake {snakemake.__version__} ({mode}): 200 jobs, {len(paths_seen)} distinct input files, "
          f"{count['rounds']} scheduler rounds, {count['calls']} update_input_sizes calls, "
          f"{count['lookups']} input size lookups ({count['seconds']:.2f} s in update_input_sizes), "
          f"{time.process_time():.1f} s CPU of the Snakemake process")
PY
rm -rf "$work"

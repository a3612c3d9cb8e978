"""Workarounds for Snakemake's scheduler cost on fields of hundreds of images.

Snakemake's own process shares the cores with the Montage jobs, and two things
in Snakemake 9's JobScheduler made its cost per job grow with the field:

- Re-evaluation timers multiply. Every scheduling round that leaves a job
  waiting starts a 1 s timer (for the --max-jobs-per-timespan limit) whose
  round starts another, so each finished job adds a timer chain that lasts
  while jobs wait: 200 trivial jobs on 2 cores took 1,159 rounds instead of
  ~200. ``_schedule_reevalutation`` now keeps at most one timer pending.
- Every round looks up the size of every input of every ready job
  (``update_input_sizes``), although a ready job's inputs are finished files;
  with 200 corrections ready, ~600 lookups per round. Sizes are now read once
  per job.

Together they took Snakemake's CPU on a 200-tile field from ~30 s to ~9 s
(docs/results/2026-12-07.md, section 6). Neither changes which jobs run or what they make: the
timer only wakes the scheduler, and sizes only order jobs of equal priority.
Each replacement is installed only when Snakemake's method is, character for
character, the one it replaces (sha256 of its source); any other version keeps
its own.
"""

import asyncio
import hashlib
import inspect
import os
import textwrap
import threading

# Snakemake also forgets sizes beyond this many paths (memory bound).
FORGET_ABOVE = 10000

_timer_lock = threading.Lock()


async def update_input_sizes(self, jobs):
    """Snakemake's method, reading the input sizes of each ready job once."""

    async def get_size(path):
        return path, await path.size() if await path.exists() else None

    # id -> job of the ready jobs whose sizes are read; holding the job keeps its
    # id from being reused. Only jobs still ready are held: a job leaves the
    # ready set when it starts and never comes back, so what is held is bounded
    # by the ready jobs, not by the run.
    sized = self.__dict__.get("_mosaicflow_sized_jobs", {})
    if len(self._input_sizes) > FORGET_ABOVE:
        self._input_sizes.clear()
        sized = {}
    new = [job for job in jobs if id(job) not in sized]
    unknown = {path for job in new for path in job.input if self._input_sizes.get(path) is None}
    if unknown:
        self._input_sizes.update(await asyncio.gather(*[get_size(path) for path in unknown]))
    self._mosaicflow_sized_jobs = {id(job): job for job in jobs}


def _schedule_reevalutation(self, delay):
    """Snakemake's method, with at most one re-evaluation timer pending.

    A daemon timer: a pending re-evaluation must not hold the finished
    workflow's process open.
    """
    with _timer_lock:
        if self.__dict__.get("_mosaicflow_timer_pending"):
            return
        self._mosaicflow_timer_pending = True

    def reevaluate():
        with _timer_lock:
            self._mosaicflow_timer_pending = False
        self._open_jobs.release()

    timer = threading.Timer(delay, reevaluate)
    timer.daemon = True
    timer.start()


SWITCH = "MOSAICFLOW_SCHEDULER_WORKAROUNDS"
# The Snakemake release the replaced methods come from (envs/requirements.txt pins it).
SNAKEMAKE = "9.27.1"
# method name -> (sha256 of the dedented source replaced, as in SNAKEMAKE; the replacement)
REPLACEMENTS = {
    "update_input_sizes": ("a27e948a050e0add633bb98e5fd39cea60642ec9806206e7fdb464dc80187b0c", update_input_sizes),
    "_schedule_reevalutation": (
        "045057b7dc8d3f7da96703848752a880563fd8af2b1bc9f9f78bb61a0b21ed2e",
        _schedule_reevalutation,
    ),
}

applied = set()


def source_sha256(method):
    """sha256 of a function's dedented source, or None if it has none."""
    try:
        source = textwrap.dedent(inspect.getsource(method))
    except (OSError, TypeError):
        return None
    return hashlib.sha256(source.encode()).hexdigest()


def apply():
    """Install each replacement whose Snakemake original is the code we read.

    Returns the names of the methods replaced (so far, in this process).
    ``MOSAICFLOW_SCHEDULER_WORKAROUNDS=off`` in the environment installs none
    (to measure Snakemake's own scheduler)."""
    if os.environ.get(SWITCH) == "off":
        return applied
    try:
        from snakemake.scheduling.job_scheduler import JobScheduler
    except ImportError:
        return applied
    for name, (expected, replacement) in REPLACEMENTS.items():
        if name in applied:
            continue
        if source_sha256(getattr(JobScheduler, name, None)) == expected:
            setattr(JobScheduler, name, replacement)
            applied.add(name)
    return applied


def describe():
    """One line for the start of a run: which workarounds are active, and why not."""
    import snakemake

    if applied:
        return f"Snakemake {snakemake.__version__}: scheduler workarounds active ({', '.join(sorted(applied))})"
    if os.environ.get(SWITCH) == "off":
        return f"Snakemake {snakemake.__version__}: scheduler workarounds off ({SWITCH}=off)"
    return (
        f"Snakemake {snakemake.__version__}: scheduler workarounds not active (written for Snakemake {SNAKEMAKE}; "
        "this version's methods differ), Snakemake's own scheduler runs"
    )

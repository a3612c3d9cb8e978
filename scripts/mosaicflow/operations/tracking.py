"""The state of runs, read for the monitor and the watcher: the job tracking
database, and whether a Snakemake holds a working directory's lock.

Runs started with the profiles' ``logger: [snkmt]`` line record every job in
the SQLite database of snakemake-logger-plugin-snkmt (``workflows``, ``rules``,
``jobs``, ``files``, ``errors``; the schema of the pinned version). This module
only reads it, read-only, so it never holds the lock a running Snakemake
needs, and adds what the plugin does not store: the mosaic and stage of each
job, its attempt (the plugin writes a new row each time Snakemake starts a job
again), the HTCondor cluster of a job (from the executor's per-job output
file names), and the tail of a failed job's log. Standard library only.
"""

import functools
import glob
import json
import os
import re
import sqlite3
from datetime import UTC, datetime

from ..reports.rule_stages import STAGE_NAMES, STAGE_OF_RULE

LOG_TAIL_LINES = 25


def default_database():
    """Where the plugin writes when the profile gives no path (its own default)."""
    from snkmt.core.db import SNKMT_DIR

    return os.path.join(str(SNKMT_DIR), "snkmt.db")


def locked(workdir):
    """Whether a Snakemake holds the working directory (a run killed by SIGKILL leaves its lock too)."""
    try:
        return bool(os.listdir(os.path.join(workdir, ".snakemake", "locks")))
    except OSError:
        return False


def connect(path):
    """A read-only connection, or None while no run has created the database."""
    if not os.path.exists(path):
        return None
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    connection.row_factory = sqlite3.Row
    return connection


def _time(text):
    """The plugin's naive UTC timestamps as ISO 8601 with a zone."""
    if not text:
        return None
    return datetime.fromisoformat(text).replace(tzinfo=UTC).isoformat(timespec="seconds")


class Index:
    """Which runs wrote under a working directory, and each of their jobs' logs.

    The plugin's tables have no index but their row ids, and rows are only
    ever added, so each ``update`` reads just the file rows added since the
    last: a poll every two seconds stays cheap on a database of many runs."""

    def __init__(self, workdir):
        self.prefix = os.path.realpath(workdir).rstrip("/") + "/"
        self.runs, self.logs, self.seen = {}, {}, 0  # runs: run id -> its first job's row id

    def update(self, connection):
        newest = connection.execute("SELECT max(id) FROM files").fetchone()[0] or 0
        rows = connection.execute(
            """SELECT f.job_id, f.path, f.file_type, j.workflow_id FROM files f JOIN jobs j ON j.id = f.job_id
               WHERE f.id > ? AND f.id <= ? AND substr(f.path, 1, ?) = ? ORDER BY f.id""",
            (self.seen, newest, len(self.prefix), self.prefix),
        )
        for job_id, path, kind, run_id in rows:
            self.runs[run_id] = min(job_id, self.runs.get(run_id, job_id))
            if kind == "LOG":
                self.logs.setdefault(job_id, []).append(path)
        self.seen = newest


def runs(connection, index, limit=20):
    """The latest runs of the index's working directory (newest first)."""
    index.update(connection)
    known = sorted(index.runs)
    rows = connection.execute(
        f"""SELECT id, started_at, end_time, status, total_job_count, jobs_finished FROM workflows
            WHERE dryrun = 0 AND id IN ({",".join("?" * len(known))}) ORDER BY started_at DESC LIMIT ?""",
        (*known, limit),
    ).fetchall()
    return [
        {
            "id": row["id"],
            "started": _time(row["started_at"]),
            "ended": _time(row["end_time"]),
            "status": row["status"],
            "total": row["total_job_count"],
            "finished": row["jobs_finished"],
        }
        for row in rows
    ]


def jobs(connection, run_id, index):
    """Every job of one run, one entry per Snakemake job (its last attempt)."""
    rows = connection.execute(
        """SELECT j.id, j.snakemake_id, r.name AS rule, j.wildcards, j.status, j.priority,
                  j.started_at, j.end_time, j.resources
           FROM jobs j JOIN rules r ON r.id = j.rule_id
           WHERE j.id >= ? AND j.workflow_id = ? ORDER BY j.id""",
        (index.runs.get(run_id, 0), run_id),
    ).fetchall()
    by_id = {}
    for row in rows:
        wildcards = json.loads(row["wildcards"] or "{}")
        previous = by_id.get(row["snakemake_id"])
        attempt = json.loads(row["resources"] or "{}").get("attempt_number")
        by_id[row["snakemake_id"]] = {
            "jobid": row["snakemake_id"],
            "rule": row["rule"],
            "stage": STAGE_OF_RULE.get(row["rule"], row["rule"]),
            "mosaic": wildcards.get("mosaic"),
            "wildcards": wildcards,
            "state": row["status"],
            "priority": row["priority"],
            "started": _time(row["started_at"]),
            "ended": _time(row["end_time"]),
            # Snakemake's own attempt number; else the plugin's rows, one per start.
            "attempts": attempt or ((previous["attempts"] + 1) if previous else 1),
            "logs": index.logs.get(row["id"], []),
        }
    return list(by_id.values())


def log_tail(path, lines=LOG_TAIL_LINES):
    """The last lines of a job's log ('' when it is missing)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 16384))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def condor_cluster(jobdir, job):
    """The HTCondor cluster of a job, from the executor's output file
    RULE/RULE-JOBID_CLUSTER.err under its job folder (None when not on a pool).

    A grouped job runs inside its group's Condor job, whose output file is
    GROUP_RULE/GROUP_RULE-UUID_CLUSTER.err: that is the one whose Snakemake was
    started with this job (its rule and wildcards) among its ``--target-jobs``.
    Snakemake numbers jobs anew in every run, so of several matches the one
    written during the job's time is taken."""
    if not jobdir or not os.path.isdir(jobdir):
        return None
    begun = datetime.fromisoformat(job["started"]).timestamp() if job["started"] else 0
    direct = glob.glob(os.path.join(jobdir, job["rule"], f"{job['rule']}-{job['jobid']}_*.err"))
    best = _earliest(direct, begun)
    if best is None:
        wanted = (job["rule"], tuple(sorted((k, str(v)) for k, v in (job.get("wildcards") or {}).items())))
        grouped = glob.glob(os.path.join(jobdir, f"*_{job['rule']}", f"*_{job['rule']}-*_*.err"))
        best = _earliest([path for path in grouped if wanted in _target_jobs(path, os.path.getmtime(path))], begun)
    return best


def _earliest(paths, begun):
    """The lowest cluster number among executor output files written since ``begun``."""
    best = None
    for path in paths:
        cluster = os.path.basename(path)[: -len(".err")].rsplit("_", 1)[1]
        if not cluster.isdigit() or os.path.getmtime(path) < begun - 1:
            continue
        best = cluster if best is None or int(cluster) < int(best) else best
    return best


@functools.lru_cache(maxsize=4096)
def _target_jobs(path, mtime):
    """{(rule, sorted wildcards)} a Condor job's Snakemake was started with
    (``--target-jobs RULE:NAME=VALUE,... ...`` in the header of its output)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            head = handle.read(65536)
    except OSError:
        return frozenset()
    found = re.search(r"--target-jobs (.*?) --", head)
    jobs = set()
    for spec in found.group(1).split() if found else ():
        rule, _, values = spec.partition(":")
        pairs = (item.split("=", 1) for item in values.split(",") if "=" in item)
        jobs.add((rule, tuple(sorted((name, value) for name, value in pairs))))
    return frozenset(jobs)


def mosaic_view(run_jobs):
    """Per mosaic: job counts by state, the stage it is in, and its priority."""
    view = {}
    for job in run_jobs:
        if not job["mosaic"]:
            continue
        entry = view.setdefault(
            job["mosaic"],
            {"done": 0, "running": 0, "failed": 0, "stage": None, "stage_index": -1, "priority": None},
        )
        state = {"SUCCESS": "done", "RUNNING": "running", "ERROR": "failed"}.get(job["state"])
        if state:
            entry[state] += 1
        index = STAGE_NAMES.index(job["stage"]) if job["stage"] in STAGE_NAMES else -1
        # The stage is the furthest one reached; running work there counts first.
        if index > entry["stage_index"] or (index == entry["stage_index"] and state == "running"):
            entry["stage"], entry["stage_index"] = job["stage"], index
        if job["state"] == "RUNNING" and job["priority"] is not None:
            entry["priority"] = max(entry["priority"] or 0, job["priority"])
    return view

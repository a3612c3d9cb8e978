"""The live web monitor: one page over the job tracking database.

Serves ``monitor.html`` and, as JSON at ``/api/state``, what an operator
needs of the latest runs in one working directory: per run the jobs done,
running and failed; per mosaic (field) the same counts, the stage it is in,
the priority of its running jobs, its row of ``results/summary.tsv`` (the
file-based truth), the tails of its failed jobs' logs and its preview PNG
(``/preview/NAME.png``) once made, and its HiPS with the page that browses it
(``/sky/NAME/``, Aladin Lite from ``/viewer/``) once made. It only reads: runs do not know it exists,
so a run goes on whether or not a monitor is up. Standard library only (the
database is read with sqlite3, see ``tracking``).
"""

import json
import os
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse

from ..files import layout
from ..files.tables import read_tsv
from ..reports.summary import PATH as SUMMARY_PATH
from . import tracking

PAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "monitor.html")
# The workflow's folder, where the optional viewer is installed (layout.VIEWER).
WORKFLOW = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".png": "image/png",
    ".fits": "application/fits",
    ".js": "text/javascript",
    "": "text/plain; charset=utf-8",
}
FAILED_JOBS_SHOWN = 5


def _summary(workdir):
    try:
        return {row["name"]: row for row in read_tsv(os.path.join(workdir, SUMMARY_PATH)) if row["kind"] == "mosaic"}
    except (OSError, KeyError, ValueError):
        return {}


def _field_state(entry, row, run_active):
    """queued / running / done / failed, or the summary's word when no run is building it."""
    status = row.get("status") if row else None
    if entry["failed"] or status == "failed":
        return "failed"
    if entry["running"]:
        return "running"
    if run_active and status in (None, "running"):
        return "queued"
    if status in ("complete", "partial"):
        return "done"
    return status or ("done" if entry["done"] else "idle")


def _preview(workdir, name):
    path = os.path.join(workdir, layout.path(name, "preview"))
    try:
        return f"/preview/{name}.png?v={os.stat(path).st_mtime_ns}"
    except OSError:
        return None


def _hips(workdir, name):
    page = os.path.join(workdir, layout.path(name, "hips"), "index.html")
    return layout.HIPS_URL.format(mosaic=name) if os.path.exists(page) else None


def state(database, workdir, condor_jobdir=None, index=None):
    """Everything the page shows, as one JSON-ready dict (``index``: a tracking.Index kept between calls)."""
    index = index or tracking.Index(workdir)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    summary = _summary(workdir)
    base = {"now": now, "database": database, "workdir": workdir, "stages": tracking.STAGE_NAMES}
    connection = tracking.connect(database)
    if connection is None:
        return base | {"runs": [], "run": None, "mosaics": _mosaics({}, [], summary, workdir, False, condor_jobdir)}
    with connection:
        runs = tracking.runs(connection, index)
        latest = runs[0] if runs else None
        run_jobs = tracking.jobs(connection, latest["id"], index) if latest else []
    connection.close()
    active = bool(latest) and latest["status"] == "RUNNING" and tracking.locked(workdir)
    run = None
    if latest:
        counts = {"done": 0, "running": 0, "failed": 0}
        for job in run_jobs:
            key = {"SUCCESS": "done", "RUNNING": "running", "ERROR": "failed"}.get(job["state"])
            if key:
                counts[key] += 1
        running = [job for job in run_jobs if job["state"] == "RUNNING"]
        for job in running:
            job["cluster"] = tracking.condor_cluster(condor_jobdir, job)
        run = latest | counts | {"active": active, "running_jobs": running[:50]}
    mosaics = _mosaics(tracking.mosaic_view(run_jobs), run_jobs, summary, workdir, active, condor_jobdir)
    return base | {"runs": runs, "run": run, "mosaics": mosaics}


def _mosaics(view, run_jobs, summary, workdir, active, condor_jobdir):
    shown = []
    for name in sorted(set(view) | set(summary)):
        entry = view.get(name) or {"done": 0, "running": 0, "failed": 0, "stage": None, "priority": None}
        row = summary.get(name)
        failed = [job for job in run_jobs if job["mosaic"] == name and job["state"] == "ERROR"]
        failed_jobs = []
        for job in failed[:FAILED_JOBS_SHOWN]:
            log = job["logs"][0] if job["logs"] else None
            failed_jobs.append(
                {
                    "rule": job["rule"],
                    "wildcards": job["wildcards"],
                    "attempts": job["attempts"],
                    "ended": job["ended"],
                    "cluster": tracking.condor_cluster(condor_jobdir, job),
                    "log": os.path.relpath(log, workdir) if log else None,
                    "tail": tracking.log_tail(log) if log else "",
                }
            )
        shown.append(
            {
                "name": name,
                "state": _field_state(entry, row, active),
                "stage": entry["stage"],
                "done": entry["done"],
                "running": entry["running"],
                "failed": entry["failed"],
                "failed_total": len(failed),
                "priority": entry["priority"],
                "summary": row,
                "preview": _preview(workdir, name),
                "hips": _hips(workdir, name),
                "failed_jobs": failed_jobs,
            }
        )
    # The fields that need an operator's eye first.
    order = {"failed": 0, "running": 1, "queued": 2}
    return sorted(shown, key=lambda field: (order.get(field["state"], 3), field["name"]))


class _Handler(BaseHTTPRequestHandler):
    server_version = "mosaicflow-monitor"

    def do_GET(self):  # noqa: N802 (http.server's name)
        url = urlparse(self.path)
        if url.path in ("/", "/index.html"):
            with open(PAGE, "rb") as handle:
                self._send(200, "text/html; charset=utf-8", handle.read())
        elif url.path == "/api/state":
            with self.server.index_lock:
                found = state(self.server.database, self.server.workdir, self.server.condor_jobdir, self.server.index)
            body = json.dumps(found)
            self._send(200, "application/json", body.encode())
        elif url.path.startswith("/preview/") and url.path.endswith(".png"):
            self._preview(unquote(url.path[len("/preview/") : -len(".png")]))
        elif url.path.startswith("/sky/"):
            self._hips(unquote(url.path[len("/sky/") :]))
        elif url.path == layout.VIEWER_URL:
            self._file(os.path.join(self.server.workflow, layout.VIEWER), "the viewer is not installed (README: HiPS)")
        else:
            self._send(404, "text/plain", b"not found")

    def _preview(self, name):
        # Only a mosaic's own preview: the name must be a mosaic the workdir knows.
        known = set(_summary(self.server.workdir))
        if "/" in name or name.startswith(".") or name not in known:
            self._send(404, "text/plain", b"no such mosaic")
            return
        try:
            with open(os.path.join(self.server.workdir, layout.path(name, "preview")), "rb") as handle:
                # The URL carries the file's mtime, so a cached copy is never stale.
                self._send(200, "image/png", handle.read(), cache="max-age=86400")
        except OSError:
            self._send(404, "text/plain", b"no preview yet")

    def _hips(self, rest):
        # Only files inside a mosaic's own HiPS folder, or a composite's colour HiPS
        # (/sky/color/NAME/: no mosaic is named "color"): no "..", no hidden files.
        if rest.startswith(layout.COLOURS + "/"):
            self._colour_hips(rest[len(layout.COLOURS) + 1 :])
            return
        name, _, inside = rest.partition("/")
        parts = [part for part in inside.split("/") if part]
        known = set(_summary(self.server.workdir))
        if name not in known or any(part.startswith(".") for part in parts):
            self._send(404, "text/plain", b"no such HiPS")
            return
        if not rest.count("/"):
            self.send_response(301)
            self.send_header("Location", layout.HIPS_URL.format(mosaic=name))
            self.end_headers()
            return
        folder = os.path.join(self.server.workdir, layout.path(name, "hips"))
        self._file(os.path.join(folder, *parts) if parts else os.path.join(folder, "index.html"), "not in the HiPS")

    def _colour_hips(self, rest):
        name, _, inside = rest.partition("/")
        parts = [part for part in inside.split("/") if part]
        if not parts or any(part.startswith(".") for part in [name, *parts]):
            self._send(404, "text/plain", b"no such colour HiPS")
            return
        folder = os.path.join(self.server.workdir, layout.colour_hips(name))
        self._file(os.path.join(folder, *parts), "not in the colour HiPS")

    def _file(self, path, missing):
        try:
            with open(path, "rb") as handle:
                body = handle.read()
        except OSError:
            self._send(404, "text/plain", missing.encode())
            return
        kind = CONTENT_TYPES.get(os.path.splitext(path)[1], CONTENT_TYPES[""])
        self._send(200, kind, body, cache="max-age=60")

    def _send(self, code, kind, body, cache="no-store"):
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", cache)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):  # noqa: A002 (http.server's signature)
        pass  # one line per poll every two seconds would drown the server's own messages


def server(database, workdir, host="127.0.0.1", port=8800, condor_jobdir=None):
    """The monitor's HTTP server (call serve_forever on it)."""
    httpd = ThreadingHTTPServer((host, port), _Handler)
    httpd.daemon_threads = True
    httpd.database = os.path.abspath(database)
    httpd.workdir = os.path.realpath(workdir)
    httpd.workflow = WORKFLOW
    httpd.condor_jobdir = os.path.join(httpd.workdir, condor_jobdir) if condor_jobdir else None
    httpd.index, httpd.index_lock = tracking.Index(httpd.workdir), threading.Lock()
    return httpd

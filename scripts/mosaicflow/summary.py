"""The run summary: one row per mosaic and colour composite, with its status.

Written by the workflow's onsuccess/onerror handlers, so that it also exists
when some fields failed under --keep-going. Standard library only.
"""

import os

from .atomic import write_text
from .tables import format_tsv

COLUMNS = ["name", "kind", "status", "outputs", "reason"]


def mosaic_status(name, results="results", logs="logs"):
    outputs = [os.path.join(results, name, f) for f in ("mosaic.fits", "mosaic_area.fits", "mosaic.png")]
    return _status(outputs, os.path.join(logs, name))


def colour_status(name, results="results", logs="logs"):
    return _status([os.path.join(results, "color", f"{name}.png")], os.path.join(logs, "color"), prefix=name)


def _status(outputs, log_dir, prefix=""):
    if all(os.path.exists(path) for path in outputs):
        return "complete", outputs, ""
    reason = _first_error(log_dir, prefix)
    return ("failed" if reason else "incomplete"), [p for p in outputs if os.path.exists(p)], reason


def _first_error(log_dir, prefix):
    """The first 'error:' line of the most recent logs under ``log_dir``."""
    found = []
    for root, _, files in os.walk(log_dir):
        for name in files:
            if name.endswith(".log") and name.startswith(prefix):
                path = os.path.join(root, name)
                found.append((os.path.getmtime(path), path))
    for _, path in sorted(found, reverse=True):
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("error:"):
                    step = os.path.relpath(path, log_dir)
                    return f"{step}: {line[len('error:') :].strip()}"[:500]
    return ""


def write_summary(mosaics, colours, path="results/summary.tsv"):
    rows = []
    for name in mosaics:
        status, outputs, reason = mosaic_status(name)
        rows.append({"name": name, "kind": "mosaic", "status": status, "outputs": " ".join(outputs), "reason": reason})
    for name in colours:
        status, outputs, reason = colour_status(name)
        rows.append({"name": name, "kind": "colour", "status": status, "outputs": " ".join(outputs), "reason": reason})
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_text(path, format_tsv(COLUMNS, rows))
    return rows

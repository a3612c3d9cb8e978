"""The run summary: one row per mosaic and colour composite, with its status.

Written when a run starts (mosaics with work to do are ``running``; a run
killed before it ends leaves that word) and again when it ends, also after
failures (--keep-going). The status comes from what Snakemake planned and
did in this run, not from which files exist: a mosaic is ``complete`` only
when every one of its outputs was checked by this run and no job of it is
left undone, so a stale mosaic beside a failed rerun is never ``complete``.

Statuses:
  complete     every output is current and every usable image is in the mosaic
  broken       made, but its quality report calls it broken: its coverage
               collapsed, a seam remains or matching made the overlaps worse
               (``reason`` says which; quality.html shows it in red)
  partial      current, but some images failed to project (see
               failed_images.tsv); they are tried again on the next run
  failed       a job of this mosaic failed; ``reason`` is the first error
               line of its log
  incomplete   work is left that did not fail (the run stopped early)
  running      written at the start of a run; still there if it was killed
  not-checked  this run did not build (all) its outputs, so it cannot say

Standard library only.
"""

import os

from ..files import layout
from ..files.atomic import write_text
from ..files.tables import format_tsv, read_tsv

PATH = layout.run_path("summary")  # the file-based truth of what each run left
COLUMNS = [
    "name",
    "kind",
    "status",
    "outputs",
    "reason",
    "images_used",
    "bad_files",
    "images_skipped",
    "images_failed",
]


def mosaic_outputs(name):
    """Every product of a mosaic; a run that did not target all of them cannot call it complete."""
    return layout.products(name)


def colour_outputs(name):
    return [layout.colour_png(name)]


class JobState:
    """What one run knows of one mosaic's jobs: the files they make, the
    logs of those left undone, and whether it is still to run them."""

    def __init__(self):
        self.outputs = set()
        self.undone_logs = []
        self.undone = 0


def status(outputs, state, started, running=False):
    """(status, reason) of one mosaic or composite with final ``outputs``."""
    if state is None or not set(outputs) <= state.outputs:
        missing = [os.path.basename(p) for p in outputs if state is None or p not in state.outputs]
        return "not-checked", "not a target of this run: " + ", ".join(missing)
    if state.undone:
        if running:
            return "running", ""
        reason = _first_error(state.undone_logs, started)
        if reason is not None:
            return "failed", reason
        return "incomplete", f"{state.undone} jobs not run (the run stopped before them)"
    return "complete", ""


def _first_error(logs, started):
    """The first 'error:' line of the logs written since ``started``; '' when a
    log was written without one; None when no log of them was written."""
    written = None
    for path in sorted(logs):
        try:
            if os.path.getmtime(path) < started:
                continue
            with open(path, encoding="utf-8", errors="replace") as handle:
                lines = handle.read().splitlines()
        except OSError:
            continue
        written = written or f"see {path}"
        for line in lines:
            if line.startswith("error:"):
                return f"{path}: {line[len('error:') :].strip()}"[:500]
    return written


def _count_rows(path):
    try:
        return len(read_tsv(path))
    except (OSError, ValueError, IndexError):
        return ""


def _broken(name):
    """The quality report's reason when it calls the mosaic broken, else None."""
    try:
        rows = read_tsv(layout.path(name, "quality"))
    except (OSError, ValueError, IndexError):
        return None
    verdict = {row["metric"]: row["value"] for row in rows if row["section"] == "verdict"}
    return verdict.get("reason") or "the quality report calls it broken" if verdict.get("status") == "broken" else None


def _count_bad(path):
    from ..sources.inputs import BAD_KINDS

    try:
        return sum(row["kind"] in BAD_KINDS for row in read_tsv(path))
    except (OSError, ValueError, IndexError, KeyError):
        return ""


def mosaic_row(name, state, started, running=False):
    outputs = mosaic_outputs(name)
    label, reason = status(outputs, state, started, running)
    counts = {
        "images_used": _count_rows(layout.path(name, "images")),
        "bad_files": _count_bad(layout.path(name, "skipped")),
        "images_skipped": _count_rows(layout.path(name, "skipped")),
        "images_failed": _count_rows(layout.path(name, "failed")),
    }
    if label == "complete":
        reasons = []
        broken = _broken(name)
        if broken:
            reasons.append(f"{broken} (see {layout.path(name, 'quality_html')})")
        if counts["images_failed"]:
            reasons.append(
                f"{counts['images_failed']} of {counts['images_used']} images failed to project and are "
                f"left out (see {layout.path(name, 'failed')}); the next run tries them again"
            )
        if reasons:
            label, reason = "broken" if broken else "partial", "; ".join(reasons)
    present = [p for p in outputs if os.path.exists(p)]
    return {"name": name, "kind": "mosaic", "status": label, "outputs": " ".join(present), "reason": reason, **counts}


def colour_row(name, state, started, running=False):
    outputs = colour_outputs(name)
    label, reason = status(outputs, state, started, running)
    present = [p for p in outputs if os.path.exists(p)]
    return {"name": name, "kind": "colour", "status": label, "outputs": " ".join(present), "reason": reason}


def write_summary(mosaic_states, colour_states, started, running=False, path=PATH):
    """Write the summary: one row per mosaic, then per composite, each given
    as name -> its JobState in this run (None: no job of it in this run)."""
    rows = [mosaic_row(name, state, started, running) for name, state in mosaic_states.items()]
    rows += [colour_row(name, state, started, running) for name, state in colour_states.items()]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_text(path, format_tsv(COLUMNS, rows))
    return rows

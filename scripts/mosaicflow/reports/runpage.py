"""The HTML report's landing page: the workflow's description, then the run's
summary and where its time went.

Written by the main Snakemake process at the end of every run
(``rules/run_state.smk``), beside ``results/summary.tsv``:
``results/performance.tsv`` (per stage, summed over every mosaic's benchmark
records), ``results/summary.html`` (both as tables) and ``results/report.rst``
(the description in ``report/workflow.rst`` with that page inserted), which the
Snakefile gives to ``snakemake --report`` when it exists. Nothing here runs as
a job, so the default target pays nothing for it. Standard library only.
"""

import os

from ..files import atomic, layout, tables
from . import performance
from .qualitypage import escape, table
from .rule_stages import STAGES

SUMMARY_COLUMNS = [
    ("name", "name"),
    ("kind", "kind"),
    ("status", "status"),
    ("images_used", "images used"),
    ("bad_files", "bad files"),
    ("images_skipped", "skipped"),
    ("images_failed", "failed"),
    ("reason", "reason"),
]
PERFORMANCE_COLUMNS = [
    ("stage", "stage"),
    ("jobs", "jobs"),
    ("wall_total_s", "job time (s)"),
    ("wall_max_s", "longest job (s)"),
    ("cpu_total_s", "CPU (s)"),
    ("max_rss_mb", "largest memory (MB)"),
]


FLOW_STYLE = (
    "display:flex;flex-wrap:wrap;align-items:center;gap:4px 0;margin:0.5em 0 1em 0;font-size:90%",
    "border:1px solid #8aa;border-radius:4px;padding:4px 8px;background:#f4f8f8;min-width:7em",
    "padding:0 6px;color:#577",
)


def stage_flow():
    """The steps a mosaic goes through, left to right, each with the rules doing it.

    Snakemake's own rule graph in the report draws a rule once per DAG depth
    (docs/upstream.md); this is the workflow's plan at a glance.
    """
    row, box, arrow = FLOW_STYLE
    parts = []
    for index, (stage, rules) in enumerate(STAGES):
        if index:
            parts.append(f'<span style="{arrow}">&rarr;</span>')
        # not <code>: the report's style puts backticks around it
        names = "<br>".join(f'<span style="font-family:monospace">{escape(rule)}</span>' for rule in rules)
        parts.append(f'<div class="stage" style="{box}"><b>{escape(stage)}</b><br>{names}</div>')
    return f'<div id="stage-flow" style="{row}">' + "".join(parts) + "</div>"


# Where the monitor (scripts/monitor.py) answers by default: it serves each HiPS's page.
MONITOR = "http://127.0.0.1:8800"


def fragment(summary_rows, performance_rows, hips=()):
    """The HTML inserted into the landing page (``hips``: the mosaics that have a HiPS)."""
    parts = ['<h3 id="run-summary">This run</h3>', table(SUMMARY_COLUMNS, summary_rows, "summary-table")]
    parts += ['<h3 id="stages">How a mosaic is made</h3>', stage_flow()]
    if hips:
        links = ", ".join(
            f'<a class="hips" href="{escape(MONITOR + layout.HIPS_URL.format(mosaic=name))}">{escape(name)}</a>'
            for name in hips
        )
        parts.append(
            f'<p id="hips-links">Browse as HiPS: {links} (served by <code>python scripts/monitor.py</code>,'
            " started in the run's folder; the page needs nothing from the network).</p>"
        )
    parts.append('<h3 id="run-performance">Time per stage</h3>')
    if performance_rows:
        parts.append(
            "<p>Summed over the jobs of every mosaic, from Snakemake's benchmark record of each job "
            f"(its last run); also in {escape(layout.run_path('performance'))}. Jobs shorter than "
            "Snakemake's sampling interval show no CPU or memory.</p>"
        )
        parts.append(table(PERFORMANCE_COLUMNS, performance_rows, "performance-table"))
    else:
        parts.append("<p>No job has been measured yet.</p>")
    return "\n".join(parts) + "\n"


def write(summary_rows, mosaics, description):
    """Write performance.tsv, summary.html and report.rst for ``mosaics``; returns the performance rows.

    ``description`` is the path of the workflow's report description (``report/workflow.rst``).
    """
    rows = performance.summarise(*[layout.path(name, "benchmarks") for name in mosaics])
    tables.write_tsv(layout.run_path("performance"), performance.COLUMNS, rows)
    page = layout.run_path("run_page")
    hips = [name for name in mosaics if os.path.exists(os.path.join(layout.path(name, "hips"), "index.html"))]
    atomic.write_text(page, fragment(summary_rows, rows, hips))
    with open(description, encoding="utf-8") as handle:
        text = handle.read().rstrip("\n")
    # docutils reads the page itself (after Snakemake's template step, so file names stay text).
    directive = f"\n\n.. raw:: html\n   :file: {page}\n"
    atomic.write_text(layout.run_path("landing_page"), text + directive)
    return rows


def landing_page(description):
    """What ``snakemake --report`` should show first: the run's page once a run wrote it."""
    page, inserted = layout.run_path("landing_page"), layout.run_path("run_page")
    return os.path.abspath(page) if os.path.exists(page) and os.path.exists(inserted) else description

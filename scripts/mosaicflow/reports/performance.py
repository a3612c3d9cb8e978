"""Per-stage accounting of a mosaic's jobs, from Snakemake's benchmark files.

Every rule writes results/MOSAIC/benchmarks/RULE[/ITEM].tsv; this sums them
per stage (of one mosaic, or of every mosaic of the run): jobs, total and mean
wall seconds, CPU seconds and the largest resident memory. Wall times are
exact; Snakemake only samples CPU and memory (see ``job_usage`` for what that
misses), so the figures the workflow's own jobs write at the end of their
logs (``job_usage``) are used instead where present: the CPU as measured, the
memory the larger of the two (Snakemake's samples sum processes that ran at
once).
"""

import glob
import os

from ..files import layout, tables
from ..files.atomic import commit, temp_path_for
from . import job_usage

COLUMNS = ["stage", "jobs", "wall_total_s", "wall_mean_s", "wall_max_s", "cpu_total_s", "max_rss_mb"]


def _number(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0  # "NA" for jobs too short to sample


def _records(benchmarks_dirs):
    """(stage, path, its job's log) of every benchmark file under the folders."""
    for folder in benchmarks_dirs:
        logs = layout.log_dir_of_benchmarks(folder)
        for path in glob.glob(os.path.join(folder, "**", "*.tsv"), recursive=True):
            record = os.path.relpath(path, folder).removesuffix(".tsv")
            yield record.split(os.sep)[0], path, os.path.join(logs, record + ".log")


def summarise(*benchmarks_dirs):
    """Rows of COLUMNS, one per stage, over the benchmark records in the folders, slowest first."""
    stages = {}
    for stage, path, log in _records(benchmarks_dirs):
        try:
            records = tables.read_tsv(path)
        except (OSError, ValueError, IndexError):
            continue  # a record a killed job left unfinished
        # one record per job run (benchmark repeats would share one log)
        measured = job_usage.read(log) if len(records) == 1 else None
        for row in records:
            entry = stages.setdefault(stage, {"walls": [], "cpu": 0.0, "rss": 0.0})
            entry["walls"].append(_number(row.get("s")))
            entry["cpu"] += measured["cpu_s"] if measured else _number(row.get("cpu_time"))
            own_rss = measured["max_rss_mb"] if measured else 0.0
            entry["rss"] = max(entry["rss"], _number(row.get("max_rss")), own_rss)
    rows = []
    for stage, entry in sorted(stages.items(), key=lambda kv: -sum(kv[1]["walls"])):
        walls = entry["walls"]
        rows.append(
            {
                "stage": stage,
                "jobs": len(walls),
                "wall_total_s": f"{sum(walls):.3f}",
                "wall_mean_s": f"{sum(walls) / len(walls):.3f}",
                "wall_max_s": f"{max(walls):.3f}",
                "cpu_total_s": f"{entry['cpu']:.2f}",
                "max_rss_mb": f"{entry['rss']:.1f}",
            }
        )
    return rows


def write(benchmarks_dir, table_path, plot_path, title):
    rows = summarise(benchmarks_dir)
    tables.write_tsv(table_path, COLUMNS, rows)
    plot(rows, plot_path, title)
    return rows


def plot(rows, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages = [row["stage"] for row in rows][::-1]
    figure, (walls, memory) = plt.subplots(1, 2, figsize=(10, 0.35 * len(stages) + 1.8), sharey=True)
    walls.barh(stages, [float(row["wall_total_s"]) for row in rows][::-1], color="tab:blue")
    walls.set_xlabel("summed job wall time (s)")
    for y, row in enumerate(rows[::-1]):
        walls.annotate(f" {row['jobs']} jobs", (float(row["wall_total_s"]), y), va="center", fontsize=8)
    memory.barh(stages, [float(row["max_rss_mb"]) for row in rows][::-1], color="tab:orange")
    memory.set_xlabel("largest job memory (MB; 0 = too short to sample)")
    figure.suptitle(title)
    figure.tight_layout()
    temp = temp_path_for(path, suffix=".png")
    figure.savefig(temp, dpi=100)
    plt.close(figure)
    commit(temp, path)

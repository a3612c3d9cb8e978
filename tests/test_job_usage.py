"""A job's own CPU and peak memory in its log, and the per-job accounting that prefers them
to Snakemake's sampled benchmark figures."""

import os
import subprocess
import sys

import pytest

from mosaicflow.files import layout
from mosaicflow.reports import job_usage, performance

# A job that works 0.6 CPU-s itself, holds 200 MB, and waits for a child that works 0.4 CPU-s.
CHILD = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.4: pass"
JOB = f"""
import subprocess, sys, time
from mosaicflow.reports import job_usage

def busy(seconds):
    start = time.process_time()
    while time.process_time() - start < seconds:
        pass

held = bytearray(200 * 2**20)
for at in range(0, len(held), 4096):
    held[at] = 1
busy(0.6)
subprocess.run([sys.executable, "-c", {CHILD!r}], check=True)
print("25 images projected")
print(job_usage.line())
"""


# The job started as Snakemake starts one: forked (not vforked) from a process
# larger than the job, then exec'd; the parent's size is not the job's.
PARENT = """
import os, sys
big = bytearray(1200 * 2**20)
for at in range(0, len(big), 4096):
    big[at] = 1
log = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
pid = os.fork()
if pid == 0:
    os.dup2(log, 1)
    os.execv(sys.executable, [sys.executable, "-c", sys.argv[2]])
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def test_usage_line_counts_the_job_and_the_children_it_waited_for(tmp_path):
    log = tmp_path / "job.log"
    subprocess.run([sys.executable, "-c", PARENT, str(log), JOB], check=True)
    measured = job_usage.read(str(log))
    assert 1.0 <= measured["cpu_s"] < 3.0, measured
    assert 200 <= measured["max_rss_mb"] < 400, measured


def test_usage_read_takes_the_last_line_and_what_it_cannot_read_is_none(tmp_path):
    log = tmp_path / "job.log"
    log.write_text(
        "job usage: cpu_s=1.000 max_rss_mb=10.0\n" + "x" * 200_000 + "\njob usage: cpu_s=20.060 max_rss_mb=155.5\n"
        "a library's buffered output, flushed at exit\n"
    )
    assert job_usage.read(str(log)) == {"cpu_s": 20.06, "max_rss_mb": 155.5}
    assert job_usage.read(str(tmp_path / "missing.log")) is None
    log.write_text("error: the table names no images\n")
    assert job_usage.read(str(log)) is None
    log.write_text("job usage: cpu_s=twenty\n")
    assert job_usage.read(str(log)) is None


@pytest.mark.parametrize("rule, item", [("coadd", None), ("project", "batch-0"), ("difference_fit", "batch-3")])
@pytest.mark.parametrize("base", ["", "/srv/run", "runs/results/old"])
def test_log_dir_of_benchmarks_follows_the_layout(rule, item, base):
    bench = os.path.join(base, layout.benchmark_pattern(rule, item).format(mosaic="m31"))
    log = os.path.join(base, layout.log_pattern(rule, item).format(mosaic="m31"))
    benchmarks_dir = os.path.join(base, layout.path("m31", "benchmarks"))
    record = os.path.relpath(bench, benchmarks_dir).removesuffix(".tsv")
    assert os.path.join(layout.log_dir_of_benchmarks(benchmarks_dir), record + ".log") == log


BENCHMARK_HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def test_accounting_takes_the_jobs_own_figures_over_snakemakes_samples(tmp_path):
    """Snakemake recorded 12.8 CPU-s for a job that used 20.06 (its samples stop 15 s in);
    the job's log says 20.06. A job without the line (an older run) keeps its samples."""
    bench_dir = tmp_path / "results" / "m31" / "benchmarks"
    (bench_dir / "project").mkdir(parents=True)
    (bench_dir / "project" / "batch-0.tsv").write_text(
        BENCHMARK_HEADER + "23.19\t0:00:23\t16.38\t20\t7\t8\t0\t0\t53\t12.80\n"
    )
    (bench_dir / "project" / "batch-1.tsv").write_text(
        BENCHMARK_HEADER + "22.00\t0:00:22\t300.00\t20\t7\t8\t0\t0\t53\t11.00\n"
    )
    (bench_dir / "coadd.tsv").write_text(BENCHMARK_HEADER + "0.40\t0:00:00\tNA\tNA\tNA\tNA\tNA\tNA\tNA\tNA\n")
    (tmp_path / "logs" / "m31" / "project").mkdir(parents=True)
    (tmp_path / "logs" / "m31" / "project" / "batch-0.log").write_text(
        "25 images projected\njob usage: cpu_s=20.060 max_rss_mb=155.5\n"
    )
    (tmp_path / "logs" / "m31" / "coadd.log").write_text("job usage: cpu_s=0.390 max_rss_mb=18.0\n")
    rows = {row["stage"]: row for row in performance.summarise(str(bench_dir))}
    assert rows["project"]["cpu_total_s"] == "31.06"  # 20.06 measured + 11.00 sampled
    assert rows["project"]["max_rss_mb"] == "300.0"  # the larger of both kinds
    assert rows["coadd"]["cpu_total_s"] == "0.39" and rows["coadd"]["max_rss_mb"] == "18.0"

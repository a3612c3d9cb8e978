#!/usr/bin/env -S sh -c 'exec "$(dirname "$0")/../.venv/bin/python" "$0" "$@"'
"""Scale benchmark: the workflow against Montage's single-process chain, 50 to 800+ tiles (issue 6).

    benchmarks/scale.py                               # fields of 50, 200 and 800 tiles
    benchmarks/scale.py --tiles 200 --dense 200       # a plain and a dense (~6 deep) field
    benchmarks/scale.py --dry-run-images 300 1000     # dry runs without pixels (no --tiles fields)
    benchmarks/scale.py --tiles 200 --reruns 200      # plus a no-op and a one-image-changed rerun
    benchmarks/scale.py --tiles 10000 --tile-size 128x128 --no-chain --solver lsq --target all
                                                      # 10,000 small tiles end to end, every output

Measurements (each prints its numbers next to the issue's target):

full runs (--tiles, --dense)
    Synthetic fields of real-size tiles (512 x 1024 px, 1"/px; --stars-per-tile stars each) are made
    once and cached under WORKDIR/fields (generation is not timed). For each field the workflow runs
    from scratch (``snakemake --cores N``, a local source with an automatic region, in
    WORKDIR/runs/FIELD), then Montage's chain (benchmarks/montage_chain.py, --iterations as the
    workflow's default) on the same linked inputs and region header, in a separate Python process.
    Both start with the field's files read once into the page cache (as the chain, run second,
    would find them anyway).
    A plain field is a grid with 12% overlap (each point 1-4 tiles deep); a dense field has 60%
    overlap in both directions, so each point lies in ~6 tiles and the difference fits dominate.
    --tile-size makes smaller tiles (fields cached as FIELD-WxH), --no-chain times the workflow
    alone (the chain's mBgModel at 100000 iterations takes about an hour at 10,000 tiles), and
    --solver lsq sets the workflow's background.solver. Target: wall time workflow / chain <= 0.6.
    Like for like by default: the workflow is asked for
    mosaic.fits only (--target mosaic; --target all adds the PNG and the quality report, which the
    chain does not make) with the workflow's default background.fit_jobs: batch and correct_jobs: coadd
    (--fit-jobs overlap and --correct-jobs image: one job per overlap and per image); the
    settings are printed and recorded in the CSV's variant column.

dry runs without pixels (--dry-run-images)
    A working folder that looks like a finished image table and projection of N images: zero-byte
    raw files, results/dry/{images.tsv, skipped.tsv, raw.tbl, inputs/ links, region.hdr,
    projected/, projected.tbl, failed_images.tsv, overlaps.tbl, overlaps_skipped.tsv} with
    consistent mtimes, so both checkpoints count as
    done and the DAG expands one job per image and per overlap (grid layout, ~4 overlaps per
    image; --dry-run-layout dense: ~12 per image, as in a dense field). Timed: ``snakemake -n``
    (lists the per-overlap fits, per-image corrections and the jobs after them), ``snakemake --dag``
    (the whole DAG, including the done projections), then, after creating zero-byte outputs for
    every job the dry run listed, ``snakemake -n`` and a real ``snakemake --cores N`` with nothing
    to do. This folder has no .snakemake metadata (a real rerun also reads it).
    Targets: dry run of 1,000 images <= 10 s; no-op run of 300 images <= 3 s.

reruns (--reruns [N], default 200 tiles)
    After a full run of that field: ``snakemake --cores N`` again with nothing changed, then after
    rewriting one raw tile in place (new pixel values, same header and WCS; the cached tile is
    restored afterwards). Target: no-op rerun of 300 images <= 3 s.

--tiles defaults to 50 200 800 only when no other measurement is asked for; ``--tiles`` with no
number runs no plain field. Do not run the large fields on a busy machine: the 800-tile field needs
~40 GB of disk while it is measured (~16 MB per tile and a ~5 GB mosaic with its area image, once for
the workflow and once for the chain; each field's run folder is deleted after it is measured unless
--keep), 1.6 GB for its cached tiles, and takes tens of minutes.

Output: a table per measurement on stdout; every number also appended to --csv (one row per
measurement, system and stage, with the date, host, CPU count and load average at the start of the
measurement); a PNG (--png) of the latest result per field from the whole CSV.

CSV columns (--csv):
  date, host, cpus         when and where; cpus = os.cpu_count()
  load1, load5, load15     os.getloadavg() just before the measurement
  snakemake, cores         Snakemake's version; --cores
  measurement              full, dry-run, dag, noop-dry-run, noop-run, rerun-noop, rerun-one-image
  field, layout            e.g. grid-200, dense-200, tables-1000; grid or dense
  images, overlaps         images used (images.tsv) and overlap pairs (overlaps.tbl)
  system                   workflow or chain
  stage                    total, or a workflow rule / chain stage
  jobs                     jobs run (benchmark records written during the run); dry runs: jobs
                           listed; dag: jobs in the DAG
  wall_s                   total: wall time. Workflow stage: summed job seconds of the rule (from its
                           benchmark records). Chain stage: the stage's time in run_chain
  cpu_s                    total: user+system CPU of the whole process tree (os.wait4 rusage: Snakemake
                           and every job). Workflow stage: summed psutil cpu_time of the rule's jobs,
                           0 for jobs shorter than Snakemake's sampling period. Chain stage: its CPU
                           time (getrusage)
  peak_rss_mb              total: the largest single process of the tree (rusage maxrss), MiB.
                           Workflow stage: max of the rule's max_rss (0 or tiny for short jobs).
                           Chain stage: VmHWM of the chain process during the stage
  start_rss_mb             chain stage: the process's RSS when the stage began (part of its peak:
                           MontagePy does not give all memory back)
  disk_mb                  du of the run's results/ (workflow) or of the chain's folder at the end, MiB
  peak_disk_mb             total: the most the filesystem's used space grew while the run lasted
                           (statvfs every 0.2 s; includes temporary files deleted before the end), MiB
  ratio                    workflow / chain wall time
  target, meets_target     the issue's target; yes, no, or n/a when the target is for another size
                           and the result does not decide it
"""

import argparse
import csv
import datetime
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass

from mosaicflow.files import tables
from mosaicflow.files.layout import FILES, RESULTS, in_folder, mosaic_dir
from mosaicflow.files.layout import path as result_path
from mosaicflow.reports.rule_stages import STAGES as RULE_STAGES
from mosaicflow.sky import region, synth
from mosaicflow.sources import inputs

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SCRIPTS = os.path.join(REPO, "scripts")
SNAKEFILE = os.path.join(REPO, "Snakefile")

MOSAIC = "bench"
DRY_MOSAIC = "dry"
# What the workflow runs are asked for (set from the command line in main): the
# mosaic's background settings and the target ("all", or "mosaic": only
# mosaic.fits, the product the chain makes, without the PNG and quality report).
VARIANT = {"projection": {}, "background": {}, "target": "all"}
TILE_WIDTH, TILE_HEIGHT = 512, 1024
OVERLAP = {"grid": 0.12, "dense": 0.6}
RATIO_TARGET = 0.6
DRY_RUN_TARGET = (1000, 10.0)  # images, seconds
NOOP_TARGET = (300, 3.0)
# Workflow rules in pipeline order (mosaicflow.reports.rule_stages), each followed by the
# chain's own steps that no rule of its own does; the chain's name where it differs.
CHAIN_AFTER = {"projected_table": ("overlaps",), "background_correct": ("corrected_table",)}
STAGES = [name for _, rules in RULE_STAGES for rule in rules for name in (rule, *CHAIN_AFTER.get(rule, ()))]
CHAIN_STAGE = {"background_correct": "background"}
CSV_COLUMNS = [
    "date",
    "host",
    "cpus",
    "load1",
    "load5",
    "load15",
    "snakemake",
    "cores",
    "measurement",
    "field",
    "layout",
    "images",
    "overlaps",
    "system",
    "stage",
    "jobs",
    "wall_s",
    "cpu_s",
    "peak_rss_mb",
    "start_rss_mb",
    "disk_mb",
    "peak_disk_mb",
    "ratio",
    "target",
    "meets_target",
    "variant",
]
MB = 2**20


# ---- running things and measuring them ----------------------------------------------


@dataclass
class Run:
    wall: float  # s
    cpu: float  # s, user + system of the process and its waited-for descendants
    peak_mb: float  # largest single process of the tree (rusage maxrss)
    returncode: int
    log: str
    peak_disk_mb: float = math.nan  # growth of the filesystem's used space at its peak


class DiskPeak:
    """Peak growth of a filesystem's used space while a run lasts, sampled every 0.2 s.

    statvfs is one system call (a du of thousands of files would load the machine being
    measured); it counts every writer on that filesystem, so measure on an otherwise idle one.
    The temporary files a run deletes before it ends are what this sees and a final du does not.
    """

    def __init__(self, folder, period=0.2):
        self.folder, self.period = folder, period
        self.start = self.peak = self._used()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _used(self):
        stat = os.statvfs(self.folder)
        return (stat.f_blocks - stat.f_bfree) * stat.f_frsize

    def _sample(self):
        while not self._stop.wait(self.period):
            self.peak = max(self.peak, self._used())

    def stop(self):
        """Peak growth since the start, MiB."""
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._used())
        return (self.peak - self.start) / MB


def run_measured(command, cwd, log_path, env=None):
    """Run ``command`` with its output in ``log_path``; wall time and rusage of its process tree.

    os.wait4 gives the child's rusage including every descendant it waited for (on Linux), so
    each run is measured on its own, unlike RUSAGE_CHILDREN, whose maxrss never goes down.
    """
    with open(log_path, "w") as log:
        disk = DiskPeak(cwd)
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        peak_disk = disk.stop()
    process.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    return Run(wall, cpu, usage.ru_maxrss / 1024, process.returncode, log_path, peak_disk)


def snakemake_command(run_dir, cores, *extra, snakemake_args=()):
    return [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        SNAKEFILE,
        "-d",
        run_dir,
        "--configfile",
        os.path.join(run_dir, "config.yaml"),
        "--cores",
        str(cores),
        *extra,
        *snakemake_args,
    ]


def run_workflow(run_dir, cores, *extra, log_name="snakemake.log", snakemake_args=(), check=True, mosaic=MOSAIC):
    target = "all" if VARIANT["target"] == "all" else result_path(mosaic, "mosaic")
    # the target first: --quiet takes optional words and would swallow it
    command = snakemake_command(run_dir, cores, target, "--quiet", "all", *extra, snakemake_args=snakemake_args)
    run = run_measured(command, run_dir, os.path.join(run_dir, log_name))
    if check and run.returncode != 0:
        fail(f"snakemake failed ({run.returncode}) in {run_dir}", run.log)
    return run


def fail(message, log=None):
    if log and os.path.exists(log):
        with open(log, errors="replace") as handle:
            tail = handle.read()[-4000:]
        message += f"\n--- last lines of {log} ---\n{tail}"
    sys.exit(message)


def load():
    return os.getloadavg()


def _spin(count=20_000_000):
    total = 0
    for number in range(count):
        total += number
    return total


def parallel_capacity(processes, rounds=5):
    """How many times one process's pure-CPU work ``processes`` processes get done at once
    (median of ``rounds``): 2.0 on two real cores, less where virtual CPUs share a core or a
    busy host. The workflow's best possible ratio to the single-process chain is about its
    inverse; printed with every run so the ratios can be read against it."""
    import multiprocessing
    import statistics

    context = multiprocessing.get_context("fork")

    def timed(count):
        workers = [context.Process(target=_spin) for _ in range(count)]
        start = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        return time.perf_counter() - start

    factors = []
    for _ in range(rounds):
        alone, together = timed(1), timed(processes)
        factors.append(processes * alone / together)
    return statistics.median(factors), min(factors), max(factors)


def warm_page_cache(folder):
    """Read every file in ``folder`` once, so that the run measured next starts, as the
    chain after it does, with its inputs in memory (on this VM a cold 2 MB tile takes
    ~36 ms to read, a cached one 0.4 ms)."""
    for entry in os.scandir(folder):
        if entry.is_file():
            with open(entry.path, "rb") as handle:
                while handle.read(1 << 22):
                    pass


def disk_mb(folder):
    """Disk used by a folder (like ``du -s``: allocated blocks, links not followed), MiB."""
    total = 0
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except FileNotFoundError:
                pass
    return total / MB


def benchmark_files(run_dir):
    """{path: mtime_ns} of the rules' benchmark records."""
    found = {}
    for root, _, files in os.walk(os.path.join(run_dir, RESULTS)):
        if f"{os.sep}{FILES['benchmarks']}" not in root + os.sep:
            continue
        for name in files:
            if name.endswith(".tsv"):
                path = os.path.join(root, name)
                found[path] = os.stat(path).st_mtime_ns
    return found


def _number(text):
    try:
        value = float(text)
    except (TypeError, ValueError):
        return 0.0
    return value if math.isfinite(value) else 0.0


def per_rule(run_dir, before=None):
    """{rule: {jobs, s, cpu, rss}} from benchmark records written since ``before`` (a benchmark_files())."""
    stages = {}
    base = os.path.join(run_dir, RESULTS)
    for path, mtime in benchmark_files(run_dir).items():
        if before is not None and before.get(path) == mtime:
            continue
        parts = os.path.relpath(path, base).split(os.sep)  # MOSAIC/benchmarks/RULE[.tsv]/...
        if len(parts) < 3 or parts[1] != FILES["benchmarks"]:
            continue
        rule = parts[2].removesuffix(".tsv")
        try:
            row = tables.read_tsv(path)[0]
        except (OSError, IndexError, ValueError):
            continue
        entry = stages.setdefault(rule, {"jobs": 0, "s": 0.0, "cpu": 0.0, "rss": 0.0})
        entry["jobs"] += 1
        entry["s"] += _number(row.get("s"))
        entry["cpu"] += _number(row.get("cpu_time"))
        entry["rss"] = max(entry["rss"], _number(row.get("max_rss")))
    return stages


def ordered(names):
    known = [s for s in STAGES if s in names]
    return known + sorted(set(names) - set(known))


# ---- synthetic fields (cached) --------------------------------------------------------


def field_layout(tiles, tile_size=(TILE_WIDTH, TILE_HEIGHT)):
    width, height = tile_size
    columns = max(1, round(math.sqrt(tiles * height / width)))  # a squarish field
    return columns, max(1, math.ceil(tiles / columns))


def parse_tile_size(text):
    """``WxH`` in pixels, e.g. ``128x128``."""
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"tile size {text!r}: expected WIDTHxHEIGHT in pixels, e.g. 128x128") from None
    if width < 16 or height < 16:
        raise argparse.ArgumentTypeError(f"tile size {text!r}: at least 16 x 16 pixels")
    return width, height


def ensure_field(fields_dir, layout, tiles, seed, stars_per_tile, tile_size=(TILE_WIDTH, TILE_HEIGHT)):
    """The tiles of a field, made once and reused; returns its description (field.json)."""
    name = f"{layout}-{tiles}"
    if tile_size != (TILE_WIDTH, TILE_HEIGHT):
        name += f"-{tile_size[0]}x{tile_size[1]}"
    folder = os.path.join(fields_dir, f"{name}-seed{seed}-stars{stars_per_tile}")
    marker = os.path.join(folder, "field.json")
    if os.path.exists(marker):
        with open(marker) as handle:
            return json.load(handle)
    columns, rows = field_layout(tiles, tile_size)
    settings = {
        "columns": columns,
        "rows": rows,
        "seed": seed,
        "stars": stars_per_tile * tiles,
        "nebulae": 6,
        "overlap": OVERLAP[layout],
        "tile_width": tile_size[0],
        "tile_height": tile_size[1],
        "pixel_scale": 1.0,
    }
    truth = synth.make_truth(settings)
    tiles_dir = os.path.join(folder, "tiles")
    os.makedirs(tiles_dir, exist_ok=True)
    from astropy.io import fits

    start = time.perf_counter()
    chosen = truth["tiles"][:tiles]
    for number, tile in enumerate(chosen, 1):
        final = os.path.join(tiles_dir, tile["name"] + ".fits")
        if os.path.exists(final):  # an interrupted generation resumes; tiles are renamed into place
            continue
        header, data = synth.render_tile(tile, truth)
        temp = final + ".part"
        fits.PrimaryHDU(data, header).writeto(temp, overwrite=True)
        os.replace(temp, final)
        if number % max(50, len(chosen) // 20) == 0 or number == len(chosen):
            print(f"  generating {name}: {number}/{len(chosen)} tiles", file=sys.stderr, flush=True)
    description = {
        "name": name,
        "layout": layout,
        "tiles": len(chosen),
        "columns": columns,
        "rows": rows,
        "overlap": OVERLAP[layout],
        "seed": seed,
        "stars": settings["stars"],
        "tiles_dir": tiles_dir,
        "tile_size": list(tile_size),
        "generation_s": round(time.perf_counter() - start, 1),
    }
    with open(marker + ".part", "w") as handle:
        json.dump(description, handle, indent=1)
    os.replace(marker + ".part", marker)
    return description


def write_config(run_dir, mosaic, source_path):
    import yaml

    settings = {"source": {"type": "local", "path": source_path}, "region": {"auto": True}}
    for section in ("projection", "background"):
        if VARIANT[section]:
            settings[section] = dict(VARIANT[section])
    config = {"mosaics": {mosaic: settings}}
    with open(os.path.join(run_dir, "config.yaml"), "w") as handle:
        yaml.safe_dump(config, handle)


# ---- the chain, in its own process ----------------------------------------------------

# Runs run_chain in a fresh interpreter (so its rusage and peak memory are its own) and records the
# peak RSS of each stage: every stage is one MontagePy call, before which the kernel's high-water
# mark is reset to the current RSS (/proc/self/clear_refs) and after which VmHWM is read. The peak
# includes what the process still holds from earlier stages (start_rss_mb): MontagePy does not
# give all its memory back.
CHAIN_CODE = r"""
import json, resource, sys, time
import mosaicflow.reference.chain as chain
from mosaicflow.montage.per_item import load_montage

def status_mb(key):
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")

def reset_hwm():
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass

class Watched:
    def __init__(self, montage):
        self.montage, self.starts, self.peaks, self.cpu = montage, [], [], []
    def __getattr__(self, name):
        function = getattr(self.montage, name)
        def call(*args, **kwargs):
            reset_hwm()
            self.starts.append(status_mb("VmRSS"))
            before = resource.getrusage(resource.RUSAGE_SELF)
            try:
                return function(*args, **kwargs)
            finally:
                self.peaks.append(status_mb("VmHWM"))
                after = resource.getrusage(resource.RUSAGE_SELF)
                self.cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        return call

with open(sys.argv[1]) as handle:
    job = json.load(handle)
watched = Watched(load_montage())
chain.load_montage = lambda: watched
start = time.perf_counter()
times = chain.run_chain(job["inputs"], job["names"], job["header"], job["work"], iterations=job["iterations"])
wall = time.perf_counter() - start
same = len(watched.peaks) == len(times)
peaks = dict(zip(times, watched.peaks)) if same else {}
starts = dict(zip(times, watched.starts)) if same else {}
cpu = dict(zip(times, watched.cpu)) if same else {}
with open(job["report"], "w") as handle:
    json.dump({"wall": wall, "stages": times, "peaks_mb": peaks, "start_rss_mb": starts, "cpu_s": cpu}, handle)
"""


def run_chain_measured(run_dir, iterations):
    base = os.path.join(run_dir, mosaic_dir(MOSAIC))
    images = tables.read_tsv(in_folder(base, "images"))
    work = os.path.join(run_dir, "chain")
    shutil.rmtree(work, ignore_errors=True)
    job = {
        "inputs": in_folder(base, "links"),
        "names": [os.path.basename(row["link"]) for row in images],
        "header": in_folder(base, "region"),
        "work": work,
        "iterations": iterations,
        "report": os.path.join(run_dir, "chain-report.json"),
    }
    job_path = os.path.join(run_dir, "chain-job.json")
    with open(job_path, "w") as handle:
        json.dump(job, handle)
    command = [sys.executable, "-c", CHAIN_CODE, job_path]
    run = run_measured(command, run_dir, os.path.join(run_dir, "chain.log"))
    if run.returncode != 0:
        fail(f"Montage chain failed ({run.returncode})", run.log)
    with open(job["report"]) as handle:
        report = json.load(handle)
    return run, report, work


# ---- reporting ---------------------------------------------------------------------------


def variant_text():
    """The workflow settings a measurement used, e.g. 'fit_jobs=image target=mosaic' ('' for defaults)."""
    words = [f"projection_{key}={value}" for key, value in VARIANT["projection"].items()]
    words += [f"{key}={value}" for key, value in VARIANT["background"].items()]
    return " ".join(words + [f"target={VARIANT['target']}"])


class Recorder:
    """Appends rows to the CSV as they are measured (a crash keeps what was measured)."""

    def __init__(self, path, cores):
        self.path, self.cores = path, cores
        self.snakemake = snakemake_version()
        self.host, self.cpus = platform.node(), os.cpu_count()

    def add(self, rows, loads):
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        new = not os.path.exists(self.path) or os.path.getsize(self.path) == 0
        if not new:
            self._upgrade()
        stamp = datetime.datetime.now().isoformat(timespec="seconds")
        with open(self.path, "a", newline="") as handle:
            writer = csv.DictWriter(handle, self._columns(new), extrasaction="ignore", restval="")
            if new:
                writer.writeheader()
            for row in rows:
                full = {
                    "date": stamp,
                    "host": self.host,
                    "cpus": self.cpus,
                    "load1": f"{loads[0]:.2f}",
                    "load5": f"{loads[1]:.2f}",
                    "load15": f"{loads[2]:.2f}",
                    "snakemake": self.snakemake,
                    "cores": self.cores,
                    "variant": variant_text(),
                }
                full.update({k: _csv_value(v) for k, v in row.items()})
                writer.writerow(full)

    def _columns(self, new):
        if new:
            return CSV_COLUMNS
        with open(self.path, newline="") as handle:
            return next(csv.reader(handle))

    def _upgrade(self):
        """Rewrite an older CSV whose columns differ, keeping its rows (missing cells blank)."""
        with open(self.path, newline="") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames == CSV_COLUMNS:
                return
            old_rows = list(reader)
            extra = [name for name in reader.fieldnames or [] if name not in CSV_COLUMNS]
        temp = self.path + ".tmp"
        with open(temp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, CSV_COLUMNS + extra, restval="")
            writer.writeheader()
            writer.writerows(old_rows)
        os.replace(temp, self.path)


def _csv_value(value):
    if isinstance(value, float):
        return "" if not math.isfinite(value) else f"{value:.3f}"
    return value


def snakemake_version():
    try:
        from importlib.metadata import version

        return version("snakemake")
    except Exception:  # noqa: BLE001 - only a label
        return ""


def verdict(value, limit, images=None, target_images=None):
    """yes/no against ``value <= limit``; n/a when the target is for another size and undecided."""
    if value is None or not math.isfinite(value):
        return "n/a"
    met = value <= limit
    if images is None or target_images is None or images == target_images:
        return "yes" if met else "no"
    if images > target_images and met:
        return "yes"  # a bigger field within the target
    if images < target_images and not met:
        return "no"  # a smaller field already over it
    return "n/a"


def fmt(value, width=9, digits=2):
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-".rjust(width)
    if isinstance(value, int):
        return f"{value:{width}d}"
    return f"{value:{width}.{digits}f}"


def load_text(loads):
    return f"load {loads[0]:.2f}/{loads[1]:.2f}/{loads[2]:.2f} (1/5/15 min), {os.cpu_count()} CPUs"


# ---- full runs -----------------------------------------------------------------------------


def measure_field(field, args, recorder, summary):
    """Workflow, then the chain, on one field; returns the run folder (for reruns)."""
    run_dir = os.path.join(args.workdir, "runs", field["name"])
    shutil.rmtree(run_dir, ignore_errors=True)
    os.makedirs(run_dir)
    write_config(run_dir, MOSAIC, field["tiles_dir"])
    base = os.path.join(run_dir, mosaic_dir(MOSAIC))

    warm_page_cache(field["tiles_dir"])
    loads = load()
    print(f"\n== {field['name']}: running the workflow ({field['tiles']} tiles), {load_text(loads)}", flush=True)
    workflow = run_workflow(run_dir, args.cores, snakemake_args=args.snakemake_args)
    rules = per_rule(run_dir)
    workflow_disk = disk_mb(os.path.join(run_dir, RESULTS))
    if args.no_chain:
        print(f"   workflow {workflow.wall:.1f} s; Montage's chain not run (--no-chain)", flush=True)
        chain_loads = (math.nan,) * 3
        chain, chain_disk = None, math.nan
        report = {"wall": math.nan, "stages": {}, "peaks_mb": {}, "start_rss_mb": {}, "cpu_s": {}}
    else:
        print(f"   workflow {workflow.wall:.1f} s; running Montage's chain", flush=True)
        warm_page_cache(field["tiles_dir"])
        chain_loads = load()
        chain, report, chain_dir = run_chain_measured(run_dir, args.iterations)
        chain_disk = disk_mb(chain_dir)

    images = len(tables.read_tsv(in_folder(base, "images")))
    overlaps = len(tables.read_ipac(in_folder(base, "overlaps")))
    header = region.read_header_template(in_folder(base, "region"))
    jobs = sum(entry["jobs"] for entry in rules.values())
    chain_wall = report["wall"]
    ratio = workflow.wall / chain_wall if chain_wall > 0 else math.nan
    meets = verdict(ratio, RATIO_TARGET)

    depth = "~6 deep" if field["layout"] == "dense" else "1-4 deep"
    print(
        f"\n{field['name']}: {images} tiles ({field['columns']} x {field['rows']} grid, overlap "
        f"{field['overlap']:.2f}, {depth}), {overlaps} overlaps, mosaic {header.get('NAXIS1')} x "
        f"{header.get('NAXIS2')} px; --cores {args.cores}; {load_text(loads)} at the start"
    )
    print(
        f"{'stage':20s} {'wf jobs':>7s} {'wf job-s':>9s} {'wf cpu-s':>9s} {'wf peakMB':>9s} | "
        f"{'chain s':>9s} {'ch cpu-s':>9s} {'ch peakMB':>9s} {'ch startMB':>10s}"
    )
    rows = []
    stage_names = ordered(set(rules) | {k for k in STAGES if CHAIN_STAGE.get(k, k) in report["stages"]})
    for stage in stage_names:
        entry = rules.get(stage)
        chain_name = CHAIN_STAGE.get(stage, stage)
        chain_s = report["stages"].get(chain_name)
        chain_peak = report["peaks_mb"].get(chain_name)
        chain_start = report["start_rss_mb"].get(chain_name)
        chain_cpu = report["cpu_s"].get(chain_name)
        print(
            f"{stage:20s} {fmt(entry and entry['jobs'], 7)} {fmt(entry and entry['s'])} "
            f"{fmt(entry and entry['cpu'])} {fmt(entry and entry['rss'], 9, 1)} | {fmt(chain_s)} "
            f"{fmt(chain_cpu)} {fmt(chain_peak, 9, 1)} {fmt(chain_start, 10, 1)}"
        )
        common = {
            "measurement": "full",
            "field": field["name"],
            "layout": field["layout"],
            "images": images,
            "overlaps": overlaps,
            "stage": stage,
        }
        if entry:
            rows.append(
                {
                    **common,
                    "system": "workflow",
                    "jobs": entry["jobs"],
                    "wall_s": entry["s"],
                    "cpu_s": entry["cpu"],
                    "peak_rss_mb": entry["rss"],
                }
            )
        if chain_s is not None:
            rows.append(
                {
                    **common,
                    "system": "chain",
                    "stage": chain_name,
                    "jobs": 1,
                    "wall_s": chain_s,
                    "cpu_s": _or_blank(chain_cpu),
                    "peak_rss_mb": _or_blank(chain_peak),
                    "start_rss_mb": _or_blank(chain_start),
                }
            )
    print(f"{'':20s} {'wall s':>9s} {'cpu s':>9s} {'peak MB':>9s} {'disk MB':>9s} {'peak disk':>10s} {'jobs':>6s}")
    print(
        f"{'workflow':20s} {fmt(workflow.wall)} {fmt(workflow.cpu)} {fmt(workflow.peak_mb, 9, 1)} "
        f"{fmt(workflow_disk, 9, 1)} {fmt(workflow.peak_disk_mb, 10, 1)} {jobs:6d}"
    )
    if chain:
        print(
            f"{'Montage chain':20s} {fmt(chain_wall)} {fmt(chain.cpu)} {fmt(chain.peak_mb, 9, 1)} "
            f"{fmt(chain_disk, 9, 1)} {fmt(chain.peak_disk_mb, 10, 1)} {'1':>6s}"
        )
        print(f"ratio workflow / chain: {ratio:.2f}   target <= {RATIO_TARGET}: {meets}")
    common = {
        "measurement": "full",
        "field": field["name"],
        "layout": field["layout"],
        "images": images,
        "overlaps": overlaps,
        "stage": "total",
        "target": f"ratio<={RATIO_TARGET}",
    }
    totals = [
        {
            **common,
            "system": "workflow",
            "jobs": jobs,
            "wall_s": workflow.wall,
            "cpu_s": workflow.cpu,
            "peak_rss_mb": workflow.peak_mb,
            "disk_mb": workflow_disk,
            "peak_disk_mb": workflow.peak_disk_mb,
            "ratio": ratio,
            "meets_target": meets,
        },
    ]
    if chain:
        totals.append(
            {
                **common,
                "system": "chain",
                "jobs": 1,
                "wall_s": chain_wall,
                "cpu_s": chain.cpu,
                "peak_rss_mb": chain.peak_mb,
                "disk_mb": chain_disk,
                "peak_disk_mb": chain.peak_disk_mb,
                "ratio": ratio,
                "meets_target": meets,
            }
        )
    recorder.add(totals + rows, loads)
    summary.append(
        f"{field['name']:12s} {images:6d} {overlaps:8d} {jobs:6d} {workflow.wall:9.1f} {chain_wall:9.1f} "
        f"{ratio:6.2f} {meets:>5s} {workflow.cpu:8.1f} {fmt(chain and chain.cpu, 8, 1)} {workflow.peak_mb:8.0f} "
        f"{fmt(chain and chain.peak_mb, 8, 0)} {workflow_disk:8.0f} {fmt(chain_disk, 8, 0)} "
        f"{workflow.peak_disk_mb:8.0f} {fmt(chain and chain.peak_disk_mb, 8, 0)} {loads[0]:5.2f} "
        f"{chain_loads[0]:5.2f}"
    )
    return run_dir


def _or_blank(value):
    return "" if value is None else value


# ---- reruns -----------------------------------------------------------------------------------


def rewrite_tile(path, seed):
    """Give one raw tile new pixel values in place (same header, same size); returns the old bytes."""
    import io

    import numpy as np
    from astropy.io import fits

    with open(path, "rb") as handle:
        original = handle.read()
    with fits.open(io.BytesIO(original)) as hdul:
        header, data = hdul[0].header, hdul[0].data.astype(np.float32)
    rng = np.random.default_rng(seed)
    data = data + np.float32(7.5) + rng.normal(0.0, 2.0, data.shape).astype(np.float32)
    buffer = io.BytesIO()
    fits.PrimaryHDU(data, header).writeto(buffer)
    new = buffer.getvalue()
    if len(new) != len(original):
        raise RuntimeError(f"rewriting {path} would change its size ({len(original)} -> {len(new)} bytes)")
    with open(path, "r+b") as handle:  # in place: the folder itself does not change
        handle.write(new)
    return original


def restore_tile(path, original, stat):
    with open(path, "r+b") as handle:
        handle.write(original)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def measure_reruns(field, run_dir, args, recorder, summary):
    base = os.path.join(run_dir, mosaic_dir(MOSAIC))
    images = tables.read_tsv(in_folder(base, "images"))
    overlaps = len(tables.read_ipac(in_folder(base, "overlaps")))
    common = {
        "field": field["name"],
        "layout": field["layout"],
        "images": len(images),
        "overlaps": overlaps,
        "system": "workflow",
        "target": f"noop<={NOOP_TARGET[1]:g}s@{NOOP_TARGET[0]}images",
    }
    print(f"\n{field['name']}: reruns after a full run ({len(images)} images, {overlaps} overlaps)")

    loads = load()
    before = benchmark_files(run_dir)
    noop = run_workflow(run_dir, args.cores, log_name="rerun-noop.log", snakemake_args=args.snakemake_args)
    noop_rules = per_rule(run_dir, before)
    noop_jobs = sum(e["jobs"] for e in noop_rules.values())
    noop_meets = verdict(noop.wall, NOOP_TARGET[1], len(images), NOOP_TARGET[0])
    print(
        f"  no-op rerun:            {noop.wall:7.2f} s, {noop_jobs} jobs run, cpu {noop.cpu:.1f} s, "
        f"peak {noop.peak_mb:.0f} MB   target <= {NOOP_TARGET[1]:g} s for {NOOP_TARGET[0]} images: "
        f"{noop_meets}   ({load_text(loads)})"
    )
    recorder.add(
        [
            {
                **common,
                "measurement": "rerun-noop",
                "stage": "total",
                "jobs": noop_jobs,
                "wall_s": noop.wall,
                "cpu_s": noop.cpu,
                "peak_rss_mb": noop.peak_mb,
                "meets_target": noop_meets,
            }
        ],
        loads,
    )

    changed = images[len(images) // 2]
    path = changed["path"] if os.path.isabs(changed["path"]) else os.path.join(run_dir, changed["path"])
    stat = os.stat(path)
    original = rewrite_tile(path, args.seed + 1000)
    try:
        loads = load()
        before = benchmark_files(run_dir)
        one = run_workflow(run_dir, args.cores, log_name="rerun-one.log", snakemake_args=args.snakemake_args)
        one_rules = per_rule(run_dir, before)
    finally:
        restore_tile(path, original, stat)
    one_jobs = sum(e["jobs"] for e in one_rules.values())
    by_rule = ", ".join(f"{rule} {one_rules[rule]['jobs']}" for rule in ordered(one_rules))
    print(
        f"  one image changed:      {one.wall:7.2f} s, {one_jobs} jobs run ({by_rule}), cpu {one.cpu:.1f} s, "
        f"peak {one.peak_mb:.0f} MB   ({load_text(loads)})"
    )
    rows = [
        {
            **common,
            "measurement": "rerun-one-image",
            "stage": "total",
            "jobs": one_jobs,
            "wall_s": one.wall,
            "cpu_s": one.cpu,
            "peak_rss_mb": one.peak_mb,
            "target": "",
        }
    ]
    for rule in ordered(one_rules):
        entry = one_rules[rule]
        rows.append(
            {
                **common,
                "measurement": "rerun-one-image",
                "stage": rule,
                "jobs": entry["jobs"],
                "wall_s": entry["s"],
                "cpu_s": entry["cpu"],
                "peak_rss_mb": entry["rss"],
                "target": "",
            }
        )
    recorder.add(rows, loads)
    summary.append(
        f"{field['name']} reruns: no-op {noop.wall:.2f} s ({noop_jobs} jobs, target <= "
        f"{NOOP_TARGET[1]:g} s for {NOOP_TARGET[0]} images: {noop_meets}); one image changed "
        f"{one.wall:.2f} s ({one_jobs} jobs)"
    )


# ---- dry runs without pixels ------------------------------------------------------------------


def synthesise_tables(folder, images, layout, t0):
    """A working folder in which the image table and overlaps checkpoints are done, without pixels.

    Returns (image ids, overlap pairs). Files are zero bytes except the tables Snakemake's input
    functions read (images.tsv, overlaps.tbl) and region.hdr (the coadd's memory estimate reads
    it); mtimes increase along the pipeline so that nothing upstream of the fits looks stale.
    ``t0`` is the raw files' mtime; later files are a second apart each step.
    """
    columns, rows = field_layout(images)
    reach = 2 if layout == "dense" else 1  # tiles this many grid steps apart still overlap
    step = 1.0 - OVERLAP[layout]
    raw_dir = os.path.join(folder, "raw")
    base = os.path.join(folder, mosaic_dir(DRY_MOSAIC))
    links = in_folder(base, "links")
    for sub in (raw_dir, links, in_folder(base, "projected_dir")):
        os.makedirs(sub, exist_ok=True)
    write_config(folder, DRY_MOSAIC, "raw")
    stamps = iter(range(1, 20))

    def touch(path, level, text=""):
        with open(path, "w") as handle:
            handle.write(text)
        os.utime(path, (t0 + level, t0 + level))

    level = next(stamps)
    cells = [(r, c) for r in range(rows) for c in range(columns)][:images]
    by_cell, records = {}, []
    for r, c in cells:
        name = f"tile_r{r:03d}_c{c:03d}.fits"
        touch(os.path.join(raw_dir, name), level)
        ident = inputs.image_id(name)
        by_cell[(r, c)] = ident
        records.append(
            {
                "id": ident,
                "path": f"raw/{name}",
                "hdu": 0,
                "method": "mProjectPP",
                "naxis1": TILE_WIDTH,
                "naxis2": TILE_HEIGHT,
                "frame": "equatorial",
                "projection": "SIN",
                "link": result_path(DRY_MOSAIC, "link", image=ident),
                "content": ident,
            }
        )
    os.utime(raw_dir, (t0 + level, t0 + level))

    level = next(stamps)
    records.sort(key=lambda row: row["id"])
    cntr = {row["id"]: index for index, row in enumerate(records)}
    for row in records:
        os.symlink(os.path.join("..", "..", "..", row["path"]), os.path.join(folder, row["link"]))
    touch(in_folder(base, "images"), level, tables.format_tsv(inputs.IMAGE_COLUMNS, records))
    touch(in_folder(base, "skipped"), level, tables.format_tsv(inputs.SKIPPED_COLUMNS, []))
    position = {ident: cell for cell, ident in by_cell.items()}
    width = (columns * step + 1 - step) * TILE_WIDTH / 3600
    height = (rows * step + 1 - step) * TILE_HEIGHT / 3600
    mosaic_crpix = [(n + 1) / 2 for n in region.box_size(width, height, 1.0)]

    def image_rows():
        result = []
        for row in records:
            r, c = position[row["id"]]
            # crpix places the image on the mosaic grid (the coadd's tiles are chosen from it)
            result.append(
                {
                    "cntr": cntr[row["id"]],
                    "ra": f"{83.82 + c * step * TILE_WIDTH / 3600:.7f}",
                    "dec": f"{-5.39 + r * step * TILE_HEIGHT / 3600:.7f}",
                    "naxis1": TILE_WIDTH,
                    "naxis2": TILE_HEIGHT,
                    "crpix1": mosaic_crpix[0] - round(c * step * TILE_WIDTH),
                    "crpix2": mosaic_crpix[1] - round(r * step * TILE_HEIGHT),
                    "hdu": 0,
                    "fname": f"{row['id']}.fits",
                }
            )
        columns = ["cntr", "ra", "dec", "naxis1", "naxis2", "crpix1", "crpix2", "hdu", "fname"]
        return tables.format_ipac(columns, result)

    touch(in_folder(base, "raw_table"), level, image_rows())
    os.utime(links, (t0 + level, t0 + level))

    level = next(stamps)
    touch(
        in_folder(base, "region"),
        level,
        region.header_text("83.82 -5.39", width, height, 1.0, "TAN", "equatorial", 0.0),
    )

    level = next(stamps)
    for row in records:
        for what in ("projected", "projected_area"):
            touch(in_folder(base, what, image=row["id"]), level)
    level = next(stamps)
    touch(in_folder(base, "projected_table"), level, image_rows())
    touch(in_folder(base, "failed"), level, "id\tpath\treason\n")

    pairs = []
    for (r, c), ident in by_cell.items():
        for dr in range(-reach, reach + 1):
            for dc in range(-reach, reach + 1):
                other = by_cell.get((r + dr, c + dc))
                if other is not None and cntr[ident] < cntr[other]:
                    pairs.append((ident, other))
    pairs.sort(key=lambda pair: (cntr[pair[0]], cntr[pair[1]]))
    overlap_rows = [
        {
            "cntr1": cntr[p],
            "cntr2": cntr[m],
            "plus": f"{p}.fits",
            "minus": f"{m}.fits",
            "diff": f"diff.{cntr[p]:06d}.{cntr[m]:06d}.fits",
        }
        for p, m in pairs
    ]
    level = next(stamps)
    touch(
        in_folder(base, "overlaps"),
        level,
        tables.format_ipac(["cntr1", "cntr2", "plus", "minus", "diff"], overlap_rows),
    )
    touch(in_folder(base, "overlaps_skipped"), level, "plus\tminus\tbox_pixels\n")
    return [row["id"] for row in records], pairs


def complete_from_dry_run(folder, log_path, start):
    """Zero-byte outputs for every job a dry run listed: the folder then looks like a finished run.

    Generic (whatever rules the workflow has): the outputs come from the dry run's ``output:``
    lines. Snakemake prints jobs in the order it would run them, dependencies first, so each job's
    outputs get a slightly later mtime than the previous job's.
    """
    count = 0
    for index, outputs in enumerate(listed_outputs(log_path)):
        stamp = start + index * 0.001
        for path in outputs:
            full = os.path.join(folder, path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            if not os.path.exists(full):
                open(full, "w").close()
            os.utime(full, (stamp, stamp))
            count += 1
    return count


def listed_outputs(log_path):
    """The output files of each job in a dry run's listing, in the order listed."""
    jobs = []
    with open(log_path, errors="replace") as handle:
        for line in handle:
            stripped = line.strip()
            if stripped.startswith("output: "):
                jobs.append([path for path in stripped[len("output: ") :].split(", ") if path])
    return jobs


def job_stats(log_path):
    """{rule: count} from the 'Job stats' table of a dry run ({} if nothing to be done)."""
    stats, inside = {}, False
    with open(log_path, errors="replace") as handle:
        for line in handle:
            parts = line.split()
            if line.startswith("Job stats:"):
                stats, inside = {}, True
            elif inside and len(parts) == 2 and parts[1].isdigit():
                stats[parts[0]] = int(parts[1])
            elif inside and not line.strip():
                inside = False
    return stats


def listed_jobs(log_path):
    """Jobs a dry run listed: the 'total' line of Snakemake's job stats (0 if nothing to be done)."""
    with open(log_path, errors="replace") as handle:
        text = handle.read()
    if "Nothing to be done" in text:
        return 0
    totals = [line.split() for line in text.splitlines() if line.strip().startswith("total")]
    for parts in reversed(totals):
        if len(parts) == 2 and parts[1].isdigit():
            return int(parts[1])
    return None


def dag_nodes(log_path):
    with open(log_path, errors="replace") as handle:
        return sum(1 for line in handle if "[label =" in line and "->" not in line)


def measure_dry_run(images, layout, args, recorder, summary):
    folder = os.path.join(args.workdir, "dryrun", f"{layout}-{images}")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    start = time.perf_counter()
    # Recent, but newer than the workflow's scripts: Snakemake reruns a script: job whose script is
    # newer than its outputs ("Code has changed since last execution"), metadata or not.
    scripts = [os.path.join(SCRIPTS, name) for name in os.listdir(SCRIPTS) if name.endswith(".py")]
    t0 = max([time.time() - 60] + [os.stat(path).st_mtime + 1 for path in scripts])
    ids, pairs = synthesise_tables(folder, images, layout, t0)
    made = time.perf_counter() - start
    field = f"tables-{images}" if layout == "grid" else f"tables-dense-{images}"
    common = {
        "field": field,
        "layout": layout,
        "images": len(ids),
        "overlaps": len(pairs),
        "system": "workflow",
        "stage": "total",
    }
    print(
        f"\n{field}: dry runs on synthesised tables ({len(ids)} images, {len(pairs)} overlaps, no pixels; "
        f"tables made in {made:.1f} s)"
    )

    rows = []
    loads = load()
    dry = run_measured(
        snakemake_command(folder, args.cores, "-n", snakemake_args=args.snakemake_args),
        folder,
        os.path.join(folder, "dry-run.log"),
    )
    if dry.returncode != 0:
        fail("snakemake -n failed", dry.log)
    listed = listed_jobs(dry.log)
    stats = job_stats(dry.log)
    fit_jobs = sum(
        stats.get(rule, 0) for rule in ("difference_fit", "difference_fits_by_image", "difference_fits_by_batch")
    )
    per_item = (
        f"difference_fit {fit_jobs} (overlaps {len(pairs)}), background_correct "
        f"{stats.get('background_correct', 0)} (images {len(ids)})"
    )
    dry_meets = verdict(dry.wall, DRY_RUN_TARGET[1], len(ids), DRY_RUN_TARGET[0])
    print(
        f"  snakemake -n:           {dry.wall:7.2f} s, {listed} jobs listed ({per_item}), "
        f"cpu {dry.cpu:.1f} s, peak {dry.peak_mb:.0f} MB   target <= {DRY_RUN_TARGET[1]:g} s for "
        f"{DRY_RUN_TARGET[0]} images: {dry_meets}   ({load_text(loads)})"
    )
    rows.append(
        {
            **common,
            "measurement": "dry-run",
            "jobs": listed,
            "wall_s": dry.wall,
            "cpu_s": dry.cpu,
            "peak_rss_mb": dry.peak_mb,
            "target": f"dry<={DRY_RUN_TARGET[1]:g}s@{DRY_RUN_TARGET[0]}images",
            "meets_target": dry_meets,
        }
    )

    dag = run_measured(
        snakemake_command(folder, args.cores, "--dag", snakemake_args=args.snakemake_args),
        folder,
        os.path.join(folder, "dag.dot"),
    )
    nodes = dag_nodes(dag.log) if dag.returncode == 0 else None
    print(
        f"  snakemake --dag:        {dag.wall:7.2f} s, {nodes} jobs in the DAG, cpu {dag.cpu:.1f} s, "
        f"peak {dag.peak_mb:.0f} MB"
    )
    rows.append(
        {
            **common,
            "measurement": "dag",
            "jobs": nodes,
            "wall_s": dag.wall,
            "cpu_s": dag.cpu,
            "peak_rss_mb": dag.peak_mb,
        }
    )

    # A finished run: every output present. The real no-op run only goes ahead if -n agrees
    # that nothing is to be done (a job started on these zero-byte files would fail).
    complete_from_dry_run(folder, dry.log, t0 + 30)
    loads = load()
    noop_dry = run_measured(
        snakemake_command(folder, args.cores, "-n", snakemake_args=args.snakemake_args),
        folder,
        os.path.join(folder, "noop-dry-run.log"),
    )
    left = listed_jobs(noop_dry.log) if noop_dry.returncode == 0 else None
    print(
        f"  -n, all outputs there:  {noop_dry.wall:7.2f} s, {left} jobs listed, cpu {noop_dry.cpu:.1f} s, "
        f"peak {noop_dry.peak_mb:.0f} MB"
    )
    rows.append(
        {
            **common,
            "measurement": "noop-dry-run",
            "jobs": left,
            "wall_s": noop_dry.wall,
            "cpu_s": noop_dry.cpu,
            "peak_rss_mb": noop_dry.peak_mb,
        }
    )
    noop_text = "skipped (the dry run listed jobs)"
    if left == 0:
        loads = load()
        before = benchmark_files(folder)
        noop = run_workflow(
            folder, args.cores, log_name="noop-run.log", snakemake_args=args.snakemake_args, mosaic=DRY_MOSAIC
        )
        ran = sum(e["jobs"] for e in per_rule(folder, before).values())
        noop_meets = verdict(noop.wall, NOOP_TARGET[1], len(ids), NOOP_TARGET[0])
        noop_text = f"{noop.wall:.2f} s ({ran} jobs run, target <= {NOOP_TARGET[1]:g} s for {NOOP_TARGET[0]} images: "
        noop_text += f"{noop_meets})"
        print(
            f"  no-op run (--cores {args.cores}): {noop.wall:7.2f} s, {ran} jobs run, cpu {noop.cpu:.1f} s, "
            f"peak {noop.peak_mb:.0f} MB   target <= {NOOP_TARGET[1]:g} s for {NOOP_TARGET[0]} images: "
            f"{noop_meets}   ({load_text(loads)})"
        )
        rows.append(
            {
                **common,
                "measurement": "noop-run",
                "jobs": ran,
                "wall_s": noop.wall,
                "cpu_s": noop.cpu,
                "peak_rss_mb": noop.peak_mb,
                "target": f"noop<={NOOP_TARGET[1]:g}s@{NOOP_TARGET[0]}images",
                "meets_target": noop_meets,
            }
        )
    recorder.add(rows, loads)
    summary.append(
        f"{field}: {len(ids)} images, {len(pairs)} overlaps: -n {dry.wall:.2f} s ({listed} jobs listed, "
        f"target <= {DRY_RUN_TARGET[1]:g} s for {DRY_RUN_TARGET[0]}: {dry_meets}); --dag {dag.wall:.2f} s "
        f"({nodes} jobs); no-op -n {noop_dry.wall:.2f} s; no-op run {noop_text}"
    )
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)


# ---- plot ---------------------------------------------------------------------------------------


def plot(csv_path, png_path, cores):
    """Latest result per field from the whole CSV: wall times, ratio, dry-run and no-op times."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    with open(csv_path, newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r.get("stage") == "total" and r.get("cores") == str(cores)]
    latest = {}
    for row in rows:  # later rows win
        latest[(row["measurement"], row["field"], row["system"])] = row

    def kind(row):
        """The field's layout, and its tile size when not the real size (grid-10000-128x128)."""
        size = row["field"].rsplit("-", 1)[-1]
        return f"{row['layout']} {size}" if "x" in size else row["layout"]

    kinds = sorted({kind(r) for r in latest.values() if r["measurement"] == "full"})

    def series(measurement, system, field_kind=None):
        points = sorted(
            (int(r["images"]), float(r["wall_s"]), r)
            for (m, _, s), r in latest.items()
            if m == measurement and s == system and (field_kind is None or kind(r) == field_kind) and r["wall_s"]
        )
        return [p[0] for p in points], [p[1] for p in points], [p[2] for p in points]

    markers = "os^vD"
    figure, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    ax = axes[0]
    for number, field_kind in enumerate(kinds):
        for system, colour in (("workflow", "tab:blue"), ("chain", "tab:orange")):
            x, y, _ = series("full", system, field_kind)
            if x:
                who = "workflow --cores " + str(cores) if system == "workflow" else "Montage chain"
                style = "-" if field_kind == "grid" else "--"
                ax.plot(x, y, marker=markers[number % 5], color=colour, linestyle=style, label=f"{who} ({field_kind})")
    ax.set(xlabel="tiles", ylabel="wall time (s)", title="full run from scratch")
    _log_axes(ax)

    ax = axes[1]
    plotted = False
    for number, field_kind in enumerate(kinds):
        x, _, found = series("full", "workflow", field_kind)
        with_chain = [(n, float(r["ratio"])) for n, r in zip(x, found, strict=True) if r["ratio"]]
        if with_chain:  # runs with --no-chain have no ratio
            ax.plot(*zip(*with_chain, strict=True), marker=markers[number % 5], label=field_kind)
            plotted = True
    if not plotted:
        ax.text(0.5, 0.5, "no full run with Montage's chain", ha="center", transform=ax.transAxes)
    ax.axhline(RATIO_TARGET, color="tab:red", linestyle=":", label=f"target {RATIO_TARGET}")
    ax.set(xlabel="tiles", ylabel="workflow / chain wall time", title="ratio (lower is better)")
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)

    ax = axes[2]
    for measurement, label in (
        ("dry-run", "snakemake -n (no pixels)"),
        ("dag", "snakemake --dag (no pixels)"),
        ("noop-run", "no-op run (no pixels)"),
        ("rerun-noop", "no-op rerun (real field)"),
        ("rerun-one-image", "one image changed (real field)"),
    ):
        x, y, _ = series(measurement, "workflow")
        if x:
            ax.plot(x, y, marker="o", label=label)
    ax.plot([DRY_RUN_TARGET[0]], [DRY_RUN_TARGET[1]], "r*", markersize=12, label="target: dry run")
    ax.plot([NOOP_TARGET[0]], [NOOP_TARGET[1]], "rX", markersize=10, label="target: no-op rerun")
    ax.set(xlabel="images", ylabel="wall time (s)", title="dry runs and reruns")
    _log_axes(ax)

    host = rows[-1]["host"] if rows else platform.node()
    figure.suptitle(f"benchmarks/scale.py on {host}, {os.cpu_count()} CPUs, --cores {cores} (latest result per field)")
    figure.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(png_path)), exist_ok=True)
    figure.savefig(png_path, dpi=110)
    plt.close(figure)


def _log_axes(ax):
    import matplotlib.ticker

    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        axis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)


# ---- main ---------------------------------------------------------------------------------------


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="benchmarks/scale.py",
        description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--tiles",
        type=int,
        nargs="*",
        metavar="N",
        help="plain fields (12%% overlap) of about N tiles each; default 50 200 800 when no other "
        "measurement is asked for, none with a bare --tiles",
    )
    parser.add_argument(
        "--dense",
        type=int,
        nargs="*",
        metavar="N",
        help="dense fields (60%% overlap both ways, ~6 deep) of N tiles; a bare --dense is 200",
    )
    parser.add_argument(
        "--dry-run-images",
        type=int,
        nargs="+",
        metavar="N",
        help="time snakemake -n, --dag and a no-op run on synthesised tables of N images (no pixels)",
    )
    parser.add_argument(
        "--dry-run-layout",
        nargs="+",
        choices=["grid", "dense"],
        default=["grid"],
        help="overlap layout(s) of the synthesised tables: grid (~4 overlaps per image, default) "
        "and/or dense (~12 per image)",
    )
    parser.add_argument(
        "--reruns",
        type=int,
        nargs="?",
        const=200,
        metavar="N",
        help="after the full run of the N-tile plain field (default 200; if N is not in --tiles "
        "it is measured like one first), time a no-op rerun and a one-image-changed "
        "rerun",
    )
    parser.add_argument("--cores", type=int, default=2, help="snakemake --cores (default 2)")
    parser.add_argument(
        "--iterations",
        type=int,
        default=100000,
        help="mBgModel iterations for the chain (default 100000, the workflow's default)",
    )
    parser.add_argument(
        "--tile-size",
        type=parse_tile_size,
        default=(TILE_WIDTH, TILE_HEIGHT),
        metavar="WxH",
        help=f"pixels per generated tile (default {TILE_WIDTH}x{TILE_HEIGHT}, real size; e.g. 128x128 for "
        "a 10,000-tile field); other sizes are cached as FIELD-WxH",
    )
    parser.add_argument(
        "--no-chain",
        action="store_true",
        help="time the workflow only (Montage's chain is serial and slow at 10,000 tiles)",
    )
    parser.add_argument("--stars-per-tile", type=int, default=20, help="stars per tile in generated fields (20)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated fields (1)")
    parser.add_argument(
        "--workdir",
        default=os.path.join(tempfile.gettempdir(), "mosaic-scale"),
        help="cache of generated fields (WORKDIR/fields) and run folders (default %(default)s)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep each field's run folder (results, chain, logs) instead of deleting it"
    )
    parser.add_argument(
        "--csv",
        default=os.path.join(HERE, "results", "scale.csv"),
        help="append results here (default benchmarks/results/scale.csv)",
    )
    parser.add_argument(
        "--png",
        default=os.path.join(HERE, "results", "scale.png"),
        help="plot of the latest results in --csv (default benchmarks/results/scale.png)",
    )
    parser.add_argument("--no-plot", action="store_true", help="do not write --png")
    parser.add_argument(
        "--projection-jobs",
        choices=["image", "batch"],
        default="batch",
        help="the workflow's projection.jobs (default batch, the workflow's default; image: one job per image)",
    )
    parser.add_argument(
        "--fit-jobs",
        choices=["overlap", "image", "batch"],
        default="batch",
        help="the workflow's background.fit_jobs (default batch, the workflow's default; overlap: one job per overlap)",
    )
    parser.add_argument(
        "--correct-jobs",
        choices=["image", "coadd"],
        default="coadd",
        help="the workflow's background.correct_jobs (default coadd, the workflow's default; image: one job per image)",
    )
    parser.add_argument(
        "--solver",
        choices=["mbgmodel", "lsq"],
        default="mbgmodel",
        help="the workflow's background.solver (default mbgmodel, the workflow's default and the chain's; "
        "lsq for 10,000 tiles, where mBgModel's 100000 iterations take about an hour)",
    )
    parser.add_argument(
        "--target",
        choices=["all", "mosaic"],
        default="mosaic",
        help="mosaic (default): only mosaic.fits, what the chain makes; all: every output "
        "(adds the PNG and the quality report)",
    )
    parser.add_argument(
        "--snakemake-args", default="", help="extra snakemake arguments, e.g. '--profile profiles/local'"
    )
    args = parser.parse_args(argv)
    others = args.dense is not None or args.dry_run_images or args.reruns is not None
    if args.tiles is None:
        args.tiles = [] if others else [50, 200, 800]
    if args.dense == []:
        args.dense = [200]
    args.dense = args.dense or []
    args.snakemake_args = args.snakemake_args.split()
    args.workdir = os.path.abspath(args.workdir)
    for value in [*args.tiles, *args.dense, *(args.dry_run_images or []), args.reruns or 1]:
        if value < 1:
            parser.error(f"field sizes must be at least 1, not {value}")
    return args


def main(argv=None):
    args = parse_args(argv)
    VARIANT["projection"] = {"jobs": args.projection_jobs}
    VARIANT["background"] = {"fit_jobs": args.fit_jobs, "correct_jobs": args.correct_jobs, "solver": args.solver}
    VARIANT["target"] = args.target
    os.makedirs(args.workdir, exist_ok=True)
    recorder = Recorder(args.csv, args.cores)
    fields_dir = os.path.join(args.workdir, "fields")
    print(
        f"scale benchmark on {platform.node()}: {os.cpu_count()} CPUs, {load_text(load())}, "
        f"snakemake {recorder.snakemake}, work folder {args.workdir}, "
        f"settings: {variant_text() or 'defaults'}"
    )
    if args.cores > 1:
        median, low, high = parallel_capacity(args.cores)
        print(
            f"parallel capacity: {args.cores} processes do x{median:.2f} the pure-CPU work of one "
            f"(x{low:.2f}-x{high:.2f} over 5 rounds; x{args.cores} on free physical cores), so the best "
            f"ratio to the single-process chain here is about {1 / median:.2f}"
        )

    plan = [("grid", n) for n in args.tiles] + [("dense", n) for n in args.dense]
    if args.reruns is not None and ("grid", args.reruns) not in plan:
        plan.append(("grid", args.reruns))
    fields = {}
    for layout, tiles in plan:  # generation first, so the timed runs are not interleaved with it
        if (layout, tiles) not in fields:
            fields[(layout, tiles)] = ensure_field(
                fields_dir, layout, tiles, args.seed, args.stars_per_tile, args.tile_size
            )

    summary, rerun_summary = [], []
    done = set()
    for layout, tiles in plan:
        if (layout, tiles) in done:
            continue
        done.add((layout, tiles))
        field = fields[(layout, tiles)]
        run_dir = measure_field(field, args, recorder, summary)
        if args.reruns is not None and (layout, tiles) == ("grid", args.reruns):
            measure_reruns(field, run_dir, args, recorder, rerun_summary)
        if not args.keep:
            shutil.rmtree(run_dir, ignore_errors=True)

    dry_summary = []
    for images in args.dry_run_images or []:
        for layout in args.dry_run_layout:
            measure_dry_run(images, layout, args, recorder, dry_summary)

    print(
        "\n== summary (times in s, memory and disk in MiB; targets: ratio <= "
        f"{RATIO_TARGET}, dry run of {DRY_RUN_TARGET[0]:,} images <= {DRY_RUN_TARGET[1]:g} s, "
        f"no-op rerun of {NOOP_TARGET[0]} images <= {NOOP_TARGET[1]:g} s)"
    )
    if summary:
        print(
            f"{'field':12s} {'images':>6s} {'overlaps':>8s} {'jobs':>6s} {'wf wall':>9s} {'ch wall':>9s} "
            f"{'ratio':>6s} {'met':>5s} {'wf cpu':>8s} {'ch cpu':>8s} {'wf peak':>8s} {'ch peak':>8s} "
            f"{'wf disk':>8s} {'ch disk':>8s} {'wf pkdsk':>8s} {'ch pkdsk':>8s} "
            f"{'ld wf':>5s} {'ld ch':>5s}"
        )
        for line in summary:
            print(line)
    for line in rerun_summary + dry_summary:
        print(line)
    if not args.no_plot and os.path.exists(args.csv):
        plot(args.csv, args.png, args.cores)
        print(f"plot: {args.png}")
    print(f"csv: {args.csv}")


if __name__ == "__main__":
    main()

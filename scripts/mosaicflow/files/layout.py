"""Where a mosaic's per-image and per-overlap files live, and removing the
ones that no longer belong to the current inputs.

After an image leaves the field (the region shrank, a file was deleted) or an
overlap disappears, its projection, fits, corrections, logs and benchmark
records would stay on disk and be counted by the performance table. The
jobs that know the current set (the projected table for images, the fits
gather for overlaps, the coadd for tiles) call ``prune`` so that a rerun
leaves the same files a fresh run would. Standard library only.
"""

import hashlib
import os

from .. import UserError
from .atomic import TEMPORARY_PREFIX

RESULTS, LOGS = "results", "logs"
# Every file and folder of results/NAME/, by what it is; {image}, {plus},
# {minus} and {tile} stand for an item's name. The rules, the input
# functions, the reports and the summary all ask here.
FILES = {
    # inputs and the image table
    "synthetic_tiles": "synthetic/tiles",
    "synthetic_truth": "synthetic/truth.json",
    "archive_list": "archive/images.tsv",
    "images": "images.tsv",
    "skipped": "skipped.tsv",
    "raw_table": "raw.tbl",
    "links": "inputs",
    "link": "inputs/{image}.fits",
    "inspection_cache": "inspection_cache.json",
    "region": "region.hdr",
    # projection
    "projected_dir": "projected",
    "projected": "projected/{image}.fits",
    "projected_area": "projected/{image}_area.fits",
    # what a projection was made from: a per-image job's output, or a batch job's own record
    "projected_key": "projected/{image}.fits.key",
    # a batch job's folder: its images' projections, areas and failure notes
    "projection_batch": "projected/batch-{batch}",
    "projected_table": "projected.tbl",
    "failed": "failed_images.tsv",
    "overlaps": "overlaps.tbl",
    "overlaps_skipped": "overlaps_skipped.tsv",
    # background matching
    "fits_dir": "fits",
    "fit": "fits/{plus}+{minus}.tsv",
    "image_fits": "fits/{image}.tsv",
    "batch_fits": "fits/batch-{batch}.tsv",
    "diffs_dir": "diffs",
    "fits_table": "fits.tbl",
    "fits_screened": "fits_screened.tsv",
    "corrections_table": "corrections.tbl",
    "corrections": "corrections.tsv",
    "corrected_dir": "corrected",
    "corrected": "corrected/{image}.fits",
    "corrected_area": "corrected/{image}_area.fits",
    # coadd and products
    "tiles_dir": "tiles",
    "tile": "tiles/{tile}.fits",
    "tile_area": "tiles/{tile}_area.fits",
    "mosaic": "mosaic.fits",
    "mosaic_area": "mosaic_area.fits",
    "preview": "mosaic.png",
    "quality": "quality.tsv",
    "quality_html": "quality.html",
    "depth_png": "depth.png",
    "performance": "performance.tsv",
    "performance_png": "performance.png",
    # the HiPS (hips: true): the folder, its plan and the jobs' own folders of tiles
    "hips": "hips",
    "hips_plan": "hips_parts/plan.json",
    "hips_batch": "hips_parts/batch-{batch}",
    "hips_lower": "hips_parts/lower",
    "benchmarks": "benchmarks",
}


# The HiPS pages' viewer, Aladin Lite: an optional install in the workflow's folder (README
# "HiPS"), served with the HiPS folders by the monitor at these addresses.
VIEWER = os.path.join(".viewer", "node_modules", "aladin-lite", "dist", "aladin.js")
VIEWER_URL = "/viewer/aladin.js"
HIPS_URL = "/sky/{mosaic}/"
# a composite's colour HiPS ("color" is no mosaic's name: config.fields.RESERVED_NAMES)
HIPS_COLOUR_URL = "/sky/color/{color}/"


# What a mosaic's run makes for people (the default target) and composites' PNGs.
PRODUCTS = ("mosaic", "mosaic_area", "preview", "skipped", "quality", "depth_png")
COLOURS = "color"


# The run's own files in results/: the summary (mosaicflow.reports.summary), the per-stage
# times of every mosaic's jobs, and the HTML report's landing page made of both.
RUN_FILES = {
    "summary": "summary.tsv",
    "performance": "performance.tsv",
    "run_page": "summary.html",
    "landing_page": "report.rst",
}


def run_path(what):
    return os.path.join(RESULTS, RUN_FILES[what])


def products(mosaic):
    return [path(mosaic, what) for what in PRODUCTS]


def colour_png(name):
    return os.path.join(RESULTS, COLOURS, f"{name}.png")


# The logs and benchmark records of the jobs that belong to no one mosaic: a colour
# composite's, and an archive download's (into the cache every mosaic shares).
COLOUR_LOG = f"{LOGS}/{COLOURS}/{{color}}.log"
COLOUR_BENCHMARK = f"{RESULTS}/{COLOURS}/{FILES['benchmarks']}/{{color}}.tsv"
DOWNLOAD_LOG = f"{LOGS}/archive/{{survey}}/{{band}}/{{file}}.log"
DOWNLOAD_BENCHMARK = f"{RESULTS}/archive-benchmarks/{{survey}}/{{band}}/{{file}}.tsv"


def colour_job_log(rule, item=None):
    """A composite's job's log pattern beyond the composite itself (its colour HiPS's)."""
    return f"{LOGS}/{COLOURS}/{{color}}/{rule}" + (f"/{item}" if item else "") + ".log"


def colour_job_benchmark(rule, item=None):
    """The benchmark record pattern of such a job."""
    return f"{RESULTS}/{COLOURS}/{FILES['benchmarks']}/{{color}}/{rule}" + (f"/{item}" if item else "") + ".tsv"


def colour_hips(name):
    """A composite's colour HiPS folder (hips: true on its three mosaics)."""
    return os.path.join(RESULTS, COLOURS, "hips", name)


def colour_hips_part(name, part):
    """A colour HiPS job's own folder of tiles (``part``: batch-N, or lower: every lower order)."""
    return os.path.join(RESULTS, COLOURS, "hips_parts", name, part)


def mosaic_dir(mosaic):
    return os.path.join(RESULTS, mosaic)


def log_dir(mosaic):
    return os.path.join(LOGS, mosaic)


def path(mosaic, what, **items):
    """The path of ``what`` (a key of FILES) for one mosaic, items filled in."""
    return in_folder(mosaic_dir(mosaic), what, **items)


def in_folder(folder, what, **items):
    """The path of ``what`` (a key of FILES) in a mosaic's folder ``folder`` (results/NAME of
    any working directory, or a scratch folder laid out the same way), items filled in."""
    return os.path.join(folder, FILES[what].format(**items))


def pattern(what, **items):
    """``what`` as a rule's file pattern ({mosaic} and the item wildcards kept),
    with some item wildcards renamed, e.g. pattern("projected", image="{plus}")."""
    text = FILES[what]
    for item, replacement in items.items():
        text = text.replace("{" + item + "}", replacement)
    return f"{RESULTS}/{{mosaic}}/{text}"


def log_pattern(rule, item=None):
    """A rule's log: logs/{mosaic}/RULE.log, or logs/{mosaic}/RULE/ITEM.log per item."""
    return f"{LOGS}/{{mosaic}}/{rule}" + (f"/{item}" if item else "") + ".log"


def benchmark_pattern(rule, item=None):
    """A rule's benchmark record, under results/{mosaic}/benchmarks/ like its log."""
    return f"{RESULTS}/{{mosaic}}/{FILES['benchmarks']}/{rule}" + (f"/{item}" if item else "") + ".tsv"


def log_dir_of_benchmarks(benchmarks_dir):
    """The log folder of a mosaic's benchmark folder (results/M/benchmarks -> logs/M): the
    record RULE[/ITEM].tsv there is the job whose log is RULE[/ITEM].log here."""
    results_dir, mosaic = os.path.split(os.path.dirname(os.path.normpath(benchmarks_dir)))
    return os.path.join(os.path.dirname(results_dir), log_dir(mosaic))


def batch_of(name, batches):
    """The batch (0 .. ``batches`` - 1) of an image id or overlap name: a hash of
    the name alone, so an item's batch stays the same when others come or go
    and a change re-does only the batches it touches."""
    return int(hashlib.sha1(name.encode()).hexdigest()[:8], 16) % batches


BATCH_PREFIX = "batch-"


def projected_name(image, batches=0):
    """An image's projection, relative to projected/: ID.fits made by its own
    job, or batch-N/ID.fits made by batch N of ``batches`` (projection.jobs: batch)."""
    if not batches:
        return f"{image}.fits"
    return f"{BATCH_PREFIX}{batch_of(image, batches)}/{image}.fits"


FIT_JOBS = ("overlap", "image", "batch")


def images_by_batch(images, batches):
    """{projection batch: its image ids, sorted} (``batch_of``); empty batches are absent."""
    grouped = {}
    for image in sorted(images):
        grouped.setdefault(batch_of(image, batches), []).append(image)
    return grouped


def fit_items(pairs, fit_jobs="overlap", batches=1):
    """{(plus, minus): the fit file (fits/ITEM.tsv) holding that overlap's fit}, by
    ``background.fit_jobs``: its own, its plus image's or its batch's (``pairs_by_batch``)."""
    if fit_jobs == "overlap":
        return {(plus, minus): f"{plus}+{minus}" for plus, minus in pairs}
    if fit_jobs == "image":
        return {(plus, minus): plus for plus, minus in pairs}
    if fit_jobs == "batch":
        return batch_items(pairs_by_batch(pairs, batches))
    raise UserError(f"fit_jobs is one of {', '.join(FIT_JOBS)}, not {fit_jobs!r}")


def batch_items(by_batch):
    """``fit_items`` of fit batches, from their overlaps (``pairs_by_batch``)."""
    return {pair: f"batch-{batch}" for batch, members in by_batch.items() for pair in members}


def pairs_by_batch(pairs, batches):
    """{fit batch: its overlaps (plus, minus), sorted}: each overlap's batch is
    ``batch_of`` its name PLUS+MINUS, so an added, removed or changed image
    refits only the batches that hold its overlaps (not a hash of the plus
    image alone: that put whole corners of a dense field in one batch)."""
    grouped = {}
    for plus, minus in sorted(pairs):
        grouped.setdefault(batch_of(f"{plus}+{minus}", batches), []).append((plus, minus))
    return grouped


def image_id_of(fname):
    """The image id of a Montage table's file name (ID.fits, or batch-N/ID.fits: ``projected_name``)."""
    return os.path.basename(fname)[: -len(".fits")]


def projected_path(mosaic, image, batches=0):
    """``projected_name`` of one mosaic's image, from the working directory."""
    return os.path.join(path(mosaic, "projected_dir"), projected_name(image, batches))


def image_suffix(what):
    """The suffix of a per-image file of projected/ after the image id, e.g. ".fits.key"."""
    return FILES[what].removeprefix(FILES["projected_dir"] + "/{image}")


def item_folders(mosaic, kind):
    """(folder, suffixes) of one kind of item's files; an item's files are named ITEM + suffix."""
    base, logs, bench = mosaic_dir(mosaic), log_dir(mosaic), path(mosaic, "benchmarks")
    folders = {
        "image": [
            (
                FILES["projected_dir"],
                (
                    ".fits",
                    "_area.fits",
                    image_suffix("projected_key"),
                ),
                None,
            )
        ],
        # the projection jobs' logs and records: ITEM is an image id, or "batch-N" (projection.jobs)
        "projection_job": [(None, (), "project")],
        "corrected": [(FILES["corrected_dir"], (".fits", "_area.fits"), "background_correct")],
        # ITEM is "PLUS+MINUS" (a fit per overlap), "PLUS" (per image) or "batch-N"
        "fit": [(FILES["fits_dir"], (".tsv",), "difference_fit")],
        "tile": [(FILES["tiles_dir"], (".fits", "_area.fits"), "coadd_tile")],
    }
    if kind not in folders:
        raise ValueError(f"unknown kind of item {kind!r}")
    found = []
    for folder, suffixes, rule in folders[kind]:
        if folder:
            found.append((os.path.join(base, folder), suffixes))
        if rule:
            found += [(os.path.join(bench, rule), (".tsv",)), (os.path.join(logs, rule), (".log",))]
    return found


def stale_files(mosaic, kind, current):
    """Files of ``kind`` items that are not in ``current`` (a set of item names)."""
    stale = []
    for folder, suffixes in item_folders(mosaic, kind):
        try:
            entries = os.scandir(folder)
        except FileNotFoundError:
            continue
        with entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue  # temporary files: removed by the run's start (see ``debris``)
                items = {entry.name[: -len(s)] for s in suffixes if entry.name.endswith(s)}
                if items and items.isdisjoint(current):
                    stale.append(entry.path)
    return stale


def prune(mosaic, kind, current):
    """Remove the files of ``kind`` items not in ``current``; returns how many."""
    stale = stale_files(mosaic, kind, current)
    _remove(stale)
    return len(stale)


def prune_projection_batches(mosaic, current):
    """Remove the batch folders of projected/ not in ``current`` (a set of
    batch numbers: none with one job per image); returns how many."""
    folder = path(mosaic, "projected_dir")
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return 0
    kept = {str(b) for b in current}
    stale = [
        os.path.join(folder, name)
        for name in names
        if name.startswith(BATCH_PREFIX) and name.removeprefix(BATCH_PREFIX) not in kept
    ]
    _remove(stale)
    return len(stale)


def _remove(paths):
    import shutil

    for name in paths:
        if os.path.isdir(name) and not os.path.islink(name):
            shutil.rmtree(name, ignore_errors=True)
        else:
            try:
                os.remove(name)
            except FileNotFoundError:
                pass


# Background matching's once-per-mosaic steps: (output files, rule).
BACKGROUND_STEPS = [
    (("fits_table",), "gather_fits"),
    (("corrections_table", "corrections", "fits_screened"), "background_model"),
]


def prune_background(mosaic):
    """Remove every file of background matching (for ``background.model: none``)."""
    removed = prune(mosaic, "fit", set())
    for outputs, rule in BACKGROUND_STEPS:
        files = [path(mosaic, what) for what in outputs]
        files += [benchmark_pattern(rule).format(mosaic=mosaic), log_pattern(rule).format(mosaic=mosaic)]
        present = [name for name in files if os.path.exists(name)]
        _remove(present)
        removed += len(present)
    return removed


def debris(root=RESULTS):
    """Temporary files and scratch folders (``.tmp-*``) below ``root``.

    Every job writes under such names and renames into place, so at the start
    of a run, before any job of it runs, each one is what a killed job left.
    """
    found = []
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            if name.startswith(TEMPORARY_PREFIX):
                found.append(os.path.join(folder, name))
        dirs[:] = [d for d in dirs if not d.startswith(TEMPORARY_PREFIX)]
    return found


def remove_debris(root=RESULTS):
    """Remove what ``debris`` finds, and the scratch folders that killed jobs of
    this host left in the temporary folder; returns the paths removed."""
    import tempfile

    from .atomic import stale_scratch

    found = debris(root) + stale_scratch(os.environ.get("TMPDIR") or tempfile.gettempdir())
    _remove(found)
    return found

"""A small field whose inputs and config the rerun tests change, and the
comparison of a rerun with a fresh run on the same inputs.

The field is 4 x 2 small synthetic tiles (128 x 256 px, real FITS written by
astropy) from one known sky; each tile also exists in an ``alt`` version (the
same sky, another background and noise), so that a file can be overwritten
with different content of the same size.
"""

import os
import random
import re
import shutil
import zlib

from astropy.io import fits

import snakemake_forks
from conftest import PER_IMAGE_PROJECTION, PER_ITEM_JOBS, Workflow
from mosaicflow.files import layout, tables
from mosaicflow.montage.per_item import FAULT_VARIABLE
from mosaicflow.sky import synth

# background and projection settings of each job layout the random sequences switch between
JOB_LAYOUTS = {
    "per_item": {"background": PER_ITEM_JOBS, "projection": PER_IMAGE_PROJECTION},
    "defaults": {},
    "fits_per_image": {"background": {"fit_jobs": "image"}},
    "three_batches": {"background": {"fit_batches": 3}, "projection": {"batches": 3}},
    "projection_per_image": {"projection": PER_IMAGE_PROJECTION},
    # 2 x 2 coadd tiles of the whole region, one mAdd for the inner one
    "coadd_tiles": {"coadd": {"tile_size": 300}},
}

TILES = {"columns": 4, "rows": 2, "tile_width": 128, "tile_height": 256, "stars": 200, "nebulae": 2}
CENTER = "83.82 -5.39"
REGIONS = {
    "all": {"center": CENTER, "width": 0.15, "height": 0.15},
    "inner": {"center": CENTER, "width": 0.05, "height": 0.06},
}
MOSAIC = "f"


def render_pool(folder, seed=5):
    """Write every tile, and its alt version, into ``folder``; return the names."""
    os.makedirs(folder, exist_ok=True)
    truth = synth.make_truth({**TILES, "seed": seed})
    alt_truth = synth.make_truth({**TILES, "seed": seed, "background_level": [300.0, 400.0]})
    names = []
    for tile, alt in zip(truth["tiles"], alt_truth["tiles"], strict=True):
        for suffix, source, sky in (("", tile, truth), (".alt", {**alt, "ra": tile["ra"], "dec": tile["dec"]}, truth)):
            header, data = synth.render_tile(source, sky)
            fits.PrimaryHDU(data, header).writeto(os.path.join(folder, tile["name"] + suffix + ".fits"))
        names.append(tile["name"] + ".fits")
    return names


class World:
    """Inputs (a raw folder), config settings and injected faults of one sequence."""

    def __init__(self, root, pool, seed, jobs="per_item", inputs=True):
        """A new world's raw folder holds the pool's first six tiles; ``inputs=False``:
        ``root`` holds a world's folder already (in its first settings)."""
        self.root = str(root)
        self.pool = pool
        self.names = sorted(n for n in os.listdir(pool) if not n.endswith(".alt.fits"))
        self.seed = seed
        self.rng = random.Random(seed)
        self.workflow = Workflow(os.path.join(self.root, "rerun"))
        if inputs:
            os.makedirs(self.raw, exist_ok=True)
            for name in self.names[:6]:
                shutil.copyfile(os.path.join(pool, name), os.path.join(self.raw, name))
        self.settings = {"region": "all", "pixel_scale": 1.0, "model": "plane", "on_image_error": "skip", "jobs": jobs}
        self.permanent_faults = set()
        self.renamed = 0
        self.fresh_runs = 0

    def copy(self, root):
        """This world, its folder copied to ``root`` (``cp -a``: the same mtimes,
        new inodes). The copy's next run re-reads the images' headers, as after a
        ``touch`` of each, and projects nothing again."""
        copy = World(root, self.pool, self.seed, self.settings["jobs"], inputs=False)
        shutil.copytree(self.workflow.workdir, copy.workflow.workdir, symlinks=True)
        copy.settings = dict(self.settings)
        copy.permanent_faults = set(self.permanent_faults)
        copy.renamed = self.renamed
        return copy

    @property
    def raw(self):
        return os.path.join(self.workflow.workdir, "raw")

    def present(self):
        return sorted(n for n in os.listdir(self.raw) if not n.startswith("."))

    def config(self):
        s = self.settings
        region = {**REGIONS[s["region"]], "pixel_scale": s["pixel_scale"]}
        mosaic = {
            "source": {"type": "local", "path": "raw"},
            "region": region,
            # per_item: the per-image and per-overlap DAG (the README's rerun table
            # counts its jobs); defaults: the schema's batched jobs; the others
            # the layouts between (fits per image; other numbers of batches;
            # projections per image with the rest batched; the coadd in tiles)
            "background": {"model": s["model"], **JOB_LAYOUTS[s["jobs"]].get("background", {})},
            "projection": JOB_LAYOUTS[s["jobs"]].get("projection", {}),
            "coadd": JOB_LAYOUTS[s["jobs"]].get("coadd", {}),
            "on_image_error": s["on_image_error"],
        }
        return {"image_retries": 0, "mosaics": {MOSAIC: mosaic}}

    # ---- changes to the inputs ------------------------------------------------

    def content(self, name, alt=False):
        # a renamed file takes a pool tile's content by a stable function of its name
        base = name if name in self.names else self.names[zlib.crc32(name.encode()) % len(self.names)]
        path = os.path.join(self.pool, base.replace(".fits", ".alt.fits") if alt else base)
        with open(path, "rb") as handle:
            return handle.read()

    def write_in_place(self, name, data):
        """Overwrite a file keeping its inode (what cp or an editor's save does)."""
        with open(os.path.join(self.raw, name), "r+b") as handle:
            handle.write(data)
            handle.truncate(len(data))

    def overwrite_in_place(self, name):
        self.write_in_place(name, self.content(name, alt=self.rng.random() < 0.5))

    def replace_by_rename(self, name):
        temp = os.path.join(self.raw, ".incoming")
        with open(temp, "wb") as handle:
            handle.write(self.content(name, alt=self.rng.random() < 0.5))
        os.replace(temp, os.path.join(self.raw, name))

    def add(self, name):
        shutil.copyfile(os.path.join(self.pool, name), os.path.join(self.raw, name))

    def delete(self, name):
        os.remove(os.path.join(self.raw, name))

    def rename(self, name):
        self.renamed += 1
        os.rename(os.path.join(self.raw, name), os.path.join(self.raw, f"renamed_{self.renamed}.fits"))

    def truncate_in_place(self, name):
        with open(os.path.join(self.raw, name), "r+b") as handle:
            handle.truncate(2880 * 2 + 1000)

    def duplicate(self, name, of):
        with open(os.path.join(self.raw, of), "rb") as handle:
            self.write_in_place(name, handle.read())

    def change_content(self, name):
        """Give a file other bytes than it has (its alt version, or back the original)."""
        with open(os.path.join(self.raw, name), "rb") as handle:
            current = handle.read()
        alt = self.content(name, alt=True)
        self.write_in_place(name, self.content(name) if current == alt else alt)

    def make_unprojectable(self, name):
        """New content that Montage cannot project, on every run (a fresh run too)."""
        self.permanent_faults.add(name)
        self.change_content(name)

    def repair(self, name):
        """New content that projects again."""
        self.permanent_faults.discard(name)
        self.change_content(name)

    def restore(self, name):
        self.write_in_place(name, self.content(name))

    def touch(self, name):
        os.utime(os.path.join(self.raw, name))

    def random_change(self):
        """Apply one random change; returns (description, transient fault or None)."""
        present = self.present()
        absent = [n for n in self.names if n not in present]
        choices = [
            "overwrite",
            "replace",
            "touch",
            "restore",
            "region",
            "scale",
            "model",
            "policy",
            "jobs",
            "transient",
            "permanent",
        ]
        if absent:
            choices += ["add", "add"]
        if len(present) > 3:
            choices += ["delete", "rename", "truncate", "duplicate"]
        kind = self.rng.choice(choices)
        name = self.rng.choice(present)
        if kind == "overwrite":
            self.overwrite_in_place(name)
        elif kind == "replace":
            self.replace_by_rename(name)
        elif kind == "touch":
            self.touch(name)
        elif kind == "restore":
            self.restore(name)
        elif kind == "add":
            name = self.rng.choice(absent)
            self.add(name)
        elif kind == "delete":
            self.delete(name)
        elif kind == "rename":
            self.rename(name)
        elif kind == "truncate":
            self.truncate_in_place(name)
        elif kind == "duplicate":
            name, of = self.rng.sample(present, 2)
            self.duplicate(name, of)
            name = f"{name} = {of}"
        elif kind == "region":
            self.settings["region"] = "inner" if self.settings["region"] == "all" else "all"
            name = self.settings["region"]
        elif kind == "scale":
            self.settings["pixel_scale"] = 1.5 if self.settings["pixel_scale"] == 1.0 else 1.0
            name = str(self.settings["pixel_scale"])
        elif kind == "model":
            others = [m for m in ("plane", "level", "none") if m != self.settings["model"]]
            self.settings["model"] = self.rng.choice(others)
            name = self.settings["model"]
        elif kind == "policy":
            self.settings["on_image_error"] = "fail" if self.settings["on_image_error"] == "skip" else "skip"
            name = self.settings["on_image_error"]
        elif kind == "jobs":
            self.settings["jobs"] = self.rng.choice([j for j in JOB_LAYOUTS if j != self.settings["jobs"]])
            name = self.settings["jobs"]
        elif kind == "transient":
            return f"transient fault {name}", name
        elif kind == "permanent":
            if name in self.permanent_faults:
                self.repair(name)
                kind = "repair"
            else:
                self.make_unprojectable(name)
                kind = "unprojectable"
        return f"{kind} {name}", None

    # ---- runs --------------------------------------------------------------

    def run(self, workflow, faults=(), *args):
        env = {**os.environ, FAULT_VARIABLE: os.pathsep.join(sorted(faults))}
        workflow.configfile = workflow.write_config(self.config())
        command = workflow.command(*args)
        return snakemake_forks.run(command, cwd=workflow.workdir, env=env)

    def rerun(self, transient=None):
        faults = self.permanent_faults | ({transient} if transient else set())
        return self.run(self.workflow, faults)

    def fresh(self):
        """A fresh run in a new directory on a copy of the same raw files."""
        self.fresh_runs += 1
        fresh = Workflow(os.path.join(self.root, f"fresh{self.fresh_runs}"))
        shutil.copytree(self.raw, os.path.join(fresh.workdir, "raw"))
        return fresh, self.run(fresh, self.permanent_faults)


def jobs_run(result):
    """{rule: count} of the jobs a run executed (from Snakemake's output)."""
    counts = {}
    for line in (result.stdout + result.stderr).splitlines():
        words = line.split()
        if (
            len(words) == 2
            and words[1].endswith(":")
            and words[0] in ("rule", "localrule", "checkpoint", "localcheckpoint")
        ):
            rule = words[1][:-1]
            if rule != "all":
                counts[rule] = counts.get(rule, 0) + 1
    return counts


def read_text(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def read_bytes(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def summary_rows(workflow):
    path = workflow.path("results", "summary.tsv")
    return tables.read_tsv(path) if os.path.exists(path) else None


def mosaic_files(workflow):
    """Every file below results/MOSAIC and logs/MOSAIC, relative, that a run
    leaves (Snakemake's own .snakemake folder is not the mosaic's). A
    ``.recovered`` note is history, not a leftover: it records that an image
    failed once and keeps that failure's token (mosaicflow.montage.per_item.retry_tokens)."""
    found = set()
    for top in (layout.mosaic_dir(MOSAIC), layout.log_dir(MOSAIC)):
        root = workflow.path(top)
        for folder, _, files in os.walk(root):
            found.update(
                os.path.relpath(os.path.join(folder, name), workflow.workdir)
                for name in files
                if not name.endswith(".recovered")
            )
    return found


INJECTED_PROJECTION_FAULT = re.compile(
    r"logs/[^/]+/project/(?P<id>[\w-]+)\.log: cannot read results/[^/]+/inputs/(?P=id)\.fits \(fault injected"
)


# a projection batch job's: it names every image of the batch that failed
INJECTED_BATCH_FAULT = re.compile(
    r"logs/[^/]+/project/batch-[0-9]+\.log: [0-9]+ of [0-9]+ projections failed: .*\(fault injected"
)


def _any_failed_projection(text):
    text = INJECTED_BATCH_FAULT.sub("logs/.../project/IMAGE.log: cannot read IMAGE (fault injected", text)
    return INJECTED_PROJECTION_FAULT.sub("logs/.../project/IMAGE.log: cannot read IMAGE (fault injected", text)


def differences(old, old_result, fresh, fresh_result):
    """What differs between a rerun (old) and a fresh run; [] when the invariant holds."""
    problems = []
    if (old_result.returncode == 0) != (fresh_result.returncode == 0):
        failed = old_result if old_result.returncode else fresh_result
        problems.append(
            f"exit codes differ: rerun {old_result.returncode}, fresh {fresh_result.returncode}; the failed run's "
            f"output ends:\n{(failed.stdout + failed.stderr)[-4000:]}"
        )
        return problems
    old_rows, fresh_rows = summary_rows(old), summary_rows(fresh)
    if fresh_result.returncode != 0:
        # a failed run's other files are whatever the previous run left; with
        # several unprojectable images under on_image_error: fail, the reason
        # names whichever failed first, which depends on the order jobs ran in
        keep = ("name", "kind", "status", "reason")
        old_rows = [{k: _any_failed_projection(row[k]) for k in keep} for row in old_rows or []]
        fresh_rows = [{k: _any_failed_projection(row[k]) for k in keep} for row in fresh_rows or []]
    if old_rows != fresh_rows:
        problems.append(f"summary.tsv differs:\n  rerun {old_rows}\n  fresh {fresh_rows}")
    debris = layout.debris(old.path("results"))
    if debris:
        problems.append(f"temporary files left: {debris}")
    if fresh_result.returncode != 0:
        return problems
    base = os.path.join("results", MOSAIC)
    for name in (
        "images.tsv",
        "skipped.tsv",
        "failed_images.tsv",
        "projected.tbl",
        "overlaps.tbl",
        "corrections.tsv",
        "quality.tsv",
    ):
        if read_text(old.path(base, name)) != read_text(fresh.path(base, name)):
            problems.append(f"{name} differs")
    for name in ("mosaic.fits", "mosaic_area.fits"):
        a, b = read_bytes(old.path(base, name)), read_bytes(fresh.path(base, name))
        if a is None or a != b:
            problems.append(f"{name} differs (bytes)")
    extra = mosaic_files(old) - mosaic_files(fresh)
    missing = mosaic_files(fresh) - mosaic_files(old)
    if extra or missing:
        problems.append(f"files differ: only after the rerun {sorted(extra)}, only fresh {sorted(missing)}")
    return problems

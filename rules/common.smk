# The config: validated against config/schema.yaml (which fills in every
# default), short forms expanded into mosaics and composites, impossible
# combinations refused; then the names every rule shares (wildcard
# constraints, the job command, where a mosaic's results go). Parsed by every
# job (on HTCondor too), so it imports nothing heavy.

import functools
import os
import shlex
import sys


# The package the jobs run is this workflow's own scripts/mosaicflow, installed
# in Snakemake's environment (`pip install -e`): another copy there (an older
# clone's) would run code this workflow was not written with.
def own_package():
    fix = f"pip install -e {workflow.basedir} (in the environment of {sys.executable})"
    try:
        import mosaicflow
    except ImportError:
        raise WorkflowError(
            f"the workflow's package mosaicflow is not installed: {fix}"
        ) from None
    own = os.path.join(workflow.basedir, "scripts", "mosaicflow")
    found = os.path.dirname(getattr(mosaicflow, "__file__", None) or "")
    if not (found and os.path.isdir(own) and os.path.samefile(found, own)):
        raise WorkflowError(
            f"Python imports the package mosaicflow from {found or mosaicflow},"
            f" not this workflow's copy {own}: {fix}"
        )


own_package()

from mosaicflow import UserError  # noqa: E402  (standard library only)
from mosaicflow.files import layout, tables  # noqa: E402  (standard library only)
from mosaicflow.config import loader as config_loader  # noqa: E402
from mosaicflow.config import validation  # noqa: E402
from mosaicflow.config import fields  # noqa: E402  (the colour channels)
from mosaicflow.sources.archive import CACHE_NAME_PATTERN, archive_url  # noqa: E402
from mosaicflow.jobs.command import JobCommand  # noqa: E402
from mosaicflow.planning import jobs as plan  # noqa: E402
from mosaicflow.hips import orders as hips_orders  # noqa: E402  (standard library only)

CONFIG_SOURCE = ", ".join(map(str, workflow.overwrite_configfiles))
# Validated (defaults from config/schema.yaml filled in), short forms expanded
# into mosaics and composites, impossible combinations refused: one loader,
# also used by scripts/check_config.py and the folder watcher.
try:
    # a pool node's job leaves the centres to the submit host, which checked them
    LOADED = config_loader.load(
        config, CONFIG_SOURCE, check_centres=not workflow.remote_exec
    )
except UserError as problem:
    raise WorkflowError(str(problem)) from None
MOSAICS, COLORS = LOADED.mosaics, LOADED.colors
ARCHIVE = config["archive"]


def intermediate(path, kind):
    """Output ``path`` as temp() unless keep_intermediates.KIND says to keep it."""
    return path if config["keep_intermediates"][kind] else temp(path)


# The shell jobs' command: this interpreter (the one running Snakemake, so the
# same environment on every node of a shared-filesystem pool), or the conda
# environment's python with --sdm conda, and our script. Quoted once here;
# per-job arguments are workflow-made paths and identifiers. Not a tracked
# parameter (see the class): another path to the same code reruns nothing.
MONTAGE_JOB = JobCommand(
    (
        "python"
        if "conda"
        in {str(m).lower() for m in workflow.deployment_settings.deployment_method}
        else sys.executable
    ),
    os.path.join(workflow.basedir, "scripts", "montage_job.py"),
)


# Steps that take well under a second run on the submit host even on a pool:
# a Condor job would cost more to schedule than they take.
localrules:
    performance,
    region_header,
    projected_table,
    gather_fits,


wildcard_constraints:
    mosaic=r"[A-Za-z0-9][A-Za-z0-9_.-]*",
    # Image ids are "<sanitised name>-<8 hex digits>" (mosaicflow.sources.inputs.image_id),
    # which also keeps "<id>_area.fits" from matching "<id>.fits".
    image=r"[A-Za-z0-9_-]*-[0-9a-f]{8}",
    plus=r"[A-Za-z0-9_-]*-[0-9a-f]{8}",
    minus=r"[A-Za-z0-9_-]*-[0-9a-f]{8}",
    tile=r"r[0-9]+c[0-9]+",
    batch=r"[0-9]{1,6}",
    part=rf"batch-[0-9]{{1,6}}|{hips_orders.LOWER_ORDERS_PART}",


# Where things are: every path of results/NAME/ is named in mosaicflow.files.layout.
result = (
    layout.pattern
)  # a rule's pattern, e.g. result("projected") -> results/{mosaic}/projected/{image}.fits
result_path = layout.path  # one mosaic's file, e.g. result_path("m31", "region")
log_file = layout.log_pattern
benchmark_file = layout.benchmark_pattern


def final_outputs():
    outputs = [path for name in MOSAICS for path in layout.products(name)]
    outputs += [
        layout.path(name, "diffs_dir")
        for name, mosaic in MOSAICS.items()
        if mosaic["background"]["keep_diffs"]
    ]
    outputs += [result_path(name, "hips") for name in MOSAICS if MOSAICS[name]["hips"]]
    outputs += [layout.colour_png(name) for name in COLORS]
    outputs += [layout.colour_hips(name) for name in COLORS if colour_has_hips(name)]
    return outputs


def setting(wildcards, *keys):
    """A mosaic's config value, e.g. setting(w, "background", "model")."""
    value = MOSAICS[wildcards.mosaic]
    for key in keys:
        value = value[key]
    return value

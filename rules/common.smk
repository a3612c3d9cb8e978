# The config: validated against config/schema.yaml (which fills in every
# default), short forms expanded into mosaics and composites, impossible
# combinations refused; then the names every rule shares (wildcard
# constraints, the job command, where a mosaic's results go). Parsed by every
# job (on HTCondor too), so it imports nothing heavy.

import functools
import os
import shlex
import sys

sys.path.insert(0, os.path.join(workflow.basedir, "scripts"))

from mosaicflow import UserError, layout, tables  # noqa: E402  (standard library only)
from mosaicflow import config_check  # noqa: E402
from mosaicflow.archive import archive_url  # noqa: E402
from mosaicflow.atomic import area_name  # noqa: E402
from mosaicflow import fields as short_forms  # noqa: E402
from mosaicflow.command import JobCommand  # noqa: E402

SCHEMA = os.path.join(workflow.basedir, "config", "schema.yaml")
CONFIG_SOURCE = ", ".join(map(str, workflow.overwrite_configfiles))


def validate_config(data):
    """Validate against the schema (filling in its defaults), or stop with a short message."""
    try:
        config_check.validate(data, SCHEMA, CONFIG_SOURCE)
    except UserError as problem:
        raise WorkflowError(str(problem)) from None


validate_config(config)
if not config.get("mosaics") and not config.get("fields"):
    raise WorkflowError(
        f"configuration: {CONFIG_SOURCE or 'the config'} defines no mosaics"
        " (neither 'mosaics' nor 'fields')"
    )
ARCHIVE = config["archive"]


def intermediate(path, kind):
    """Output ``path`` as temp() unless keep_intermediates.KIND says to keep it."""
    return path if config["keep_intermediates"][kind] else temp(path)


# bands: [...] and the fields table expand into plain mosaics (validated again,
# which also fills in their defaults) and colour composites.
try:
    MOSAICS, COLORS = short_forms.expand(config)
except UserError as problem:
    raise WorkflowError(f"configuration: {problem}") from None
# Only mosaics from the fields table are new here (bands copy validated
# mosaics); validation costs ~75 ms and every job parses this file.
_unvalidated = {name: m for name, m in MOSAICS.items() if "background" not in m}
if _unvalidated:
    validate_config({"mosaics": _unvalidated})


def refuse_absurd_regions():
    """A centre-and-size region too large to build, or an unreadable centre, is refused before any work."""
    from mosaicflow import region

    for name, mosaic in MOSAICS.items():
        box = mosaic["region"]
        if "width" in box:
            where = f"mosaics.{name}.region"
            size = region.box_size(box["width"], box["height"], box["pixel_scale"])
            try:
                region.check_size(*size, config["max_pixels"], where)
                # a job on a pool node parses this file too: the submit host checked
                if not workflow.remote_exec:
                    region.parse_center(box["center"], f"{where}.center", box["frame"])
            except UserError as problem:
                raise WorkflowError(str(problem)) from None


refuse_absurd_regions()


def refuse_keeping_corrections_never_written():
    if not config["keep_intermediates"]["corrected"]:
        return
    for name, mosaic in MOSAICS.items():
        if mosaic["background"]["correct_jobs"] == "coadd":
            raise WorkflowError(
                f"configuration: mosaics.{name}.background.correct_jobs: coadd writes no "
                "corrected images, but keep_intermediates.corrected is true; set one of them "
                "differently"
            )


refuse_keeping_corrections_never_written()


# Composites made from `bands` get their defaults (stretch, size) from the schema
# too; only when there are any (validation costs every job's parse ~75 ms).
if COLORS:
    validate_config({"colors": COLORS})

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
    # Image ids are "<sanitised name>-<8 hex digits>" (mosaicflow.inputs.image_id),
    # which also keeps "<id>_area.fits" from matching "<id>.fits".
    image=r"[A-Za-z0-9_-]*-[0-9a-f]{8}",
    plus=r"[A-Za-z0-9_-]*-[0-9a-f]{8}",
    minus=r"[A-Za-z0-9_-]*-[0-9a-f]{8}",
    tile=r"r[0-9]+c[0-9]+",
    batch=r"[0-9]{1,6}",


# Where things are: every path of results/NAME/ is named in mosaicflow.layout.
result = (
    layout.pattern
)  # a rule's pattern, e.g. result("projected") -> results/{mosaic}/projected/{image}.fits
result_path = layout.path  # one mosaic's file, e.g. result_path("m31", "region")
log_file = layout.log_pattern
benchmark_file = layout.benchmark_pattern


def final_outputs():
    outputs = [path for name in MOSAICS for path in layout.products(name)]
    outputs += [layout.colour_png(name) for name in COLORS]
    return outputs


def setting(wildcards, *keys):
    """A mosaic's config value, e.g. setting(w, "background", "model")."""
    value = MOSAICS[wildcards.mosaic]
    for key in keys:
        value = value[key]
    return value

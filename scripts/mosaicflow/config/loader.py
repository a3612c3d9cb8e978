"""The one config loader: what the workflow, ``scripts/check_config.py`` and the
folder watcher take for a valid config, with every rule of it in one place.

``load`` validates against ``config/schema.yaml`` (filling in its defaults),
expands the short forms (bands, field tables, colour composites) into plain
mosaics and validates those, then refuses the combinations no schema can
express: a config without mosaics, a centre-and-size region too large to
build or whose centre cannot be read, and corrected images kept that are
never written. Standard library (and PyYAML, jsonschema) only: every job
parses the workflow, and this with it.
"""

import os
from dataclasses import dataclass

from .. import UserError
from . import fields, validation

# The schema, the one source of the defaults.
SCHEMA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "config", "schema.yaml")


@dataclass
class Config:
    """A loaded config: the validated ``data`` (defaults filled in), its plain
    ``mosaics`` and colour composites (``colors``), by name."""

    data: dict
    mosaics: dict
    colors: dict


def load(data, source="", workdir=".", check_centres=True, schema=SCHEMA):
    """The loaded config of ``data`` (changed in place: defaults filled in), or a
    UserError saying what is wrong and where (``source``: the files' names).

    ``workdir``: where a field table's relative path is read. ``check_centres``:
    parse each region's centre (a pool node's job leaves it to the submit host,
    which has the frame tables loaded already).
    """
    validation.validate(data, schema, source)
    if not data.get("mosaics") and not data.get("fields"):
        raise UserError(f"configuration: {source or 'the config'} defines no mosaics (neither 'mosaics' nor 'fields')")
    try:
        mosaics, colors = fields.expand(data, workdir)
    except UserError as problem:
        raise UserError(f"configuration: {problem}") from None
    # Only mosaics from the fields table are new here (bands copy validated
    # mosaics), and composites made from bands; validation costs every job's parse.
    unvalidated = {name: mosaic for name, mosaic in mosaics.items() if "background" not in mosaic}
    if unvalidated:
        validation.validate({"mosaics": unvalidated}, schema, source)
    if colors:
        validation.validate({"colors": colors}, schema, source)
    refuse_absurd_regions(mosaics, data["max_pixels"], check_centres)
    refuse_keeping_corrections_never_written(mosaics, data["keep_intermediates"])
    return Config(data, mosaics, colors)


def refuse_absurd_regions(mosaics, max_pixels, check_centres=True):
    """A centre-and-size region too large to build, or an unreadable centre, is refused before any work."""
    from ..sky import region

    for name, mosaic in mosaics.items():
        box = mosaic["region"]
        if "width" in box:
            where = f"mosaics.{name}.region"
            region.check_size(*region.box_size(box["width"], box["height"], box["pixel_scale"]), max_pixels, where)
            if check_centres:
                region.parse_center(box["center"], f"{where}.center", box["frame"])


def refuse_keeping_corrections_never_written(mosaics, keep_intermediates):
    if not keep_intermediates["corrected"]:
        return
    for name, mosaic in mosaics.items():
        if mosaic["background"]["correct_jobs"] == "coadd":
            raise UserError(
                f"configuration: mosaics.{name}.background.correct_jobs: coadd writes no "
                "corrected images, but keep_intermediates.corrected is true; set one of them "
                "differently"
            )

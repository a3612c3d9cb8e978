"""Command line for the workflow's shell jobs: ``montage_job.py STEP --option value ...``.

Rules call this through ``shell:`` rather than ``script:`` because a shell job
costs a Python start plus MontagePy, while a ``script:`` job also loads
Snakemake's script machinery, and per-image and per-overlap jobs number in the
hundreds. For the same reason each step's code is imported only when that
step runs. Arguments are workflow-made paths
and identifiers only; user file names reach Montage through the image
table's links.
"""

import sys

from .. import UserError

# step: (help, {option: default}); a default of None means required, False a flag.
STEPS = {
    "project": (
        "reproject one image (mProjectPP, mProject or mProjectQL)",
        {
            "raw": None,
            "hdu": None,
            "method": None,
            "header": None,
            "out": None,
            "on-error": None,
            "attempt": None,
            "retries": None,
            "content": None,
            "key": None,
            "token": "",
        },
    ),
    "project-batch": (
        "reproject the images of batch --batch of --batches (from the image table --images) into"
        " the folder --out; --tokens ID=TOKEN,... are their last failures' tokens",
        {
            "batch": None,
            "batches": None,
            "images": None,
            "header": None,
            "out": None,
            "on-error": None,
            "attempt": None,
            "retries": None,
            "tokens": "",
        },
    ),
    "fit": (
        "fit the difference of one overlap (mDiffFit)",
        {
            "plus": None,
            "minus": None,
            "header": None,
            "out": None,
            "level-only": False,
            "median-below": "",
        },
    ),
    "fit-image": (
        "fit the differences of one image's overlaps with the images in --minus-ids (mDiffFit)",
        {
            "plus": None,
            "minus-ids": None,
            "projected-dir": None,
            "projection-batches": "0",
            "header": None,
            "out": None,
            "level-only": False,
            "median-below": "",
        },
    ),
    "fit-batch": (
        "fit the differences of the overlaps of batch --batch of --batches (mDiffFit), from --overlaps",
        {
            "batch": None,
            "batches": None,
            "overlaps": None,
            "projected-dir": None,
            "projection-batches": "0",
            "header": None,
            "out": None,
            "level-only": False,
            "median-below": "",
        },
    ),
    "diffs": (
        "every overlap's difference image (mDiff), into the folder --out",
        {"overlaps": None, "projected-dir": None, "projection-batches": "0", "header": None, "out": None},
    ),
    "correct": (
        "apply one image's background correction (mBackground)",
        {"projected": None, "corrections": None, "id": None, "out": None},
    ),
    "download": (
        "download one archive image into the cache (URL from its --source record)",
        {"source": None, "out": None, "timeout": None, "retries": None},
    ),
    "projected-table": (
        "mImgtbl of the projected images, then mOverlaps (unless --no-overlaps)",
        {
            "images": None,
            "projected-dir": None,
            "out": None,
            "failed": None,
            "mosaic": None,
            "overlaps": None,
            "overlaps-skipped": None,
            "no-overlaps": False,
            "projection-batches": "0",
            "processes": "1",
        },
    ),
    "gather-fits": (
        "combine the per-overlap fits into the table mBgModel reads",
        {
            "projected-table": None,
            "overlaps": None,
            "fits-dir": None,
            "out": None,
            "fit-jobs": None,
            "fit-batches": "1",
            "mosaic": None,
        },
    ),
    "model": (
        "the background model: mBgModel, or (--solver lsq) the direct least-squares solve",
        {
            "projected-table": None,
            "fits": None,
            "out-tbl": None,
            "out-tsv": None,
            "out-screened": None,
            "min-width": None,
            "min-pixels": None,
            "outlier-sigma": None,
            "iterations": None,
            "level-only": False,
            "solver": None,
        },
    ),
    "coadd": (
        "mAdd, or (with --tiles-dir) the mosaic assembled from coadded tiles",
        {
            "images-dir": None,
            "table": None,
            "header": None,
            "out": None,
            "method": None,
            "tiles-dir": "",
            "tile-size": "0",
            "corrections": "",
            "mosaic": None,
            "background-model": None,
            "correct-jobs": None,
        },
    ),
    "coadd-tile": (
        "mAdd of the images that touch one tile of the mosaic",
        {
            "images-dir": None,
            "table": None,
            "header": None,
            "tile": None,
            "tile-size": None,
            "out": None,
            "method": None,
            "corrections": "",
        },
    ),
    "color": (
        "three-colour PNG of three mosaics with one header (mViewer)",
        {
            "red": None,
            "green": None,
            "blue": None,
            "red-header": None,
            "green-header": None,
            "blue-header": None,
            "out": None,
            "stretch": None,
            "max-size": None,
        },
    ),
    "preview": (
        "mShrink + mViewer PNG",
        {"mosaic": None, "out": None, "max-size": None, "stretch": None, "colour-table": None},
    ),
}


def parser():
    """The argument parser of every step, from ``STEPS``."""
    import argparse

    top = argparse.ArgumentParser(prog="montage_job.py", description="The workflow's shell jobs, one step each.")
    steps = top.add_subparsers(dest="step", required=True, metavar="STEP")
    for name, (text, spec) in STEPS.items():
        step = steps.add_parser(name, help=text, description=text)
        for option, default in spec.items():
            if default is False:
                step.add_argument(f"--{option}", action="store_true")
            elif default is None:
                step.add_argument(f"--{option}", required=True, metavar="VALUE")
            else:
                # an empty value may come as no word at all (Snakemake's {x:q} of "")
                step.add_argument(f"--{option}", default=default, nargs="?", const="", metavar="VALUE")
    return top


def parse(argv):
    """(step, {option_name: value}) from ``STEP --name value --flag ...``; a usage
    error exits with status 2 and the step's usage, as argparse does."""
    options = vars(parser().parse_args(argv))
    return options.pop("step"), options


def run(step, o):
    if step == "project":
        from ..montage.per_item import header_digest, project_or_skip, projection_key

        last = int(o["attempt"]) > int(o["retries"])
        key = (o["key"], projection_key(o["hdu"], o["method"], o["content"], header_digest(o["header"])))
        reason = project_or_skip(
            o["raw"], int(o["hdu"]), o["header"], o["out"], o["method"], o["on_error"], last, key, o["token"]
        )
        if reason:
            print(f"projection failed after {o['attempt']} attempts; image skipped: {reason}")
    elif step == "project-batch":
        from ..files import tables
        from ..files.layout import images_by_batch
        from ..montage.per_item import project_batch

        rows = tables.read_tsv(o["images"])
        chosen = set(images_by_batch([row["id"] for row in rows], int(o["batches"])).get(int(o["batch"]), []))
        images = [row for row in rows if row["id"] in chosen]
        last = int(o["attempt"]) > int(o["retries"])
        tokens = dict(item.split("=", 1) for item in o["tokens"].split(",") if item)
        rows = project_batch(images, o["header"], o["out"], o["on_error"], last_attempt=last, tokens=tokens)
        failed = [row["id"] for row in rows if row["status"] == "failed"]
        print(f"{len(rows)} images projected")
        for ident in failed:
            print(f"projection failed after {o['attempt']} attempts; image skipped: {ident}")
    elif step == "fit":
        from ..montage.per_item import difference_fit

        row = difference_fit(o["plus"], o["minus"], o["header"], o["out"], o["level_only"], _median_below(o))
        if row["status"] != "ok":
            print(f"fit failed (left out of the background model): {row['message']}")
    elif step == "fit-image":
        import os

        from ..files.layout import projected_name
        from ..montage.per_item import difference_fits

        batches = int(o["projection_batches"])
        minus = [os.path.join(o["projected_dir"], projected_name(m, batches)) for m in o["minus_ids"].split(",") if m]
        pairs = [(o["plus"], path) for path in minus]
        _report_fits(difference_fits(pairs, o["header"], o["out"], o["level_only"], _median_below(o)))
    elif step == "fit-batch":
        import os

        from ..files.layout import pairs_by_batch, projected_name
        from ..montage.per_item import difference_fits
        from ..montage.per_mosaic import overlap_pairs

        folder, projection_batches = o["projected_dir"], int(o["projection_batches"])
        chosen = pairs_by_batch(overlap_pairs(o["overlaps"]), int(o["batches"])).get(int(o["batch"]), [])
        pairs = [
            tuple(os.path.join(folder, projected_name(image, projection_batches)) for image in pair) for pair in chosen
        ]
        _report_fits(difference_fits(pairs, o["header"], o["out"], o["level_only"], _median_below(o)))
    elif step == "diffs":
        import os

        from ..files.layout import projected_name
        from ..montage.per_item import difference_images
        from ..montage.per_mosaic import overlap_pairs

        folder, batches = o["projected_dir"], int(o["projection_batches"])
        pairs = [
            tuple(os.path.join(folder, projected_name(image, batches)) for image in pair)
            for pair in overlap_pairs(o["overlaps"])
        ]
        print(f"{len(difference_images(pairs, o['header'], o['out']))} difference images")
    elif step == "correct":
        from ..montage.per_item import background, read_correction

        background(o["projected"], o["out"], *read_correction(o["corrections"], o["id"]))
    elif step == "download":
        from ..sources import archive

        url, size = archive.read_source_record(o["source"])
        result = archive.download(
            url, o["out"], expected_size=size, timeout=(10, float(o["timeout"])), retries=int(o["retries"])
        )
        print(f"{result['status']} {url} ({result['bytes']} bytes, {result['retries']} retries)")
    elif step == "projected-table":
        from ..files import layout, tables
        from ..montage.per_mosaic import projected_table

        images = tables.read_tsv(o["images"])
        projection_batches = int(o["projection_batches"])
        failed = projected_table(
            images, o["projected_dir"], o["out"], o["failed"], int(o["processes"]), projection_batches
        )
        for row in failed:
            print(f"left out (projection failed): {row['path']}: {row['reason']}")
        current = {row["id"] for row in images}
        batches = set()
        if projection_batches:
            from ..files.layout import images_by_batch

            batches = set(images_by_batch(current, projection_batches))
        # one job per image keeps its files in projected/, batch jobs in their folders
        removed = layout.prune(o["mosaic"], "image", set() if batches else current)
        removed += layout.prune_projection_batches(o["mosaic"], batches)
        removed += layout.prune(o["mosaic"], "projection_job", {f"batch-{b}" for b in batches} or current)
        removed += layout.prune(o["mosaic"], "corrected", current - {row["id"] for row in failed})
        print(f"removed {removed} files of images that are no longer inputs (or not projected)")
        if o["no_overlaps"]:
            from ..montage.per_mosaic import no_overlaps

            no_overlaps(o["overlaps"], o["overlaps_skipped"])
        else:
            from ..montage.per_mosaic import overlaps

            kept, skipped = overlaps(o["out"], o["overlaps"], o["overlaps_skipped"])
            print(f"overlaps: {kept} to fit, {skipped} too small for the background model (left out)")
    elif step == "gather-fits":
        from ..files import layout
        from ..files.layout import fit_items
        from ..montage.per_mosaic import gather_fits, overlap_pairs

        pairs = overlap_pairs(o["overlaps"])
        fit_jobs, batches = o["fit_jobs"], int(o["fit_batches"])
        items = set(fit_items(pairs, fit_jobs, batches).values())
        removed = layout.prune(o["mosaic"], "fit", items)
        print(f"removed {removed} files of overlaps that no longer exist (or of another fit_jobs layout)")
        fitted, failed = gather_fits(o["projected_table"], pairs, o["fits_dir"], o["out"], fit_jobs, batches)
        print(f"overlaps: {len(pairs)}, fitted: {fitted}, failed fits left out: {failed}")
    elif step == "model":
        from ..montage.fitscreen import Rule
        from ..montage.per_mosaic import background_model

        rule = Rule(float(o["min_width"]), int(o["min_pixels"]), float(o["outlier_sigma"]))
        summary = background_model(
            o["projected_table"],
            o["fits"],
            o["out_tbl"],
            o["out_tsv"],
            o["out_screened"],
            int(o["iterations"]),
            o["level_only"],
            o["solver"],
            rule,
        )
        print(summary)
    elif step == "coadd":
        from ..files import layout

        if o["tiles_dir"]:
            from ..montage.tiles import assemble_mosaic, tiles_with_images

            size = int(o["tile_size"])
            count = assemble_mosaic(o["tiles_dir"], o["table"], o["header"], size, o["out"])
            print(f"mosaic assembled from {count} tiles")
            current = set(tiles_with_images(o["table"], o["header"], size))
        else:
            from ..montage.per_mosaic import coadd

            coadd(o["images_dir"], o["table"], o["header"], o["out"], o["method"], o["corrections"])
            current = set()
        # What this configuration does not make: tiles of another layout, and
        # the files of background steps that no longer run.
        layout.prune(o["mosaic"], "tile", current)
        if o["background_model"] == "none":
            layout.prune_background(o["mosaic"])
        if o["background_model"] == "none" or o["correct_jobs"] == "coadd":
            layout.prune(o["mosaic"], "corrected", set())
    elif step == "coadd-tile":
        from ..montage.tiles import coadd_tile

        count = coadd_tile(
            o["images_dir"],
            o["table"],
            o["header"],
            int(o["tile_size"]),
            o["tile"],
            o["out"],
            o["method"],
            o["corrections"],
        )
        print(f"tile {o['tile']}: {count} images")
    elif step == "color":
        from ..montage.per_mosaic import colour_composite

        channels = {c: o[c] for c in ("red", "green", "blue")}
        headers = {c: o[f"{c}_header"] for c in ("red", "green", "blue")}
        factor = colour_composite(channels, headers, o["out"], o["stretch"], int(o["max_size"]))
        print(f"colour composite shrunk by {factor}")
    elif step == "preview":
        from ..montage.per_mosaic import preview

        factor = preview(o["mosaic"], o["out"], int(o["max_size"]), o["stretch"], int(o["colour_table"]))
        print(f"preview shrunk by {factor}")


def _median_below(options):
    """--median-below W (background.fit_screen.min_width), or None: no median read."""
    return float(options["median_below"]) if options["median_below"] else None


def _report_fits(rows):
    for row in rows:
        if row["status"] != "ok":
            print(f"fit {row['plus']} - {row['minus']} failed (left out of the model): {row['message']}")
    print(f"{len(rows)} overlaps fitted")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    step, options = parse(argv)
    from ..montage.per_item import StepError

    try:
        run(step, options)
    except (UserError, StepError) as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    from ..reports.job_usage import line

    # into the job's log, for the per-job accounting (see the module)
    print(line(), flush=True)
    return 0

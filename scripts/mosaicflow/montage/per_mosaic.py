"""Once-per-mosaic Montage stages: tables, background model, coadd, preview.

Standard library and MontagePy only, like ``per_item``; these run once per
mosaic but sit between the parallel stages, so they should start fast.
"""

import math
import os
import shutil

from ..files import atomic, layout, tables
from ..files.layout import image_id_of
from . import BGMODEL_AREA_LIMIT
from .per_item import StepError, check_status, corrected_folder, load_montage

# mImgtbl reads a few hundred headers a second (wcstools searches the header
# for every keyword it might need): below this many images per process a
# worker's start costs more than it saves.
MIN_HEADERS_PER_PROCESS = 250


def image_table(folder, names, output, processes=1, min_per_process=MIN_HEADERS_PER_PROCESS, **options):
    """mImgtbl of the files ``names`` in ``folder``, rows in that order, to ``output``.

    With ``processes`` > 1 and enough names, contiguous parts of the list are
    read by that many processes and their rows joined with ``cntr`` numbered
    on: the bytes one mImgtbl call writes (tested). Raises StepError when
    mImgtbl fails or leaves out a file.
    """
    parts = max(1, min(processes, len(names) // min_per_process))
    blocks = equal_runs(names, parts)
    lists = [atomic.temp_path_for(output, suffix=f".{n}.list") for n in range(parts)]
    part_outputs = [] if parts == 1 else [atomic.temp_path_for(output, suffix=f".{n}") for n in range(parts)]
    try:
        for block, list_path in zip(blocks, lists, strict=True):
            tables.write_ipac(list_path, ["fname"], [{"fname": name} for name in block])
        if parts == 1:
            image_table_part(folder, lists[0], output, options)
        else:
            from .subprocess_call import Call

            calls = [
                Call("mosaicflow.montage.per_mosaic", "image_table_part", folder, list_path, out, options, near=output)
                for list_path, out in zip(lists, part_outputs, strict=True)
            ]
            problems = []
            for call in calls:  # every one waited for, so none outlives the job
                try:
                    call.result()
                except StepError as problem:
                    problems.append(problem)
            if problems:
                raise problems[0]
            atomic.write_text(output, tables.concatenate_ipac(part_outputs, renumber="cntr"))
    finally:
        atomic.discard(*lists, *part_outputs)
    read = {os.path.basename(row["fname"]) for row in tables.read_ipac(output)}
    missing = [name for name in names if os.path.basename(name) not in read]
    if missing:
        raise StepError(f"mImgtbl did not read {len(missing)} of {len(names)} files: {missing[:5]}")


def equal_runs(items, parts):
    """``items`` cut into ``parts`` consecutive runs whose lengths differ by one at most."""
    return [items[part * len(items) // parts : (part + 1) * len(items) // parts] for part in range(parts)]


def image_table_part(folder, list_path, output, options):
    """One mImgtbl call over the files named in ``list_path`` (a part of ``image_table``)."""
    result = load_montage().mImgtbl(folder, output, imgListFile=list_path, **options)
    check_status(result, f"mImgtbl of the files listed in {list_path}")


def projected_table(images, projected_dir, output, failed_output, processes=1, batches=0):
    """mImgtbl of the projected images, in image-id order; returns the failures.

    An explicit list, not a directory scan: a folder may hold projections of
    images that are no longer inputs, and the order fixes Montage's ``cntr``
    numbering (so overlaps keep their orientation when images are added).
    Images whose projection failed for good (on_image_error: skip) are left
    out and listed in ``failed_output`` with the reason. ``processes`` read
    the headers (``image_table``). ``batches``: projection.batches when batch
    jobs made the projections (``layout.projected_name``), else 0.
    """
    from .per_item import projection_failure

    failed, ids = [], []
    for row in sorted(images, key=lambda r: r["id"]):
        reason = projection_failure(os.path.join(projected_dir, layout.projected_name(row["id"], batches)))
        if reason is not None:
            failed.append({"id": row["id"], "path": row["path"], "reason": reason})
        else:
            ids.append(row["id"])
    tables.write_tsv(failed_output, ["id", "path", "reason"], failed)
    if not ids:
        raise StepError("no image could be projected; see " + failed_output)
    temp = atomic.temp_path_for(output)
    try:
        image_table(projected_dir, [layout.projected_name(i, batches) for i in sorted(ids)], temp, processes)
        atomic.commit(temp, output)
    finally:
        atomic.discard(temp)
    return failed


def overlaps(projected_tbl, output, skipped_output):
    """mOverlaps: which projected images overlap (Montage's diffs table).

    Overlaps too small for mBgModel to use are left out before any fit job is
    made: the two cutouts' bounding boxes intersect in fewer pixels than
    mBgModel's limit (0.001 of the average image), so the fit, which covers at
    most that box, would be ignored anyway. They are listed in
    ``skipped_output``. Returns (kept, skipped) counts.
    """
    montage = load_montage()
    temp = atomic.temp_path_for(output)
    try:
        check_status(montage.mOverlaps(projected_tbl, temp), "mOverlaps")
        images = {row["fname"]: row for row in tables.read_ipac(projected_tbl)}
        limit = BGMODEL_AREA_LIMIT * sum(int(r["naxis1"]) * int(r["naxis2"]) for r in images.values()) / len(images)
        skipped = []

        def keep(row):
            area = _box_overlap(images[row["plus"]], images[row["minus"]])
            if area < limit:
                skipped.append(
                    {
                        "plus": image_id_of(row["plus"]),
                        "minus": image_id_of(row["minus"]),
                        "box_pixels": area,
                    }
                )
                return False
            return True

        tables.filter_ipac(temp, output, keep)
        tables.write_tsv(skipped_output, ["plus", "minus", "box_pixels"], skipped)
    finally:
        atomic.discard(temp)
    return len(overlap_pairs(output)), len(skipped)


OVERLAPS_HEADER = (
    "| cntr1 | cntr2 |                      plus |                     minus |         diff             |\n"
    "| int   | int   |                      char |                      char |         char             |\n"
)


def no_overlaps(output, skipped_output):
    """The overlaps table without mOverlaps, for ``background.model: none``: no rows."""
    atomic.write_text(output, "\\ background.model is none: overlaps not computed\n" + OVERLAPS_HEADER)
    tables.write_tsv(skipped_output, ["plus", "minus", "box_pixels"], [])


def _box_overlap(a, b):
    """Pixels in the intersection of two projected cutouts' boxes on the mosaic grid."""

    def span(row, axis):
        start = -float(row[f"crpix{axis}"])  # the cutout's first pixel, relative to the mosaic's CRPIX
        return start, start + int(row[f"naxis{axis}"])

    width = min(span(a, 1)[1], span(b, 1)[1]) - max(span(a, 1)[0], span(b, 1)[0])
    height = min(span(a, 2)[1], span(b, 2)[1]) - max(span(a, 2)[0], span(b, 2)[0])
    return max(0.0, width) * max(0.0, height)


def overlap_pairs(overlaps_tbl):
    """[(plus_id, minus_id)] from an mOverlaps table."""
    return [(image_id_of(row["plus"]), image_id_of(row["minus"])) for row in tables.read_ipac(overlaps_tbl)]


def read_fits(fits_dir, pairs, fit_jobs="overlap", batches=1, strict=True):
    """{(plus, minus): fit row} for ``pairs`` from the fit files in ``fits_dir``
    (``layout.fit_items``).

    An empty, cut-off or stale file (e.g. from a crash) is an error with
    ``strict``, never a fit; without it, such overlaps are left out.
    """
    rows, loaded = {}, {}
    items = layout.fit_items(pairs, fit_jobs, batches)
    for plus, minus in pairs:
        path = os.path.join(fits_dir, items[(plus, minus)] + ".tsv")
        if path not in loaded:
            loaded[path] = _read_fit_file(path, plus, minus, fit_jobs == "overlap", strict)
        row = loaded[path].get((plus, minus))
        if row is None and strict:
            raise StepError(f"{path} has no fit of {plus} - {minus}; delete it and run again to refit")
        if row is not None:
            rows[(plus, minus)] = row
    return rows


def _read_fit_file(path, plus, minus, single, strict):
    """A fit file's rows by (plus, minus); ``single``: a file of one overlap, without the ids."""
    try:
        rows = tables.read_tsv(path)
    except (OSError, ValueError, IndexError):
        rows = None
    if rows is not None and single:
        rows = [{"plus": plus, "minus": minus, **row} for row in rows] if len(rows) == 1 else None
    complete = rows is not None and all(
        row.get("status") == "failed" or (row.get("status") == "ok" and all(row.get(n) for n in tables.FIT_FIELDS))
        for row in rows
    )
    if not complete:
        if strict:
            raise StepError(f"{path} is incomplete; delete it and run again to refit")
        return {}
    return {(row["plus"], row["minus"]): row for row in rows}


def gather_fits(projected_tbl, pairs, fits_dir, output, fit_jobs="overlap", batches=1):
    """Combine the difference fits into the table mBgModel reads.

    Fits are read from ``fits_dir`` (see ``layout.fit_items``). Rows are written in
    mDiffFitExec's exact format; failed fits are left out, as mDiffFitExec
    does. Returns (fitted, failed) counts.
    """
    cntr = {image_id_of(row["fname"]): int(row["cntr"]) for row in tables.read_ipac(projected_tbl)}
    fits = read_fits(fits_dir, pairs, fit_jobs, batches)
    lines = [tables.FITS_HEADER_WITH_MEDIAN]
    fitted = failed = 0
    for plus, minus in sorted(pairs, key=lambda pair: (cntr[pair[0]], cntr[pair[1]])):
        row = fits[(plus, minus)]
        if row["status"] != "ok":
            failed += 1
            continue
        fit = {name: float(row[name]) for name in tables.FIT_FIELDS}
        for name in ("xmin", "xmax", "ymin", "ymax"):
            fit[name] = int(fit[name])
        # fit files of an earlier version have no median
        fit["median"] = float(row.get("median") or "nan")
        lines.append(tables.format_fit_row(cntr[plus], cntr[minus], fit))
        fitted += 1
    atomic.write_text(output, "".join(lines))
    return fitted, failed


def background_model(
    projected_tbl,
    fits_tbl,
    corrections_tbl,
    corrections_tsv,
    screened_tsv,
    iterations,
    level_only,
    solver,
    screen_rule,
):
    """The corrections table (mBgModel, or with ``solver`` lsq the direct solve
    of ``bgsolve``) from the fits as ``fitscreen`` lets them be used (those not
    used as fitted listed in ``screened_tsv``), checked, then the corrections
    keyed by image id for the per-image jobs. Returns a line saying what was done.

    Corrections that are not finite, or beyond what the fits allow, are an
    error: no table is left, so no image is corrected with them."""
    from . import fitscreen

    if solver not in ("mbgmodel", "lsq"):
        raise StepError(f"background solver is mbgmodel or lsq, not {solver!r}")
    ids = {int(row["cntr"]): image_id_of(row["fname"]) for row in tables.read_ipac(projected_tbl)}
    temp = atomic.temp_path_for(corrections_tbl)
    try:
        with atomic.scratch_dir(corrections_tbl) as scratch:
            used_tbl = os.path.join(scratch, "fits_used.tbl")
            used, slivers, rejected = fitscreen.screen_table(fits_tbl, used_tbl, screened_tsv, ids, screen_rule)
            screened = (
                f"fits: {len(used)} used, of them {slivers} slivers (slope across dropped); {rejected} rejected"
                f" (see {screened_tsv}); "
            )
            if solver == "lsq":
                from .bgsolve import solve_tables

                summary = solve_tables(projected_tbl, used_tbl, temp, level_only).summary()
            else:
                montage = load_montage()
                result = montage.mBgModel(projected_tbl, used_tbl, temp, noslope=level_only, niteration=iterations)
                check_status(result, "mBgModel")
                summary = f"mBgModel, {iterations} iterations: {result.get('msg', '')}"
            by_cntr = {int(row["id"]): row for row in tables.read_ipac(temp)}
            planes = {cntr: (float(r["a"]), float(r["b"]), float(r["c"])) for cntr, r in by_cntr.items()}
            try:
                fitscreen.check_corrections(planes, used, ids)
            except ValueError as problem:
                raise StepError(
                    f"{problem}: no mosaic is made from them. The fits are in {fits_tbl} (those not used as fitted"
                    f" in {screened_tsv}); try background.solver: lsq, or a stricter background.fit_screen"
                ) from None
        atomic.commit(temp, corrections_tbl)
    finally:
        atomic.discard(temp)
    summary = screened + summary
    rows = []
    for cntr, ident in sorted(ids.items()):
        # mBgExec applies a zero correction to images the model did not solve for.
        row = by_cntr.get(cntr, {"a": "0", "b": "0", "c": "0"})
        rows.append({"id": ident, "a": row["a"], "b": row["b"], "c": row["c"]})
    tables.write_tsv(corrections_tsv, ["id", "a", "b", "c"], rows)
    return summary


COADD_METHODS = {"mean": 0, "median": 1, "count": 2}


def coadd(images_dir, images_tbl, header, output, method, corrections=None):
    """mAdd the images listed in ``images_tbl`` (found in ``images_dir``).

    Area-weighted; writes ``output`` and its ``_area`` companion atomically.
    With ``corrections`` (corrections.tsv), ``images_dir`` holds the projected
    images and their background corrections are applied here first.
    """
    montage = load_montage()
    fnames = [row["fname"] for row in tables.read_ipac(images_tbl)]
    with (
        corrected_folder(images_dir, fnames, corrections, output) as folder,
        atomic.fits_pair(output) as temp,
    ):
        result = montage.mAdd(folder, images_tbl, header, temp, haveAreas=True, coadd=COADD_METHODS[method])
        check_status(result, "mAdd")


def render_png(png, sources, command, max_size):
    """An mViewer PNG of one or more FITS images; returns the shrink factor.

    ``sources`` maps names to FITS files of one size; each is shrunk with
    mShrink (one common factor) so the PNG is at most ``max_size`` pixels on
    a side. ``command(paths)`` builds mViewer's command string from the
    (shrunk) files' paths: mViewer parses that string, so only relative,
    space-free, workflow-made paths go into it. The PNG is written atomically.
    """
    montage = load_montage()
    factor = shrink_factor(*image_size(next(iter(sources.values()))), max_size)
    with atomic.scratch_dir(png) as scratch:
        paths = {}
        for name, fits in sources.items():
            path = fits
            if factor > 1 or os.path.isabs(fits) or any(c.isspace() for c in fits):
                path = os.path.relpath(os.path.join(scratch, f"{name}.fits"))
                if factor > 1:
                    check_status(montage.mShrink(fits, path, factor), f"mShrink of {fits}")
                else:
                    shutil.copyfile(fits, path)
            if any(c.isspace() for c in path):
                raise StepError(f"cannot pass {path!r} to mViewer: the path contains white space")
            paths[name] = path
        temp = os.path.join(scratch, "image.png")
        check_status(montage.mViewer(command(paths), temp, mode=2), f"mViewer for {png}")
        atomic.commit(temp, png)  # the scratch folder is next to png: a rename on one filesystem
    return factor


def preview(mosaic, png, max_size, stretch, colour_table):
    """A PNG of the mosaic: mShrink to at most ``max_size`` pixels, then mViewer."""
    return render_png(
        png, {"mosaic": mosaic}, lambda p: f"-ct {int(colour_table)} -gray {p['mosaic']} {stretch}", max_size
    )


def colour_composite(channels, headers, png, stretch, max_size):
    """A three-colour PNG (mViewer) of three mosaics that share one header.

    ``channels`` and ``headers`` map red/green/blue to mosaic FITS files and
    their region headers; the headers must be identical.
    """
    texts = {}
    for channel, header in headers.items():
        with open(header, encoding="ascii", errors="replace") as handle:
            texts[channel] = handle.read()
    different = [c for c in ("green", "blue") if texts[c] != texts["red"]]
    if different:
        raise StepError(
            f"colour composite {png}: the mosaics of {', '.join(different)} have a different header from red "
            f"({', '.join(headers[c] for c in different)} vs {headers['red']}); they must share one region"
        )
    order = ("red", "green", "blue")
    return render_png(
        png, {c: channels[c] for c in order}, lambda p: " ".join(f"-{c} {p[c]} {stretch}" for c in order), max_size
    )


def shrink_factor(naxis1, naxis2, max_size):
    """The whole factor that brings an image to at most ``max_size`` pixels a side."""
    return max(1, math.ceil(max(naxis1, naxis2) / max_size))


def image_size(path):
    """NAXIS1, NAXIS2 from a FITS primary header without astropy."""
    return fits_layout(path)[1:3]


def fits_layout(path):
    """(header bytes, NAXIS1, NAXIS2, BITPIX) of a FITS file's primary HDU, without astropy."""
    from ..sky.frames import read_fits_header

    try:
        raw, header = read_fits_header(path)
    except ValueError as problem:
        raise StepError(str(problem)) from None
    return raw, header.get("NAXIS1"), header.get("NAXIS2"), header.get("BITPIX")

# Input functions: which files each job reads, answered from the config and
# from the checkpoints' tables (the image table, the projected table).

# ---- sources and region -------------------------------------------------


def source_folder(wildcards):
    source = setting(wildcards, "source")
    if source["type"] == "synthetic":
        return result_path(wildcards.mosaic, "synthetic_tiles")
    return existing(source["path"], wildcards, "source.path")


def existing(path, wildcards, key):
    """``path`` from the config, or stop naming the mosaic and the key (asked only
    of mosaics being made; Snakemake's missing-input error names neither)."""
    problem = validation.path_problem(wildcards.mosaic, key, path)
    if problem:
        raise WorkflowError(f"configuration: {problem}")
    return path


def source_is_recursive(wildcards):
    """Whether a local source's subfolders count (other sources have none)."""
    source = setting(wildcards, "source")
    return source["type"] == "local" and source["recursive"]


def is_auto_region(wildcards):
    return bool(setting(wildcards, "region").get("auto"))


def archive_images(wildcards):
    """Cache paths of a mosaic's archive images (after the archive-query checkpoint)."""
    from mosaicflow.sources.archive import cache_path

    listing = checkpoints.archive_query.get(mosaic=wildcards.mosaic).output[0]
    source = setting(wildcards, "source")
    return [
        cache_path(ARCHIVE["cache"], source["survey"], source["band"], row["file_name"])
        for row in tables.read_tsv(listing)
    ]


def source_state(wildcards):
    """A digest of a local source folder's files (names, sizes, mtimes, ctimes,
    inodes): a file overwritten in place reruns the image table, which the
    folder's own mtime would not (see mosaicflow.sources.manifest)."""
    source = setting(wildcards, "source")
    if source["type"] != "local" or not os.path.isdir(source["path"]):
        return ""
    from mosaicflow.sources.inputs import scan_folder
    from mosaicflow.sources.manifest import state

    # every file: the ones not used are listed in skipped.tsv
    fits_named, others = scan_folder(source["path"], source["recursive"])
    return state(path for path, _ in fits_named + others)


def image_table_inputs(wildcards):
    if setting(wildcards, "source")["type"] == "archive":
        inputs = {"images": archive_images(wildcards)}
    else:
        inputs = {"source": source_folder(wildcards)}
    if not is_auto_region(wildcards):
        inputs["header"] = result_path(wildcards.mosaic, "region")
    return inputs


def region_header_inputs(wildcards):
    region = setting(wildcards, "region")
    if region.get("auto"):
        return {"raw_table": result_path(wildcards.mosaic, "raw_table")}
    if "header" in region:
        return {"template": existing(region["header"], wildcards, "region.header")}
    return {}


# ---- checkpoint helpers -------------------------------------------------


from snakemake.exceptions import IncompleteCheckpointException

_CREATED_CHECKPOINT_OUTPUTS = {}


def checkpoint_output(checkpoint, mosaic):
    """``checkpoint.get(mosaic=mosaic).output``, asked of Snakemake until it has it.

    Snakemake's set of created checkpoint outputs only grows during a run, so
    once it answers, the answer stands; asking again costs an output
    expansion per call, and the input functions and parameters of every
    image's jobs ask. Until then ``get`` raises, as Snakemake needs to plan
    the jobs after the checkpoint.
    """
    key = (checkpoint.rule.name, mosaic)
    if key not in _CREATED_CHECKPOINT_OUTPUTS:
        try:
            output = checkpoint.get(mosaic=mosaic).output
        except IncompleteCheckpointException:
            if not workflow.remote_exec:
                raise
            output = declared_output(checkpoint, mosaic)
        _CREATED_CHECKPOINT_OUTPUTS[key] = output
    return _CREATED_CHECKPOINT_OUTPUTS[key]


def declared_output(checkpoint, mosaic):
    """The checkpoint's output files for ``mosaic``, as its rule declares them.

    A pool job's Snakemake (``--mode remote``) plans that one job, not the
    checkpoint it follows, so ``get`` raises there although the checkpoint
    ran before the job was submitted; and Snakemake refuses a parameter that
    raises so (it would have to be an input, and an input that every image's
    job shares would make every projection stale when one image changes).
    """
    from snakemake.io import apply_wildcards

    wildcards = {"mosaic": mosaic}
    output = DeclaredOutput(
        apply_wildcards(pattern, wildcards) for pattern in checkpoint.rule.output
    )
    for name, pattern in checkpoint.rule.output.items():
        setattr(output, name, apply_wildcards(pattern, wildcards))
    return output


class DeclaredOutput(list):
    """A rule's output files, by position and by name (as ``job.output``)."""


@functools.lru_cache(maxsize=None)
def _read_images(path, mtime):
    return {row["id"]: row for row in tables.read_tsv(path)}


def image_records(wildcards):
    """The mosaic's usable images (after the image-table checkpoint)."""
    path = checkpoint_output(checkpoints.image_table, wildcards.mosaic).images
    return _read_images(path, os.stat(path).st_mtime_ns)


def image_record(wildcards):
    return image_records(wildcards)[wildcards.image]


@functools.lru_cache(maxsize=None)
def _read_pairs(path, mtime):
    from mosaicflow.montage.per_mosaic import overlap_pairs

    return overlap_pairs(path)


def overlap_pairs(wildcards):
    """[(plus, minus)] image-id pairs (after the projected-table checkpoint)."""
    path = current_projected_table(wildcards.mosaic).overlaps
    return _read_pairs(path, os.stat(path).st_mtime_ns)


@functools.lru_cache(maxsize=None)
def _retry_tokens(folder, mtime):
    from mosaicflow.montage.per_item import retry_tokens

    return retry_tokens(folder)


def current_retry_tokens(mosaic):
    """{image id: token of its last failed projection} (mosaicflow.montage.per_item.retry_tokens)."""
    folder = result_path(mosaic, "projected_dir")
    try:
        mtime = os.stat(folder).st_mtime_ns
    except FileNotFoundError:
        return {}
    return _retry_tokens(folder, mtime)


def retry_token(wildcards):
    return current_retry_tokens(wildcards.mosaic).get(wildcards.image, "")


def projection_parameters(wildcards):
    """What one image's projection depends on besides its header (see rule project)."""
    record = image_record(wildcards)
    return {
        "hdu": record["hdu"],
        "method": record["method"],
        "content": record["content"],
        "retry": retry_token(wildcards),
    }


def retry_digest(wildcards):
    """All images' failure tokens at once: a parameter of the projected table,
    so that a projection that failed (and lost its outputs, under
    on_image_error: fail) is planned again by the next run. Without it
    Snakemake would find the table newer than every image still there and
    plan nothing, however the failed image's projection ended."""
    return plan.all_tokens(current_retry_tokens(wildcards.mosaic))


def projection_layout(wildcards):
    """(jobs, batches): which job projects which image (projection.jobs, .batches)."""
    return (
        setting(wildcards, "projection", "jobs"),
        setting(wildcards, "projection", "batches"),
    )


def projection_batches_option(wildcards):
    return plan.projection_batches_option(*projection_layout(wildcards))


def projected_path(wildcards, image):
    """Where image ``image``'s projection is, in either projection layout."""
    return layout.projected_path(
        wildcards.mosaic, image, projection_batches_option(wildcards)
    )


# planned once per image table, not once per job asking
_projection_batches = functools.lru_cache(maxsize=None)(plan.batch_of_images)


def projection_batches(wildcards):
    batches = setting(wildcards, "projection", "batches")
    return _projection_batches(tuple(sorted(image_records(wildcards))), batches)


def projection_batch_images(wildcards):
    """The images projection batch ``wildcards.batch`` projects."""
    return projection_batches(wildcards)[0].get(int(wildcards.batch), [])


def projection_batch_tokens(wildcards):
    """ID=TOKEN,... of the batch's images that failed before (see rule project_batch)."""
    tokens = current_retry_tokens(wildcards.mosaic)
    return plan.tokens_option(projection_batch_images(wildcards), tokens)


def projection_batch_digest(wildcards):
    """What the batch's projections depend on besides the header (see rule project)."""
    return plan.projection_key_text(
        projection_batch_images(wildcards),
        image_records(wildcards),
        current_retry_tokens(wildcards.mosaic),
    )


def projected_files(wildcards, images, areas=True):
    """What must be made before a job reads the projections of ``images``."""
    return plan.projected_files(
        wildcards.mosaic, images, *projection_layout(wildcards), areas
    )


def projected_images(wildcards):
    """Every image's projection (the projected table's input)."""
    return projected_files(wildcards, sorted(image_records(wildcards)), areas=False)


def overlap_projections(wildcards):
    """A per-overlap fit's inputs: its two images' projections and the header."""
    return {
        "projected": projected_files(wildcards, [wildcards.plus, wildcards.minus]),
        "header": result_path(wildcards.mosaic, "region"),
    }


def image_projection(wildcards):
    """A per-image correction's inputs: the image's projection and the corrections."""
    return {
        "projected": projected_files(wildcards, [wildcards.image]),
        "corrections": result_path(wildcards.mosaic, "corrections"),
    }


def fit_layout(wildcards):
    """(fit_jobs, fit_batches): which job fits which overlap (mosaicflow.files.layout.fit_items)."""
    return (
        setting(wildcards, "background", "fit_jobs"),
        setting(wildcards, "background", "fit_batches"),
    )


def fit_options(wildcards):
    """Options of the jobs that fit several overlaps (fit_jobs: image or batch)."""
    options = [f"--projection-batches {projection_batches_option(wildcards)}"]
    if setting(wildcards, "background", "model") == "level":
        options.append("--level-only")
    return " ".join(options + [median_option(wildcards)])


def median_option(wildcards):
    """The fit jobs read a difference's median only for a sliver (mosaicflow.montage.fitscreen)."""
    width = setting(wildcards, "background", "fit_screen")["min_width"]
    return f"--median-below {width}"


def fit_files(wildcards):
    """The fit files gather_fits reads: one per overlap, per image with later
    neighbours, or per batch (background.fit_jobs)."""
    folder = result_path(wildcards.mosaic, "fits_dir")
    items = _fit_items(*_overlaps_table(wildcards.mosaic), *fit_layout(wildcards))
    return sorted({os.path.join(folder, f"{item}.tsv") for item in items.values()})


def _overlaps_table(mosaic):
    """(overlaps table, its mtime): the cache key of what is planned from it."""
    path = current_projected_table(mosaic).overlaps
    return path, os.stat(path).st_mtime_ns


# Planned once per change of the overlaps table, not once per job asking; fit
# batches from the batch jobs' own cut (_batch_pairs), not cut a second time.
@functools.lru_cache(maxsize=None)
def _fit_items(overlaps, mtime, fit_jobs, batches):
    if fit_jobs == "batch":
        return layout.batch_items(_batch_pairs(overlaps, mtime, batches))
    return layout.fit_items(_read_pairs(overlaps, mtime), fit_jobs, batches)


@functools.lru_cache(maxsize=None)
def _batch_pairs(overlaps, mtime, batches):
    return layout.pairs_by_batch(_read_pairs(overlaps, mtime), batches)


def batch_overlaps(wildcards):
    """The overlaps (plus, minus) that fit batch ``wildcards.batch`` fits."""
    batches = setting(wildcards, "background", "fit_batches")
    by_batch = _batch_pairs(*_overlaps_table(wildcards.mosaic), batches)
    return by_batch.get(int(wildcards.batch), [])


def fit_batch_pairs_digest(wildcards):
    return plan.pairs_digest(batch_overlaps(wildcards))


def fit_batch_files(wildcards):
    images = sorted({i for pair in batch_overlaps(wildcards) for i in pair})
    return {
        "projected": projected_files(wildcards, images),
        "header": result_path(wildcards.mosaic, "region"),
    }


@functools.lru_cache(maxsize=None)
def _later_images(path, mtime):
    return plan.later_images(_read_pairs(path, mtime))


def overlapping_later_images(wildcards):
    """The images whose overlaps with image ``wildcards.image`` it fits (as plus)."""
    path = current_projected_table(wildcards.mosaic).overlaps
    return _later_images(path, os.stat(path).st_mtime_ns).get(wildcards.image, [])


def fit_batch_inputs(wildcards):
    images = [wildcards.image] + overlapping_later_images(wildcards)
    return {
        "projected": projected_files(wildcards, images),
        "header": result_path(wildcards.mosaic, "region"),
    }


def corrections_in_coadd(wildcards):
    """Whether the coadd applies the background corrections (correct_jobs: coadd)."""
    return (
        setting(wildcards, "background", "model") != "none"
        and setting(wildcards, "background", "correct_jobs") == "coadd"
    )


def coadd_folder(wildcards):
    """Where the coadd's images are: corrected/, or projected/ when it corrects
    them itself or there is nothing to correct."""
    if setting(wildcards, "background", "model") == "none" or corrections_in_coadd(
        wildcards
    ):
        return result_path(wildcards.mosaic, "projected_dir")
    return result_path(wildcards.mosaic, "corrected_dir")


def coadd_corrections(wildcards):
    """corrections.tsv when the coadd applies the corrections itself."""
    if corrections_in_coadd(wildcards):
        return result_path(wildcards.mosaic, "corrections")
    return []


def coadd_corrections_option(wildcards):
    corrections = coadd_corrections(wildcards)
    return f"--corrections {shlex.quote(corrections)}" if corrections else ""


def current_projected_table(mosaic):
    """The projected-table checkpoint's outputs, once they belong to the current image table.

    After a run that stopped between the image table and the projected table
    (a failed projection, a kill), the old projected and overlaps tables are
    still there and Snakemake, planning, takes them for the checkpoint's
    output: it would plan fits and corrections (and projections) of images
    that have left. Older than images.tsv, they are not current: ask for the
    checkpoint as Snakemake does for one not yet run. It does run then, since
    it takes the image table's links folder, which is never checksum-compared.
    """
    from snakemake.io import checkpoint_target

    outputs = checkpoint_output(checkpoints.projected_table, mosaic)
    images = result_path(mosaic, "images")
    if (
        not workflow.remote_exec
        and os.stat(outputs.table).st_mtime_ns < os.stat(images).st_mtime_ns
    ):
        raise IncompleteCheckpointException(
            checkpoints.projected_table.rule, checkpoint_target(outputs.table)
        )
    return outputs


def replanned(mosaic, path):
    """``path``, asked for through the projected-table checkpoint of ``mosaic``.

    A job whose input function asks for a checkpoint is planned anew (with
    fresh rerun reasons) once that checkpoint has run. Without it, Snakemake
    keeps the verdict of its first plan, made before the image table was
    rebuilt, and reruns (or skips) the job for reasons that no longer hold.
    """
    current_projected_table(mosaic)
    return path


def mosaic_file(name):
    """An input function: one of the mosaic's files (``name``: a key of
    layout.FILES), re-planned after the checkpoint."""
    return lambda wildcards: replanned(
        wildcards.mosaic, result_path(wildcards.mosaic, name)
    )


def colour_channel_file(channel, name):
    """An input function: NAME of a composite's channel mosaic, re-planned likewise."""

    def channel_file(wildcards):
        mosaic = COLORS[wildcards.color][channel]
        return replanned(mosaic, result_path(mosaic, name))

    return channel_file


def background_fits_table(wildcards):
    """The fits table, reached through the projected-table checkpoint, so that
    on reruns the per-overlap fits are expanded (and rerun when stale) instead
    of hiding behind the checkpoint."""
    if setting(wildcards, "background", "model") == "none":
        return []
    return replanned(wildcards.mosaic, result_path(wildcards.mosaic, "fits_table"))


def quality_report_inputs(wildcards):
    """Everything the quality report reads, so that it reruns when any changes."""
    mosaic = wildcards.mosaic
    inputs = {
        "images": result_path(mosaic, "images"),
        "skipped": result_path(mosaic, "skipped"),
        "header": result_path(mosaic, "region"),
        "projected_table": result_path(mosaic, "projected_table"),
        "failed": result_path(mosaic, "failed"),
        "projected": projected_files(wildcards, sorted(image_records(wildcards))),
        # its finite pixels are counted against what the images cover
        "mosaic": result_path(mosaic, "mosaic"),
    }
    if setting(wildcards, "background", "model") != "none":
        inputs.update(
            overlaps=result_path(mosaic, "overlaps"),
            fits=fit_files(wildcards),
            corrections=result_path(mosaic, "corrections"),
            fits_screened=result_path(mosaic, "fits_screened"),
        )
        if not corrections_in_coadd(wildcards):
            corrected = [
                result_path(mosaic, "corrected", image=i)
                for i in projected_ids(wildcards)
            ]
            inputs["corrected"] = with_areas(corrected)
    return inputs


@functools.lru_cache(maxsize=None)
def _read_projected_ids(path, mtime):
    return sorted(layout.image_id_of(row["fname"]) for row in tables.read_ipac(path))


def projected_ids(wildcards):
    """Images that were projected (failed ones, on_image_error: skip, are not),
    from the projected-table checkpoint (no mOverlaps without background matching)."""
    path = current_projected_table(wildcards.mosaic).table
    return _read_projected_ids(path, os.stat(path).st_mtime_ns)


with_areas = plan.with_areas


def coadd_images(wildcards):
    return coadd_inputs_of(wildcards, projected_ids(wildcards))


def coadd_inputs_of(wildcards, images):
    """What a coadd of ``images`` needs made: their corrected images, or their
    projections (projected_files) when the coadd reads those."""
    folder = coadd_folder(wildcards)
    if folder == result_path(wildcards.mosaic, "projected_dir"):
        return projected_files(wildcards, images)
    return with_areas([os.path.join(folder, f"{i}.fits") for i in images])


def coadd_tile_size(wildcards):
    return setting(wildcards, "coadd", "tile_size")


@functools.lru_cache(maxsize=None)
def _tile_layout(table, header, mtimes, size):
    """(region header, {tile: projected rows}) of the tiles some image touches."""
    from mosaicflow.sky.frames import read_header_file
    from mosaicflow.montage.tiles import tiles_touched

    region = read_header_file(header)
    return region, tiles_touched(tables.read_ipac(table), region, size)


def tile_layout(wildcards):
    # the region header and projected table exist once the projected-table checkpoint has run
    projected_ids(wildcards)
    table = result_path(wildcards.mosaic, "projected_table")
    header = result_path(wildcards.mosaic, "region")
    mtimes = (os.stat(table).st_mtime_ns, os.stat(header).st_mtime_ns)
    return _tile_layout(table, header, mtimes, coadd_tile_size(wildcards))


def coadd_in_tiles(wildcards):
    """Whether the mosaic is coadded in tiles: above coadd.tiles_above pixels
    and with images on more than one tile (one tile would be one mAdd and a copy)."""
    region, touched = tile_layout(wildcards)
    return plan.coadd_in_tiles(
        region.get("NAXIS1"),
        region.get("NAXIS2"),
        setting(wildcards, "coadd", "tiles_above"),
        len(touched),
    )


def coadd_tiles(wildcards):
    names = tile_layout(wildcards)[1]
    return [
        result_path(wildcards.mosaic, what, tile=name)
        for name in names
        for what in ("tile", "tile_area")
    ]


def coadd_inputs(wildcards):
    """The whole mosaic's images, or its coadded tiles (coadd_in_tiles)."""
    inputs = {"fits": background_fits_table(wildcards)}
    if coadd_in_tiles(wildcards):
        inputs["tiles"] = coadd_tiles(wildcards)
    else:
        inputs["images"] = coadd_images(wildcards)
        inputs["corrections"] = coadd_corrections(wildcards)
    return inputs


def tile_images(wildcards):
    """The images (corrected or projected) that touch one coadd tile."""
    members = tile_layout(wildcards)[1].get(wildcards.tile, [])
    return coadd_inputs_of(
        wildcards, [layout.image_id_of(row["fname"]) for row in members]
    )


# The HiPS (rules/hips.smk): its jobs follow from the plan, a checkpoint's output.


@functools.lru_cache(maxsize=None)
def _read_hips_plan(path, mtime):
    return hips_orders.read_plan(path)


def hips_plan(mosaic):
    path = checkpoint_output(checkpoints.hips_plan, mosaic).plan
    return _read_hips_plan(path, os.stat(path).st_mtime_ns)


def hips_batch_folders(wildcards):
    batches = range(len(hips_plan(wildcards.mosaic)["batches"]))
    return [
        result_path(wildcards.mosaic, "hips_batch", batch=batch) for batch in batches
    ]


def hips_parts(wildcards):
    """The HiPS's parts: the deepest order's batches, and the lower orders (if any)."""
    lower = hips_orders.lower_orders(hips_plan(wildcards.mosaic))
    return hips_batch_folders(wildcards) + (
        [result_path(wildcards.mosaic, "hips_lower")] if lower else []
    )


# The colour HiPS of a composite whose three mosaics have a HiPS (rules/hips.smk).


def colour_has_hips(color):
    return all(MOSAICS[COLORS[color][c]]["hips"] for c in fields.CHANNELS)


def colour_hips_bands(wildcards):
    """The three bands' HiPS folders and plans, by channel (``red``, ``red_plan``, ...)."""
    bands = {}
    for channel in fields.CHANNELS:
        mosaic = COLORS[wildcards.color][channel]
        bands[channel] = result_path(mosaic, "hips")
        bands[f"{channel}_plan"] = result_path(mosaic, "hips_plan")
    return bands


def colour_hips_parts(wildcards):
    """The colour HiPS jobs' folders: the red band's batches, then the lower orders."""
    parts = hips_orders.colour_parts(hips_plan(COLORS[wildcards.color]["red"]))
    return [layout.colour_hips_part(wildcards.color, part) for part in parts]


def hips_colour_url(wildcards):
    """Where the mosaic's page finds the colour HiPS it shows: of the first composite
    (by name) with a colour HiPS that the mosaic is a band of; "" when none."""
    for color in sorted(COLORS):
        if colour_has_hips(color) and wildcards.mosaic in COLORS[color].values():
            return layout.HIPS_COLOUR_URL.format(color=color)
    return ""

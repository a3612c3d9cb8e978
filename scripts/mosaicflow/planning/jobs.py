"""What each job of a mosaic reads and depends on, as plain functions of the
mosaic's settings and tables (image records, retry tokens, overlap pairs).

The rules' input functions answer Snakemake from these; the checkpoints'
tables are read there. Paths are those of ``files.layout``.
"""

import hashlib

from ..files import layout
from ..files.atomic import area_name


def projection_batches_option(jobs, batches):
    """projection.batches under ``projection.jobs: batch``, else 0 (``layout.projected_name``)."""
    return batches if jobs == "batch" else 0


def batch_of_images(image_ids, batches):
    """({batch: its images}, {image: its batch}) of ``layout.images_by_batch``."""
    by_batch = layout.images_by_batch(image_ids, batches)
    return by_batch, {image: batch for batch, members in by_batch.items() for image in members}


def projection_key_text(image_ids, records, tokens):
    """What the projections of ``image_ids`` depend on besides the header, as one
    digest: each image's id, HDU, method, content digest and retry token. A
    projection job's parameter: the raw files are not its inputs (Snakemake's
    mtime trigger would re-project on a ``touch`` or a copy of the same bytes)."""
    text = "\n".join(
        f"{i} {records[i]['hdu']} {records[i]['method']} {records[i]['content']} {tokens.get(i, '')}" for i in image_ids
    )
    return hashlib.sha1(text.encode()).hexdigest()


def tokens_option(image_ids, tokens):
    """``ID=TOKEN,...`` of the images of ``image_ids`` that failed before (a batch job's --tokens)."""
    return ",".join(f"{i}={tokens[i]}" for i in image_ids if i in tokens)


def all_tokens(tokens):
    """Every image's failure token, in one parameter (the projected table's)."""
    return ",".join(f"{image}={tokens[image]}" for image in sorted(tokens))


def projected_files(mosaic, image_ids, jobs, batches, areas=True):
    """What must be made before a job reads the projections of ``image_ids``: the
    folders of the batch jobs that project them (``jobs: batch``), or each
    projected image (and its area) and its key. The keys too: after a switch
    from batches the images may be there but not the per-image jobs' keys,
    and only a requested file that is missing reruns a job."""
    if jobs == "batch":
        chosen = sorted({layout.batch_of(i, batches) for i in image_ids})
        return [layout.path(mosaic, "projection_batch", batch=b) for b in chosen]
    projected = [layout.path(mosaic, "projected", image=i) for i in image_ids]
    keys = [layout.path(mosaic, "projected_key", image=i) for i in image_ids]
    return (with_areas(projected) if areas else projected) + keys


def with_areas(images):
    """Images and their _area companions: mAdd reads both (and temp() areas that
    no job lists as input would be deleted before it runs)."""
    return [path for image in images for path in (image, area_name(image))]


def pairs_digest(pairs):
    """A fit batch's overlaps as one parameter: the job reads them from the
    overlaps table, which changes with every image, so it is not its input."""
    return hashlib.sha1("\n".join(f"{p} {m}" for p, m in pairs).encode()).hexdigest()


def later_images(pairs):
    """{image: the images whose overlaps with it it fits as plus} (``fit_jobs: image``)."""
    later = {}
    for plus, minus in pairs:
        later.setdefault(plus, []).append(minus)
    return later


def coadd_in_tiles(naxis1, naxis2, tiles_above, tiles_touched):
    """Whether a mosaic is coadded in tiles: above ``tiles_above`` pixels and with
    images on more than one tile (one tile would be one mAdd and a copy)."""
    return naxis1 * naxis2 > tiles_above and tiles_touched > 1

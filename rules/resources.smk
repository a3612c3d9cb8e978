# Resources: every job asks for memory and disk twice, as mem_mb/disk_mb for Snakemake
# (local --resources limits, most executors) and htcondor_request_*_mb for the
# HTCondor plugin, which does not read mem_mb and sums these correctly over
# the members of a group job.


def job_resources(mem_mb, disk_mb):
    return {
        "mem_mb": mem_mb,
        "disk_mb": disk_mb,
        "htcondor_request_mem_mb": mem_mb,
        "htcondor_request_disk_mb": disk_mb,
    }


def memory_by_attempt(base_mb):
    """A retried job (e.g. held or killed for memory) asks for more each time."""
    return lambda wildcards, attempt: base_mb * attempt


def coadd_memory_mb(wildcards, input, attempt):
    """mAdd's memory, from the mosaic width and the number of images.

    mAdd builds the mosaic row by row, holding a row of data and area for the
    output and for every input image it reads (measured: 82 MB peak for a
    6390 x 7336 mosaic of 100 images, the same at half the width).
    """
    from snakemake.exceptions import IncompleteCheckpointException

    from mosaicflow.sky.frames import read_header_file

    try:
        naxis1 = int(read_header_file(input.header).get("NAXIS1", 0))
    except (OSError, ValueError, TypeError, AttributeError):
        naxis1 = 0
    # the images this job reads: a tile's, none (assembling tiles), or all of
    # them (an untiled coadd, the quality report); while Snakemake plans
    # before the checkpoints have run (a dry run), not known yet
    try:
        if "tile" in wildcards.keys():
            count = len(tile_layout(wildcards)[1].get(wildcards.tile, []))
        elif "tiles" in input.keys():
            count = 0
        else:
            count = len(projected_ids(wildcards))
    except IncompleteCheckpointException:
        count = 0
    count = max(1, count)
    rows_mb = naxis1 * 8 * 2 * (count + 2) / 2**20
    return int((256 + rows_mb) * attempt)


def quality_memory_mb(wildcards, input, attempt):
    """The coadd's estimate (the report reads every image's rows too), plus the
    pixels of recently read images the report keeps (mosaicflow.reports.quality)."""
    from mosaicflow.reports.quality import PIXEL_CACHE_BYTES

    return coadd_memory_mb(wildcards, input, attempt) + PIXEL_CACHE_BYTES // 2**20


PER_ITEM_RESOURCES = job_resources(memory_by_attempt(512), 512)
PER_MOSAIC_RESOURCES = job_resources(memory_by_attempt(2048), 1024)
COADD_RESOURCES = job_resources(coadd_memory_mb, 1024)
QUALITY_RESOURCES = job_resources(quality_memory_mb, 1024)

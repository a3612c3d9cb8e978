"""Snakemake script: ask the archive which images cover the region."""

import logging
import os

from mosaicflow.jobs import snakejob
from mosaicflow.sources import archive


def main(smk):
    log = logging.getLogger("mosaicflow")
    p = smk.params
    saved = archive.cached_query_path(p.cache, p.survey, p.band, p.location, p.size)
    try:
        images = archive.query_archive(
            p.survey, p.band, p.location, p.size, base_url=p.url, timeout=(10, p.timeout), retries=p.retries
        )
        archive.write_image_list(images, saved)
    except archive.ArchiveUnreachable as problem:
        if not os.path.exists(saved):
            raise
        log.warning("%s\nUsing the image list saved by an earlier run: %s", problem, saved)
        images = archive.read_image_list(saved)
    archive.write_source_records(images, p.cache, p.survey, p.band)
    archive.write_image_list(images, smk.output[0])
    log.info("%d %s %s images listed around %s", len(images), p.survey, p.band, p.location)


snakejob.run(snakemake, main)  # noqa: F821

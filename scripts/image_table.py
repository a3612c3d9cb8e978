"""Snakemake script: validate the raw images and write the image table."""

import logging
import os
import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821

from mosaicflow import inputs, snakejob  # noqa: E402


def main(smk):
    used, skipped = inputs.build_image_table(
        smk.input.get("source"),
        os.path.dirname(smk.output.images),
        region_header_path=smk.input.get("header"),
        method=smk.params.method,
        recursive=smk.params.recursive,
        auto_frame=smk.params.frame,
        files=list(smk.input.images) if "images" in smk.input.keys() else None,
        workers=smk.threads,
    )
    log = logging.getLogger("mosaicflow")
    log.info("%d images used, %d skipped", len(used), len(skipped))
    for row in skipped:
        log.info("skipped %s: %s", row["path"], row["reason"])


snakejob.run(snakemake, main)  # noqa: F821

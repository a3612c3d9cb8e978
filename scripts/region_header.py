"""Snakemake script: write the mosaic's header template."""

import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821

from mosaicflow.jobs import snakejob  # noqa: E402
from mosaicflow.sky import region  # noqa: E402


def main(smk):
    region.write_region_header(
        dict(smk.params.region),
        smk.output[0],
        raw_table=smk.input.get("raw_table"),
        max_pixels=smk.params.max_pixels,
        mosaic=smk.wildcards.mosaic,
    )


snakejob.run(snakemake, main)  # noqa: F821

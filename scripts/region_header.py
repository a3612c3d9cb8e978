"""Snakemake script: write the mosaic's header template."""

from mosaicflow.jobs import snakejob
from mosaicflow.sky import region


def main(smk):
    region.write_region_header(
        dict(smk.params.region),
        smk.output[0],
        raw_table=smk.input.get("raw_table"),
        max_pixels=smk.params.max_pixels,
        mosaic=smk.wildcards.mosaic,
    )


snakejob.run(snakemake, main)  # noqa: F821

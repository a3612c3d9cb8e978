"""Snakemake script: the HiPS plan of a mosaic (order, tiles in batches, stretch)."""

from mosaicflow.hips import plan
from mosaicflow.jobs import snakejob


def main(smk):
    plan.write_plan(smk.input.mosaic, smk.params.batches, smk.output.plan)


snakejob.run(snakemake, main)  # noqa: F821

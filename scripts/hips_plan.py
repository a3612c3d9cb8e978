"""Snakemake script: the HiPS plan of a mosaic (order, tiles in batches, stretch)."""

import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821

from mosaicflow.hips import plan  # noqa: E402
from mosaicflow.jobs import snakejob  # noqa: E402


def main(smk):
    plan.write_plan(smk.input.mosaic, smk.params.batches, smk.output.plan)


snakejob.run(snakemake, main)  # noqa: F821

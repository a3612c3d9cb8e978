"""Snakemake script: one batch of the HiPS's deepest-order tiles."""

import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821

from mosaicflow.hips import orders, render  # noqa: E402
from mosaicflow.jobs import snakejob  # noqa: E402


def main(smk):
    plan = orders.read_plan(smk.input.plan)
    render.render_batch(smk.input.mosaic, plan, int(smk.wildcards.batch), smk.output.folder)


snakejob.run(snakemake, main)  # noqa: F821

"""Snakemake script: one batch of the HiPS's deepest-order tiles."""

from mosaicflow.hips import orders, render
from mosaicflow.jobs import snakejob


def main(smk):
    plan = orders.read_plan(smk.input.plan)
    render.render_batch(smk.input.mosaic, plan, int(smk.wildcards.batch), smk.output.folder)


snakejob.run(snakemake, main)  # noqa: F821

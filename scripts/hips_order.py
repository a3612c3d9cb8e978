"""Snakemake script: one lower order of the HiPS, from the order below it."""

from mosaicflow.hips import orders, pyramid
from mosaicflow.jobs import snakejob


def main(smk):
    plan = orders.read_plan(smk.input.plan)
    pyramid.build_order(int(smk.wildcards.order), smk.input.below, plan, smk.output.folder)


snakejob.run(snakemake, main)  # noqa: F821

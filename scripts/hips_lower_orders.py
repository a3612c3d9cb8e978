"""Snakemake script: the HiPS's lower orders, each from the order below it."""

from mosaicflow.hips import orders, pyramid
from mosaicflow.jobs import snakejob


def main(smk):
    plan = orders.read_plan(smk.input.plan)
    pyramid.build_lower_orders(smk.input.deepest, plan, smk.output.folder)


snakejob.run(snakemake, main)  # noqa: F821

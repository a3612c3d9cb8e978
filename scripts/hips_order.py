"""Snakemake script: one lower order of the HiPS, from the order below it."""

import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821

from mosaicflow.hips import orders, pyramid  # noqa: E402
from mosaicflow.jobs import snakejob  # noqa: E402


def main(smk):
    plan = orders.read_plan(smk.input.plan)
    pyramid.build_order(int(smk.wildcards.order), smk.input.below, plan, smk.output.folder)


snakejob.run(snakemake, main)  # noqa: F821

"""Snakemake script: the HiPS folder (tiles of every order, properties, Allsky, MOC, page)."""

import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821

from mosaicflow.hips import folder, orders  # noqa: E402
from mosaicflow.jobs import snakejob  # noqa: E402


def main(smk):
    plan = orders.read_plan(smk.input.plan)
    folder.write_hips(smk.wildcards.mosaic, plan, smk.input.parts, smk.output.folder)


snakejob.run(snakemake, main)  # noqa: F821

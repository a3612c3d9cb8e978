"""Snakemake script: the HiPS folder (tiles of every order, properties, Allsky, MOC, page)."""

from mosaicflow.hips import folder, orders
from mosaicflow.jobs import snakejob


def main(smk):
    plan = orders.read_plan(smk.input.plan)
    # the page shows the colour HiPS of a composite the mosaic is a band of, if any
    colour = smk.params.colour or None
    folder.write_hips(smk.wildcards.mosaic, plan, smk.input.parts, smk.output.folder, colour)


snakejob.run(snakemake, main)  # noqa: F821

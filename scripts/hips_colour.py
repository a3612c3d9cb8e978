"""Snakemake script: a composite's colour HiPS folder (its parts' tiles, properties, Allsky, MOC)."""

from mosaicflow.hips import colour, orders
from mosaicflow.jobs import snakejob


def main(smk):
    plans = {channel: orders.read_plan(smk.input[f"{channel}_plan"]) for channel in colour.CHANNELS}
    folders = {channel: smk.input[channel] for channel in colour.CHANNELS}
    colour.write_colour_hips(smk.wildcards.color, plans, folders, smk.input.parts, smk.output.folder)


snakejob.run(snakemake, main)  # noqa: F821

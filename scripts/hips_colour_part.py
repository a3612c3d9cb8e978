"""Snakemake script: one part of a composite's colour HiPS (a batch of the deepest order, or a lower order)."""

from mosaicflow.hips import colour, orders
from mosaicflow.jobs import snakejob


def main(smk):
    plans = {channel: orders.read_plan(smk.input[f"{channel}_plan"]) for channel in colour.CHANNELS}
    folders = {channel: smk.input[channel] for channel in colour.CHANNELS}
    colour.render_part(smk.wildcards.part, plans, folders, smk.output.folder)


snakejob.run(snakemake, main)  # noqa: F821

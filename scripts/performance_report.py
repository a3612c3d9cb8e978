"""Snakemake script: per-stage performance of one mosaic (performance.tsv, .png)."""

import os

from mosaicflow.jobs import snakejob
from mosaicflow.reports import performance


def main(smk):
    base = os.path.dirname(smk.output.table)
    performance.write(os.path.join(base, "benchmarks"), smk.output.table, smk.output.plot, smk.wildcards.mosaic)


snakejob.run(snakemake, main)  # noqa: F821

"""Snakemake script: per-stage performance of one mosaic (performance.tsv, .png)."""

import os
import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821

from mosaicflow.jobs import snakejob  # noqa: E402
from mosaicflow.reports import performance  # noqa: E402


def main(smk):
    base = os.path.dirname(smk.output.table)
    performance.write(os.path.join(base, "benchmarks"), smk.output.table, smk.output.plot, smk.wildcards.mosaic)


snakejob.run(snakemake, main)  # noqa: F821

"""Snakemake script: per-stage performance of one mosaic (performance.tsv, .png)."""

from mosaicflow.files import layout
from mosaicflow.jobs import snakejob
from mosaicflow.reports import performance


def main(smk):
    benchmarks = layout.path(smk.wildcards.mosaic, "benchmarks")
    performance.write(benchmarks, smk.output.table, smk.output.plot, smk.wildcards.mosaic)


snakejob.run(snakemake, main)  # noqa: F821

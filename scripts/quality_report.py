"""Snakemake script: the per-mosaic quality report (quality.tsv, quality.html, depth.png)."""

import os

from mosaicflow.jobs import snakejob
from mosaicflow.reports import quality


def main(smk):
    quality.write_quality_report(
        os.path.dirname(smk.output.table),
        smk.output.table,
        smk.output.depth_png,
        quality_html=smk.output.page,
        background_model=smk.params.background_model,
        max_size=smk.params.max_size,
        fit_jobs=smk.params.fit_jobs,
        fit_batches=smk.params.fit_batches,
        correct_jobs=smk.params.correct_jobs,
    )


snakejob.run(snakemake, main)  # noqa: F821

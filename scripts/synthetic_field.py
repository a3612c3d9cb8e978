"""Snakemake script: write a synthetic field (tiles + truth.json)."""

import os
import sys

from mosaicflow.jobs import snakejob
from mosaicflow.sky import synth


def main(smk):
    truth = synth.write_field(os.path.dirname(smk.output.truth), dict(smk.params.settings))
    print(f"wrote {len(truth['tiles'])} tiles", file=sys.stderr)


snakejob.run(snakemake, main)  # noqa: F821

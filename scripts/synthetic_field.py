"""Snakemake script: write a synthetic field (tiles + truth.json)."""

import os
import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821

from mosaicflow.jobs import snakejob  # noqa: E402
from mosaicflow.sky import synth  # noqa: E402


def main(smk):
    truth = synth.write_field(os.path.dirname(smk.output.truth), dict(smk.params.settings))
    print(f"wrote {len(truth['tiles'])} tiles", file=sys.stderr)


snakejob.run(snakemake, main)  # noqa: F821

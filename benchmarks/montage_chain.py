#!/usr/bin/env -S sh -c 'exec "$(dirname "$0")/../.venv/bin/python" "$0" "$@"'
"""Montage's own single-process chain on a folder of images (mosaicflow.reference.chain).

benchmarks/montage_chain.py INPUTS_DIR REGION_HDR WORK_DIR [--make-header] [--times times.json]
"""

from mosaicflow.reference import chain

if __name__ == "__main__":
    chain.command_line(chain.run_chain, "Montage's single-process chain on a folder of images.")

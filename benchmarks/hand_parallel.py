#!/usr/bin/env -S sh -c 'exec "$(dirname "$0")/../.venv/bin/python" "$0" "$@"'
"""Montage's drivers, hand-parallelised, on a folder of images (mosaicflow.reference.hand_parallel).

benchmarks/hand_parallel.py INPUTS_DIR REGION_HDR WORK_DIR [--parts 2] [--make-header] [--times times.json]
"""

from mosaicflow.reference import chain, hand_parallel

if __name__ == "__main__":
    chain.command_line(
        hand_parallel.run_hand_parallel,
        hand_parallel.__doc__.splitlines()[0],
        parts=(int, 2, "table partitions, one process each (2)"),
    )

"""Snakemake's command line, run in this process, which at exit writes its own CPU seconds.

    python benchmarks/snakemake_self.py OUT.json [snakemake arguments ...]

OUT.json gets {"user": s, "system": s} of this process alone (Snakemake's
scheduler, planning and bookkeeping, all its threads), not of the jobs it
starts: the benchmarks subtract it from the whole process tree's CPU to tell
Snakemake's own cost from its jobs'.
"""

import atexit
import json
import resource
import sys


def _record(path):
    usage = resource.getrusage(resource.RUSAGE_SELF)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"user": usage.ru_utime, "system": usage.ru_stime}, handle)


if __name__ == "__main__":
    atexit.register(_record, sys.argv[1])
    from snakemake.cli import main

    sys.argv = ["snakemake", *sys.argv[2:]]
    main()

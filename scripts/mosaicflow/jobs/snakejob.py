"""Glue for ``script:`` rules: log to the rule's log file, and turn user
errors into a one-line message instead of a traceback."""

import gc
import logging
import sys

from .. import UserError
from ..reports import job_usage


def run(snakemake, function):
    """Call ``function(snakemake)`` with logging set up for the job."""
    handlers = [logging.StreamHandler(sys.stderr)]
    if snakemake.log:
        handlers.append(logging.FileHandler(snakemake.log[0], mode="w", encoding="utf-8"))
    logging.basicConfig(level=logging.INFO, format="%(message)s", handlers=handlers, force=True)
    try:
        function(snakemake)
    except UserError as problem:
        logging.getLogger("mosaicflow").error("error: %s", problem)
        sys.exit(1)
    if snakemake.log:
        # into the job's log only (not the terminal), for the per-job accounting
        with open(snakemake.log[0], "a", encoding="utf-8") as log:
            log.write(job_usage.line() + "\n")
    # The job is done: spare the interpreter's exit a collection over every
    # module imported (astropy's alone are many), which it would otherwise walk.
    gc.freeze()

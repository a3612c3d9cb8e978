"""Snakemake with the suggested fix: jobs that update_checkpoint_dependencies
adds to the DAG are checked against .snakemake/incomplete, as DAG.init does
for the first DAG (check_incomplete). Usage: python fixed.py SNAKEMAKE-ARGS..."""
import sys

import snakemake.cli
from snakemake.dag import DAG
from snakemake.exceptions import IncompleteFilesException

update = DAG.update_checkpoint_dependencies
postprocess_after_update = DAG.postprocess_after_update


async def update_checkpoint_dependencies(self, jobs=None):
    self._jobs_before_update = set(self.jobs)
    try:
        return await update(self, jobs)
    finally:
        del self._jobs_before_update


async def checked_postprocess_after_update(self):
    before = getattr(self, "_jobs_before_update", None)
    if before is not None and not self.ignore_incomplete:
        incomplete = [
            f
            for job in set(self.jobs) - before - self._running
            for f in await self.workflow.persistence.incomplete(job)
        ]
        if incomplete:
            if self.workflow.dag_settings.force_incomplete:
                self.forcefiles.update(incomplete)
            else:
                raise IncompleteFilesException(incomplete)
    await postprocess_after_update(self)


DAG.update_checkpoint_dependencies = update_checkpoint_dependencies
DAG.postprocess_after_update = checked_postprocess_after_update
sys.exit(snakemake.cli.main(sys.argv[1:]))

"""A workaround for Snakemake's scheduler cost on fields of hundreds of images.

Before every scheduling round (one per finished job) Snakemake 9 looks up the
size of every input of every ready job (``JobScheduler.update_input_sizes``),
although the inputs of a ready job are finished files whose size does not
change. With 200 corrections ready at once, each with three inputs, that is
~600 file lookups per finished job: measured on a 200-tile field it was about a
third of Snakemake's own CPU time, on the same two cores as the Montage jobs
(grows with the square of the field size).

``apply()`` makes the lookup remember sizes it has already read. Sizes only
steer which of several ready jobs the scheduler starts first; which jobs run
and what they make is unchanged. The patch is applied only when Snakemake's
method is, character for character, the one this replaces; any other version
keeps its own.
"""

import asyncio
import hashlib
import inspect
import textwrap

# sha256 of the method replaced, as in Snakemake 9.27.1 (dedented source). Any
# other code (a fix upstream, a refactoring) is left alone.
REPLACED_SOURCE_SHA256 = "a27e948a050e0add633bb98e5fd39cea60642ec9806206e7fdb464dc80187b0c"

# Snakemake also forgets sizes beyond this many paths (memory bound).
FORGET_ABOVE = 10000

applied = False


async def update_input_sizes(self, jobs):
    """Snakemake's method, reading only the paths it has no size for yet."""

    async def get_size(path):
        return path, await path.size() if await path.exists() else None

    paths = {path for job in jobs for path in job.input}
    unknown = [path for path in paths if self._input_sizes.get(path) is None]
    if unknown:
        self._input_sizes.update(await asyncio.gather(*[get_size(path) for path in unknown]))
    if len(self._input_sizes) > FORGET_ABOVE:
        for path in [path for path in self._input_sizes if path not in paths]:
            del self._input_sizes[path]


def original_source_matches(method):
    """True if ``method`` is the Snakemake code this module replaces, unchanged."""
    try:
        source = textwrap.dedent(inspect.getsource(method))
    except (OSError, TypeError):
        return False
    return hashlib.sha256(source.encode()).hexdigest() == REPLACED_SOURCE_SHA256


def apply():
    """Install the cached lookup if this Snakemake's method is the one we read."""
    global applied
    if applied:
        return True
    try:
        from snakemake.scheduling.job_scheduler import JobScheduler
    except ImportError:
        return False
    if not original_source_matches(getattr(JobScheduler, "update_input_sizes", None)):
        return False
    JobScheduler.update_input_sizes = update_input_sizes
    applied = True
    return True

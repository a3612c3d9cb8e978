"""Montage mosaic workflow: the code behind the Snakemake rules.

Modules split by weight. ``tables``, ``atomic`` and ``per_item`` import only the
standard library and MontagePy, because per-image and per-overlap jobs run
them hundreds of times; astropy and numpy live in the once-per-mosaic modules
(``inputs``, ``region``, ``synth``, ``quality``).
"""


class UserError(Exception):
    """A problem with the user's input or configuration, reported without a traceback."""


class StepError(RuntimeError):
    """A Montage function reported an error for one item (``per_item`` and the modules after it raise it)."""

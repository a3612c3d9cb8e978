"""The shell jobs' command line, kept out of Snakemake's parameter tracking."""

import shlex


class JobCommand:
    """``PYTHON scripts/montage_job.py``, quoted once, for the rules' ``params``.

    Snakemake reruns a job whose params changed, and it tracks only values of
    built-in types. The interpreter's and the checkout's paths say where the
    code is, not what a job makes, so they are held in this class: the same run
    from ``.venv/bin/python`` or ``.venv/bin/python3`` (or ``python -m
    snakemake``), or from a moved checkout, reruns nothing. In a shell command
    it formats as the quoted words.
    """

    def __init__(self, *words):
        self.words = tuple(words)

    def __str__(self):
        return shlex.join(self.words)

    def __repr__(self):
        return f"JobCommand{self.words!r}"

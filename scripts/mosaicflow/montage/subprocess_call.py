"""Calls into this package in a fresh Python interpreter.

For MontagePy work that must not stay in the job's own process: MontagePy
keeps memory it allocated (mProjectPP about 0.3 MB per call, so a job that
projects thousands of images would grow by gigabytes), and several calls can
run at once. Not multiprocessing: its spawned workers re-import the job's
main script, which Snakemake's script jobs run at import, and forked MontagePy
workers died at random (benchmarks/hand_parallel.py). Arguments and the
result travel as JSON files, so their size has no command-line limit.
"""

import json
import os
import subprocess
import sys

from .. import StepError
from ..files import atomic

# The folder holding this copy of the package: first on the new interpreter's
# path (PYTHONPATH), so that it runs the same code as this one.
_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_CODE = """
import importlib, json, sys
from mosaicflow import StepError
with open(sys.argv[3], encoding="utf-8") as handle:
    arguments = json.load(handle)
try:
    result = getattr(importlib.import_module(sys.argv[1]), sys.argv[2])(*arguments)
except StepError as error:
    sys.exit(str(error))
with open(sys.argv[4], "w", encoding="utf-8") as handle:
    json.dump(result, handle)
"""


def _environment():
    """This process's environment, with this copy of the package first on PYTHONPATH."""
    paths = [_PACKAGE_PARENT, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


class Call:
    """``module.function(*arguments)`` started in a new interpreter; ``result()`` waits for it.

    Arguments and result must be JSON values, passed in a scratch folder
    (``atomic.scratch_root(near)``). A StepError raised there is raised here
    with its message; any other failure as a StepError with the end of what
    the interpreter printed.
    """

    def __init__(self, module, function, *arguments, near):
        self.what = f"{module}.{function}"
        self.folder = atomic.make_scratch(near)
        arguments_path = os.path.join(self.folder, "arguments.json")
        self.result_path = os.path.join(self.folder, "result.json")
        with open(arguments_path, "w", encoding="utf-8") as handle:
            json.dump(list(arguments), handle)
        command = [sys.executable, "-c", _CODE, module, function, arguments_path, self.result_path]
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_environment()
        )

    def result(self):
        try:
            printed = self.process.communicate()[0]
            if printed and self.process.returncode == 0:
                print(printed, end="")
            if self.process.returncode != 0:
                raise StepError(printed.strip()[-2000:] or f"{self.what} ended with status {self.process.returncode}")
            with open(self.result_path, encoding="utf-8") as handle:
                return json.load(handle)
        finally:
            atomic.remove_scratch(self.folder)

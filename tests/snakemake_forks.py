"""Snakemake's command line, started by fork from an interpreter that has
imported it already.

The suite runs Snakemake about 500 times. Each ``python -m snakemake`` spends
most of a second importing Snakemake and collecting its plugins before it
reads the Snakefile, on a machine whose two cores the suite keeps busy. This
module's server (one per pytest process) imports Snakemake once, collects its
plugin registries, and forks a child per run; the child sets the run's working
directory, environment, argv and output files and calls ``snakemake.cli.main``,
exactly what ``python -m snakemake`` runs, then leaves the interpreter the
ordinary way (atexit handlers, waiting for threads), so a run's exit status,
output and files are those of the command line; only its start is quicker.
The server's objects are frozen before the first fork (``gc.freeze``): a
child's collections leave them alone, as they would find nothing to free
there, instead of touching, and so copying, every page of the server's heap.

Run as a script, this file is the server: it reads one JSON request per line
on stdin and answers each with the child's exit code, once the child is gone.
What a module reads from the environment when it is imported comes from the
server's (the session's) environment: this workflow's code reads it only when
called, and a run whose interpreter settings (``PYTHON*``) differ from the
session's gets a process of its own.
"""

import gc
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading

# What every run imports after the command line's own modules (Snakemake's
# report, storage and validation, the tracking plugin's handler), imported
# once in the server; and Snakemake's plugin registries, collected once
# (singletons that scan the installed packages when first made).
IMPORTED_BY_EVERY_RUN = (
    "snakemake.report.html_reporter",
    "snakemake_logger_plugin_snkmt.log_handler",
    "smart_open",
    "jsonschema",
    "pandas",
)
REGISTRIES = (
    "ExecutorPluginRegistry",
    "StoragePluginRegistry",
    "ReportPluginRegistry",
    "LoggerPluginRegistry",
    "SchedulerPluginRegistry",
)


def serve():
    """The server's loop: returns a request in each forked child, never in the server."""
    import snakemake.cli

    for module in IMPORTED_BY_EVERY_RUN:
        importlib.import_module(module)
    for name in REGISTRIES:
        getattr(snakemake.cli, name)()
    # What the server made lives as long as any run (modules, registries): out
    # of the collector's reach, a child's collections do not walk it and copy
    # every page it lies on (Python's gc.freeze documentation, for fork).
    gc.freeze()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            return request
        _, status = os.waitpid(pid, 0)
        sys.stdout.write(f"{os.waitstatus_to_exitcode(status)}\n")
        sys.stdout.flush()
    sys.exit(0)


def become_the_run(request):
    """In the child: the run's stdin, stdout, stderr, folder, environment and argv."""
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(handle, fd)
        os.close(handle)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = [importlib.util.find_spec("snakemake.__main__").origin, *request["args"]]
    sys.path[0] = request["cwd"]  # as ``python -m`` puts its folder first


class Server:
    """One forking server per pytest process, started at its first run."""

    def __init__(self):
        self.lock = threading.Lock()
        self.process = None
        self.folder = None
        self.runs = 0

    def start(self, env):
        self.folder = tempfile.mkdtemp(prefix="snakemake-forks-")
        self.process = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=self.folder,
            env=env,
        )
        if self.process.stdout.readline() != "ready\n":
            raise RuntimeError("the Snakemake fork server did not start")

    def run(self, args, cwd, env):
        paths = {name: os.path.join(self.folder, name) for name in ("stdout", "stderr")}
        request = {"args": list(args), "cwd": str(cwd), "env": dict(env), **paths}
        self.runs += 1
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        if not answer:
            raise RuntimeError("the Snakemake fork server ended")
        output = {}
        for name, path in paths.items():
            with open(path, encoding="utf-8", errors="replace") as handle:
                output[name] = handle.read()
        return int(answer), output["stdout"], output["stderr"]

    def stop(self):
        if self.process is not None:
            self.process.stdin.close()
            self.process.wait()
            self.process = None
            shutil.rmtree(self.folder, ignore_errors=True)


SERVER = Server()


def interpreter_settings(env):
    """The variables Python reads once, at its start (``PYTHONPATH`` and the like)."""
    return {name: value for name, value in env.items() if name.startswith("PYTHON")}


# The server's: the test session's own (a run that sets others gets a process of its own).
SESSION_SETTINGS = interpreter_settings(os.environ)


def run(command, cwd, env=None):
    """``subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=env)``
    for ``[sys.executable, "-m", "snakemake", ...]``, by a fork of the server
    (by a new process when the run's interpreter settings differ from the server's)."""
    env = dict(os.environ if env is None else env)
    forkable = list(command[:3]) == [sys.executable, "-m", "snakemake"]
    if forkable and interpreter_settings(env) == SESSION_SETTINGS and SERVER.lock.acquire(blocking=False):
        try:
            if SERVER.process is None:
                SERVER.start(env)
            code, stdout, stderr = SERVER.run(command[3:], cwd, env)
            return subprocess.CompletedProcess(command, code, stdout, stderr)
        finally:
            SERVER.lock.release()
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=env)


if __name__ == "__main__":
    request = serve()
    become_the_run(request)
    from snakemake.cli import main

    main()

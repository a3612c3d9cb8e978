"""Watched folders: start a run when new images have landed and gone quiet.

The watcher polls every local source folder of the config (and the config
file and field table themselves) with the same file facts that rerun the
image table (``manifest``), and when they differ from what the last run saw
and have not changed for a settling time, starts one Snakemake run and waits
for it: never two at once, and never while another Snakemake holds the
working directory's lock. The workflow's own rerun rules then project only
the new or changed images. A failed run is recorded and watching goes on
(the next change triggers again); SIGTERM or Ctrl-C interrupts the running
Snakemake (which stops its jobs and releases its lock), records it and exits. Every trigger is a row of
``logs/watch.tsv``, and each run's output is kept in ``logs/watch/``.
"""

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime

import yaml

from .. import UserError
from ..config import loader
from ..files import layout
from ..files.atomic import write_text
from ..sources import manifest
from ..sources.inputs import scan_folder
from . import tracking

RECORD = os.path.join(layout.LOGS, "watch.tsv")
RUN_LOGS = os.path.join(layout.LOGS, "watch")
RECORD_COLUMNS = ("started", "ended", "status", "exit_code", "images", "changed", "log")
LOCK_REFUSED = "cannot be locked"  # Snakemake's LockException text
STOP_GRACE = 120  # seconds Snakemake gets to stop its jobs after SIGTERM


def config_problems():
    """What a config being edited can raise: the watcher keeps its folders meanwhile."""
    from snakemake.exceptions import WorkflowError

    return (UserError, OSError, ValueError, yaml.YAMLError, WorkflowError)


def _stamp():
    return datetime.now(UTC).isoformat(timespec="seconds")


def load_sources(configfile, workdir):
    """{folder: recursive} of the config's local sources, and the files that define them."""
    with open(configfile, encoding="utf-8") as handle:
        config = yaml.safe_load(handle) or {}
    mosaics = loader.load(config, configfile, workdir).mosaics
    folders = {}
    for mosaic in mosaics.values():
        source = mosaic["source"]
        if source["type"] == "local":
            folder = os.path.join(workdir, source["path"])
            folders[folder] = folders.get(folder, False) or source["recursive"]
    defining = [configfile] + ([os.path.join(workdir, config["fields"])] if config.get("fields") else [])
    return folders, defining


def snapshot(folders, defining):
    """(digest of every watched fact, number of images): equal digests, nothing new."""
    images, others, absent = [], [], []
    for folder, recursive in sorted(folders.items()):
        try:
            fits_named, not_fits = scan_folder(folder, recursive)
        except UserError:
            absent.append(folder)  # not there yet: its digest says "missing" until it appears
            continue
        images += [path for path, _ in fits_named]
        others += [path for path, _ in not_fits]  # listed in skipped.tsv: a change reruns the table too
    return manifest.state(list(defining) + images + others + absent), len(images)


def _what_changed(before, now):
    """The ``changed`` column: what this run builds that the last one did not."""
    if before is None:
        return "images found when watching began"
    if now != before:
        return f"images {before} -> {now}"
    return "files changed (same number of images)"


class Watcher:
    """Polls, settles, runs; ``stop()`` (or a signal) ends it."""

    def __init__(self, configfile, workdir, command, settle=60.0, poll=5.0, say=None):
        self.configfile = os.path.abspath(configfile)
        self.workdir = os.path.abspath(workdir)
        self.command = command
        self.settle, self.poll = settle, poll
        self.say = say or (lambda text: print(f"{_stamp()} {text}", flush=True))
        self.stopping = threading.Event()
        self.process = None
        self.runs = 0

    def stop(self, *_):
        """Stop watching; a running Snakemake is then asked to stop its jobs."""
        self.stopping.set()

    def _sources(self):
        folders, defining = load_sources(self.configfile, self.workdir)
        if not folders:
            raise UserError(f"{self.configfile}: no local source folders to watch")
        self.folders, self.defining = folders, defining
        self.defining_state = manifest.state(defining)

    def _look(self):
        """Take in changes: of the config (new folders), then of the watched files."""
        if manifest.state(self.defining) != self.defining_state:
            try:
                self._sources()
            except config_problems() as problem:
                self.defining_state = manifest.state(self.defining)
                self.say(f"config not usable ({problem}); watching the folders it named before")
        now, count = snapshot(self.folders, self.defining)
        if now != self.seen:
            self.seen, self.images, self.changed_at = now, count, time.monotonic()
            self.say(f"change seen: {count} images; a run {self.settle:g} s after the last change")

    def watch(self):
        self._sources()
        self.say(f"watching {', '.join(sorted(self.folders))} (settle {self.settle:g} s, poll {self.poll:g} s)")
        self.seen, self.images = snapshot(self.folders, self.defining)
        self.changed_at, built, waiting_for_lock = time.monotonic(), None, False
        built_images = 0 if self.images == 0 else None  # None: what was there is built first
        while not self.stopping.is_set():
            if self.seen != built and time.monotonic() - self.changed_at >= self.settle:
                if tracking.locked(self.workdir):
                    if not waiting_for_lock:
                        self.say("another Snakemake holds the working directory; waiting for its lock")
                    waiting_for_lock = True
                elif self.images == 0:
                    self.say("no images yet; nothing to build")
                    built, built_images = self.seen, 0
                else:
                    waiting_for_lock = False
                    changed = _what_changed(built_images, self.images)
                    previous, built, built_images = built_images, self.seen, self.images
                    if self._run(changed) == "locked":
                        # lost the race for the lock: try again once it is free
                        built, built_images = None, previous
            self.stopping.wait(self.poll)
            self._look()
        self.say("stopped")
        return 0

    def _run(self, changed):
        """One Snakemake run, recorded; 'ok', 'failed', 'stopped' or 'locked'."""
        self.runs += 1
        started, images = _stamp(), self.images
        log = os.path.join(RUN_LOGS, started.replace(":", "") + f"-{self.runs}.log")
        os.makedirs(os.path.join(self.workdir, RUN_LOGS), exist_ok=True)
        self.say(f"run {self.runs} starts ({changed}, {images} images); output in {log}")
        with open(os.path.join(self.workdir, log), "w", encoding="utf-8") as out:
            # Its own session: a terminal's Ctrl-C reaches the watcher, which stops Snakemake once.
            self.process = subprocess.Popen(
                self.command, cwd=self.workdir, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
            code = self._wait()
        if self.stopping.is_set() and code != 0:
            status = "stopped"
        elif code == 0:
            status = "ok"
        else:
            with open(os.path.join(self.workdir, log), encoding="utf-8", errors="replace") as handle:
                status = "locked" if LOCK_REFUSED in handle.read() else "failed"
        self.process = None
        self._record(started, status, code, images, changed, log)
        self.say(f"run {self.runs} {status} (exit {code})" + ("" if status == "ok" else f"; see {log}"))
        return status

    def _wait(self):
        """The run's exit code; files arriving meanwhile are noticed (and settle) as usual."""
        stop_sent = None
        while True:
            if self.stopping.is_set():
                if stop_sent is None:
                    # SIGINT, not SIGTERM: Snakemake handles SIGTERM only once its scheduler
                    # runs, while an interrupt unwinds any phase and releases the lock.
                    self.process.send_signal(signal.SIGINT)
                    stop_sent = time.monotonic()
                elif time.monotonic() - stop_sent > STOP_GRACE:
                    self.process.kill()
            try:
                return self.process.wait(self.poll)
            except subprocess.TimeoutExpired:
                self._look()

    def _record(self, started, status, code, images, changed, log):
        path = os.path.join(self.workdir, RECORD)
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except FileNotFoundError:
            text = "\t".join(RECORD_COLUMNS) + "\n"
        row = (started, _stamp(), status, str(code), str(images), changed, log)
        write_text(path, text + "\t".join(row) + "\n")


def install_signal_handlers(watcher):
    signal.signal(signal.SIGTERM, watcher.stop)
    signal.signal(signal.SIGINT, watcher.stop)


def snakemake_command(snakefile, workdir, configfile, extra):
    return [sys.executable, "-m", "snakemake", "-s", snakefile, "-d", workdir, "--configfile", configfile, *extra]

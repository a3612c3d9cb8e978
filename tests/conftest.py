import fcntl
import os
import shutil
import sys
import tempfile

import pytest
import yaml

import snakemake_forks

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SNAKEFILE = os.path.join(REPO, "Snakefile")
# Tests write nothing outside their temp folders, the user's home included: every
# command they start (Snakemake and its tracking database, snkmt's list of
# databases, matplotlib's and Chromium's caches) gets a home of the session's
# own. pip keeps the user's download cache, so the Quick start's fresh
# environment installs from it. ``pytest_sessionfinish`` checks the real home.
USER_HOME = os.path.expanduser("~")
SESSION_HOME = tempfile.mkdtemp(prefix="mosaicflow-test-home-")
os.environ.setdefault("PIP_CACHE_DIR", os.path.join(USER_HOME, ".cache", "pip"))
os.environ["HOME"] = SESSION_HOME
HOME_WATCHED = (".local", ".config", ".cache", ".snakemake", ".snkmt")
SHARED_DATA = os.environ.get("MOSAIC_SHARED_DATA", os.path.join(os.path.dirname(REPO), "shared", "data"))


def shared_dataset(name):
    """Path to a real survey set in ../shared/data, or skip with the reason."""
    path = os.path.join(SHARED_DATA, name)
    if not os.path.isdir(path):
        pytest.skip(
            f"real survey images not available: {path} is absent"
            f" (set MOSAIC_SHARED_DATA to a folder that holds {name}/)"
        )
    return path


class Workflow:
    """Runs the real Snakemake CLI on this repository's Snakefile in a work dir
    (forked from a server that has imported it: tests/snakemake_forks.py)."""

    def __init__(self, workdir):
        self.workdir = str(workdir)
        self.configfile = None

    def write_config(self, config, name="config.yaml"):
        path = os.path.join(self.workdir, name)
        with open(path, "w", encoding="utf-8") as handle:
            yaml.safe_dump(config, handle, allow_unicode=True)
        return path

    def command(self, *args, cores=2, python=sys.executable, snakefile=SNAKEFILE):
        """The snakemake command line for this work dir (and its config file, if any)."""
        command = [python, "-m", "snakemake", "-s", snakefile, "-d", self.workdir]
        if self.configfile:
            command += ["--configfile", self.configfile]
        return command + ["--cores", str(cores), *args]

    def run(self, *args, config=None, check=True, cores=2, **command_options):
        if config is not None:
            self.configfile = self.write_config(config)
        command = self.command(*args, cores=cores, **command_options)
        result = snakemake_forks.run(command, cwd=self.workdir)
        if check and result.returncode != 0:
            raise AssertionError(
                f"snakemake failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-6000:]}"
            )
        return result

    def planned_jobs(self, *args, config=None, **command_options):
        """{rule: count} that a dry run would execute."""
        result = self.run("-n", "--quiet", "rules", *args, config=config, **command_options)
        return parse_job_counts(result.stdout + result.stderr)

    def path(self, *parts):
        return os.path.join(self.workdir, *parts)


def parse_job_counts(text):
    """Parse Snakemake's 'Job stats' table into {rule: count}."""
    counts, in_table = {}, False
    for line in text.splitlines():
        words = line.split()
        if words[:2] == ["job", "count"]:
            in_table = True
            continue
        if in_table:
            if not words or set(line.strip()) <= {"-"}:
                if counts:
                    break
                continue
            if len(words) == 2 and words[1].isdigit() and words[0] != "total":
                counts[words[0]] = int(words[1])
    return counts


def made_once(tmp_path_factory, name, make):
    """A folder ``name`` that ``make(folder)`` fills once per test session, by whichever
    xdist worker asks first; the others wait for it and share it (pytest-xdist's recipe
    for session data: the workers' temp folders have one parent). Read it, do not change it."""
    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / name
    with open(f"{folder}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(f"{folder}.made"):
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            make(folder)
            open(f"{folder}.made", "w").close()
    return folder


@pytest.fixture
def workflow(tmp_path):
    return Workflow(tmp_path)


@pytest.fixture(scope="session")
def pool():
    """A personal HTCondor pool on 127.0.0.1 (mosaicflow.operations.personal_pool) for the
    test session's process: each xdist worker that runs pool tests starts its own."""
    from mosaicflow.operations.personal_pool import PersonalPool, find_condor_master

    master = find_condor_master()
    if master is None:
        pytest.skip("HTCondor is not installed: no condor_master on PATH and CONDOR_BIN is not set")
    personal = PersonalPool(master)
    try:
        personal.start()
        yield personal
    finally:
        personal.stop()


# The per-image and per-overlap DAG (not the default): one difference fit per
# overlap, one mBackground job per image writing corrected/ (background
# settings), one projection job per image (projection settings).
def projected_image(mosaic_dir, ident):
    """Where image ``ident``'s projection is, as the mosaic's projected table names it
    (projected/ID.fits, or projected/batch-N/ID.fits from a projection batch)."""
    from mosaicflow.files import tables

    for row in tables.read_ipac(os.path.join(mosaic_dir, "projected.tbl")):
        if os.path.basename(row["fname"]) == f"{ident}.fits":
            return os.path.join(mosaic_dir, "projected", row["fname"])
    raise KeyError(f"{ident} is not in {mosaic_dir}/projected.tbl")


def schema_defaults(mosaic=None):
    """A mosaic's settings with the schema's defaults filled in, as a run sees them."""
    from mosaicflow.config import validation

    config = {"mosaics": {"m": mosaic or {"source": small_field(), "region": small_region()}}}
    validation.validate(config, os.path.join(REPO, "config", "schema.yaml"))
    return config["mosaics"]["m"]


PER_ITEM_JOBS = {"fit_jobs": "overlap", "correct_jobs": "image"}
PER_IMAGE_PROJECTION = {"jobs": "image"}


def small_field(**overrides):
    """Settings of a small synthetic field of real-size (512 x 1024) tiles."""
    settings = {"type": "synthetic", "columns": 3, "rows": 2, "seed": 7, "stars": 900, "nebulae": 5}
    settings.update(overrides)
    return settings


def small_region(**overrides):
    region = {"center": "83.82 -5.39", "width": 0.34, "height": 0.44, "pixel_scale": 1.0}
    region.update(overrides)
    return region


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI (``CI=true``) a skip is a failure: CI installs everything the
    project ships (the HTCondor pool, Chromium, the real survey images), so a
    test that would skip there has lost what it tests."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("CI") == "true" and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where nothing the project ships may skip: {reason}"


# The suite runs on pytest-xdist workers (pyproject: ``-n 6``). A module's tests
# stay together on one worker, since they share module fixtures (one fresh run,
# one personal pool), except in SPREAD modules, whose tests share nothing costly
# and spread over the workers. Units start longest first, so no worker picks up
# a long one at the end: the pool's tests, which mostly wait for HTCondor, are two
# modules on two workers with a pool each, while the others share the rest (on
# two cores: a run's worker often waits for Snakemake too). Our own scheduler, since xdist's ``--dist loadgroup``
# groups nothing under pytest 9.2 (pytest-xdist issue 1386).
SPREAD = ("test_rerun_invariant.py", "test_faults.py", "test_readme_commands.py", "test_colour_fields.py")
LONGEST_FIRST = (
    "test_htcondor.py",
    "test_htcondor_features.py",
    "test_readme_commands.py::test_quick_start_from_a_fresh_clone",
    "test_rerun_invariant.py::test_readme_rerun_table",
    "test_rerun_invariant.py",
    "test_faults.py",
    "test_hips.py",
    "test_readme_commands.py",
    "test_end_to_end.py",
    "test_watch.py",
    "test_colour_fields.py",
)


def start_rank(item):
    name = f"{item.path.name}::{item.name}"
    for rank, prefix in enumerate(LONGEST_FIRST):
        if name.startswith(prefix):
            return rank
    return len(LONGEST_FIRST)


def pytest_collection_modifyitems(config, items):
    items.sort(key=start_rank)  # stable: collection order within a rank


def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class ModuleUnlessSpread(LoadScopeScheduling):
        """Work units: a module's tests, or one test of a SPREAD module; in collection order."""

        def __init__(self, config, log):
            super().__init__(config, log)
            config.option.loadscopereorder = False

        def _split_scope(self, nodeid):
            module = nodeid.split("::", 1)[0]
            return nodeid if os.path.basename(module) in SPREAD else module

    return ModuleUnlessSpread(config, log)


def home_state(home=USER_HOME):
    """{path: mtime} of what programs write in a home (pip's download cache left out)."""
    state = {}
    for top in HOME_WATCHED:
        for root, dirs, files in os.walk(os.path.join(home, top)):
            if os.path.relpath(root, home).startswith(os.path.join(".cache", "pip")):
                dirs[:] = []
                continue
            for name in dirs + files:
                path = os.path.join(root, name)
                try:
                    state[path] = os.lstat(path).st_mtime_ns
                except FileNotFoundError:
                    pass
    return state


def pytest_sessionstart(session):
    session.config.stash[HOME_KEY] = home_state()


def pytest_sessionfinish(session, exitstatus):
    snakemake_forks.SERVER.stop()
    shutil.rmtree(SESSION_HOME, ignore_errors=True)
    before, after = session.config.stash.get(HOME_KEY, None), home_state()
    if before is None:
        return
    changed = sorted(path for path in set(before) | set(after) if before.get(path) != after.get(path))
    if changed:
        print(f"\nthe tests wrote in {USER_HOME}: " + ", ".join(changed[:10]))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


HOME_KEY = pytest.StashKey[dict]()

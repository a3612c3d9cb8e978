"""A personal HTCondor pool for the tests and benchmarks: all daemons on
127.0.0.1, in a temporary folder, run as an ordinary user (HTCondor will not
run jobs as root). Needs this package installed from its checkout (editable):
it copies the workflow around it.

Found through ``condor_master`` on PATH or ``$CONDOR_BIN`` (the folder holding
it). Jobs run as the pool user, so the workflow, its working folder and its
Python environment must be readable by that user: when the tests run as root
(as CI does) a user is created. The pool's Python environment is a virtual
environment of its own, built from the system Python and kept in /var/tmp for
later runs (keyed by envs/requirements-htcondor.txt): not the test
interpreter's, whose install of the package is this checkout's, while the pool
runs copies of the workflow, each installed into the pool's environment
(``workflow_copy``) before it runs; the tests, which run two pools at once,
put each copy's package on ``PYTHONPATH`` instead (tests/pool_runs.py).
"""

import contextlib
import fcntl
import hashlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time

# the workflow's folder: this package's checkout (scripts/mosaicflow/operations/ is three below it)
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
POOL_USER = "mosaicpool"

CONFIG = """\
RELEASE_DIR = {release}
LOCAL_DIR   = {state}
LOG     = $(LOCAL_DIR)/log
SPOOL   = $(LOCAL_DIR)/spool
EXECUTE = $(LOCAL_DIR)/execute
LOCK    = $(LOCAL_DIR)/lock
RUN     = $(LOCAL_DIR)/run
LOCAL_CONFIG_FILE =
REQUIRE_LOCAL_CONFIG_FILE = False
CONDOR_ADMIN =
MAIL = /bin/true
use ROLE : Personal
DAEMON_LIST = MASTER COLLECTOR NEGOTIATOR SCHEDD STARTD
CONDOR_HOST = 127.0.0.1
COLLECTOR_HOST = $(CONDOR_HOST):{port}
NETWORK_INTERFACE = 127.0.0.1
BIND_ALL_INTERFACES = False
ENABLE_IPV6 = False
USE_SHARED_PORT = False
UID_DOMAIN = $(FULL_HOSTNAME)
FILESYSTEM_DOMAIN = $(FULL_HOSTNAME)
SEC_DEFAULT_AUTHENTICATION_METHODS = FS
SEC_CLIENT_AUTHENTICATION_METHODS = FS
use SECURITY : recommended({user})
ALLOW_WRITE = {user}@*
ALLOW_DAEMON = {user}@*
ALLOW_NEGOTIATOR = {user}@*
ALLOW_ADMINISTRATOR = {user}@*
ALLOW_READ = *
NUM_CPUS = {cpus}
use FEATURE : PartitionableSlot
use POLICY : Always_Run_Jobs
RUNBENCHMARKS = 0
SCHEDD_INTERVAL = 5
SCHEDD_MIN_INTERVAL = 1
NEGOTIATOR_INTERVAL = 2
NEGOTIATOR_MIN_INTERVAL = 1
NEGOTIATOR_CYCLE_DELAY = 1
UPDATE_INTERVAL = 5
STARTER_INITIAL_UPDATE_INTERVAL = 2
JOB_START_DELAY = 0
DEFAULT_USERLOG_FORMAT_OPTIONS = ISO_DATE SUB_SECOND
"""


def find_condor_master():
    """Path of condor_master, or None."""
    folder = os.environ.get("CONDOR_BIN")
    if folder:
        candidate = os.path.join(folder, "condor_master")
        return candidate if os.access(candidate, os.X_OK) else None
    return shutil.which("condor_master")


def _free_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PersonalPool:
    def __init__(self, master):
        self.release = os.path.dirname(os.path.dirname(os.path.realpath(master)))
        self.bin_dirs = [os.path.join(self.release, "bin"), os.path.join(self.release, "sbin")]
        self.as_root = os.geteuid() == 0
        self.user = POOL_USER if self.as_root else pwd.getpwuid(os.geteuid()).pw_name
        if self.as_root:
            _ensure_user(self.user)
        self.root = tempfile.mkdtemp(prefix="mosaic-pool-", dir="/tmp")
        os.chmod(self.root, 0o755)
        # the pool user's programs (Snakemake's caches, the tracking database) write here, not in a home
        self.home = os.path.join(self.root, "home")
        os.makedirs(self.home)
        self.state = os.path.join(self.root, "state")
        for sub in ("log", "spool", "execute", "lock", "run"):
            os.makedirs(os.path.join(self.state, sub))
        self.config = os.path.join(self.root, "condor_config")
        self.pidfile = os.path.join(self.state, "master.pid")
        with open(self.config, "w") as handle:
            handle.write(
                CONFIG.format(
                    release=self.release, state=self.state, port=_free_port(), user=self.user, cpus=os.cpu_count()
                )
            )
        self.python = self._python_for_user()
        self.chown(self.root)

    # ---- processes as the pool user ----------------------------------------

    def env(self):
        path = [os.path.dirname(self.python), *self.bin_dirs, "/usr/local/bin", "/usr/bin", "/bin"]
        return {
            "CONDOR_CONFIG": self.config,
            "PATH": ":".join(path),
            "HOME": self.home,
            "LANG": "C.UTF-8",
            "USER": self.user,
        }

    def command(self, argv):
        prefix = ["runuser", "-u", self.user, "--"] if self.as_root else []
        return [*prefix, "env", "-i", *(f"{k}={v}" for k, v in self.env().items()), *argv]

    def run(self, argv, check=True, **kwargs):
        return subprocess.run(self.command(argv), capture_output=True, text=True, check=check, **kwargs)

    def popen(self, argv, **kwargs):
        return subprocess.Popen(self.command(argv), **kwargs)

    def chown(self, path):
        if not self.as_root:
            return
        ids = pwd.getpwnam(self.user)
        for root, _dirs, files in os.walk(path):
            os.chown(root, ids.pw_uid, ids.pw_gid)
            for name in files:
                os.chown(os.path.join(root, name), ids.pw_uid, ids.pw_gid, follow_symlinks=False)

    # ---- lifecycle --------------------------------------------------------

    def start(self, timeout=60):
        self.run([os.path.join(self.release, "sbin", "condor_master"), "-pidfile", self.pidfile])
        deadline = time.time() + timeout
        while time.time() < deadline:
            status = self.run(["condor_status", "-af", "Name"], check=False)
            queue = self.run(["condor_q", "-totals"], check=False)
            if "slot" in status.stdout and queue.returncode == 0:
                return
            time.sleep(0.5)
        logs = "\n".join(
            open(os.path.join(self.state, "log", n), errors="replace").read()[-2000:]
            for n in os.listdir(os.path.join(self.state, "log"))
        )
        raise RuntimeError(f"personal pool did not start within {timeout} s\n{logs}")

    def stop(self):
        """Stop this pool's daemons (only this pool's: another may run as the same user)."""
        self.run(["condor_off", "-master"], check=False)
        processes = self.processes()
        deadline = time.time() + 20
        while processes and time.time() < deadline:
            time.sleep(0.5)
            processes = [pid for pid in processes if os.path.exists(f"/proc/{pid}")]
        for pid in processes:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)

    def processes(self):
        """The master's PID and its descendants' (the daemons and their jobs)."""
        try:
            with open(self.pidfile) as handle:
                found = [int(handle.read().split()[0])]
        except (OSError, ValueError, IndexError):
            return []
        children = {}
        for entry in os.listdir("/proc"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
                children.setdefault(int(fields[1]), []).append(int(entry))
        for pid in found:
            found.extend(children.get(pid, []))
        return found

    def workflow_copy(self, destination):
        """The workflow copied to ``destination`` (``copy_workflow``) and installed into the pool's
        environment, so that the pool's jobs import that copy's package; the copy's Snakefile.
        Several copies (and checkouts) share the environment: install before each run."""
        snakefile = copy_workflow(destination)
        self.install(os.path.dirname(snakefile))
        return snakefile

    def install(self, folder):
        """``pip install -e FOLDER`` (the package alone: the environment has its requirements)."""
        pip = [self.python, "-m", "pip", "install", "--quiet", "--no-deps", "-e", folder]
        done = subprocess.run(pip, capture_output=True, text=True, check=False)
        if done.returncode:
            raise RuntimeError(f"could not install {folder} for {self.python}:\n{done.stdout}{done.stderr[-4000:]}")
        subprocess.run(["chmod", "-R", "a+rX", os.path.dirname(os.path.dirname(self.python))], check=True)

    def history(self, attributes=("ClusterId", "JobBatchName", "ExitCode", "ExitBySignal", "RequestCpus")):
        result = self.run(["condor_history", "-af", *attributes], check=False)
        return [line.split() for line in result.stdout.splitlines() if line.strip()]

    # ---- the Python environment the jobs use --------------------------------

    def _python_for_user(self):
        return pool_environment(None if self.as_root else self.user)


def pool_environment(user=None):
    """The python of a virtual environment of envs/requirements-htcondor.txt (the
    executor plugin and the HTCondor bindings, which the test environment leaves
    out), made once per requirements and ``user`` (None: shared, for root's pools).
    A lock beside it: parallel test workers may ask at once."""
    requirements = os.path.join(REPO, "envs", "requirements-htcondor.txt")
    with open(requirements, "rb") as handle:
        digest = hashlib.sha1(handle.read()).hexdigest()[:12]
    venv = f"/var/tmp/mosaicflow-pool-venv-{digest}" + (f"-{user}" if user else "")
    python = os.path.join(venv, "bin", "python")
    with open(venv + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(os.path.join(venv, ".complete")):
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.run(["/usr/bin/python3", "-m", "venv", venv], check=True)
            subprocess.run(
                [python, "-m", "pip", "install", "--quiet", "-r", requirements],
                check=True,
                capture_output=True,
                cwd=os.path.dirname(requirements),
            )
            subprocess.run(["chmod", "-R", "a+rX", venv], check=True)
            open(os.path.join(venv, ".complete"), "w").close()
    return python


def _ensure_user(name):
    """The pool's user, created if absent (under a lock: two test workers may start pools at once)."""
    with open(f"/var/tmp/mosaicflow-pool-user-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            pwd.getpwnam(name)
        except KeyError:
            subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", name], check=True)


def copy_workflow(destination):
    """The workflow's own files, as a pipeline engineer would install them (with what
    ``pip install -e`` of the copy reads); the copy's Snakefile."""
    os.makedirs(destination, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".snakemake", "results", "logs")
    for name in ("Snakefile", "pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(os.path.join(REPO, name), destination)
    for folder in ("rules", "scripts", "config", "profiles", "envs", "report"):
        shutil.copytree(os.path.join(REPO, folder), os.path.join(destination, folder), ignore=ignore)
    return os.path.join(destination, "Snakefile")

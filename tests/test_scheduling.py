"""The cached input-size lookup that replaces Snakemake's per-round re-reading."""

import asyncio
import os
import subprocess
import sys
import textwrap
import threading
import time
import types

import pytest

from mosaicflow import scheduling

SCRIPTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts")


class CountingPath:
    """Stands for Snakemake's _IOFile: counts how often its size is read."""

    def __init__(self, name, size, exists=True):
        self.name, self.size_bytes, self.present = name, size, exists
        self.size_reads = 0

    async def exists(self):
        return self.present

    async def size(self):
        self.size_reads += 1
        return self.size_bytes

    def __hash__(self):
        return hash(self.name)

    def __eq__(self, other):
        return isinstance(other, CountingPath) and other.name == self.name


def job(*paths):
    return types.SimpleNamespace(input=list(paths))


def run_round(scheduler, jobs):
    asyncio.run(scheduling.update_input_sizes(scheduler, jobs))


def test_each_size_is_read_once_across_rounds():
    shared = CountingPath("corrections.tbl", 10)
    images = [CountingPath(f"p{i}.fits", 1000 + i) for i in range(5)]
    scheduler = types.SimpleNamespace(_input_sizes={})
    ready = [job(image, shared) for image in images]
    for started in range(len(ready)):  # one job starts per round, as on 1 core
        run_round(scheduler, ready[started:])
    assert [image.size_reads for image in images] == [1] * 5
    assert shared.size_reads == 1
    assert scheduler._input_sizes[images[3]] == 1003
    assert scheduler._input_sizes[shared] == 10


def test_a_path_missing_when_first_seen_is_read_again():
    late = CountingPath("late.fits", 7, exists=False)
    scheduler = types.SimpleNamespace(_input_sizes={})
    run_round(scheduler, [job(late)])
    assert scheduler._input_sizes[late] is None
    late.present = True
    run_round(scheduler, [job(late)])
    assert scheduler._input_sizes[late] == 7


def test_a_ready_job_is_not_read_again_while_new_jobs_are():
    first, second = CountingPath("a", 1), CountingPath("b", 2)
    scheduler = types.SimpleNamespace(_input_sizes={})
    waiting = job(first)
    run_round(scheduler, [waiting])
    first.present = False  # were it looked up again, its size would become None
    run_round(scheduler, [waiting, job(second)])
    assert scheduler._input_sizes == {first: 1, second: 2}
    assert (first.size_reads, second.size_reads) == (1, 1)


def test_sizes_are_forgotten_beyond_the_bound_and_the_ready_ones_read_again(monkeypatch):
    monkeypatch.setattr(scheduling, "FORGET_ABOVE", 3)
    old = [CountingPath(f"old{i}", i) for i in range(4)]
    waiting, new = CountingPath("waiting", 8), CountingPath("new", 9)
    scheduler = types.SimpleNamespace(_input_sizes={})
    run_round(scheduler, [job(*old), job(waiting)])
    run_round(scheduler, [job(waiting), job(new)])
    assert scheduler._input_sizes == {waiting: 8, new: 9}


class Semaphore:
    def __init__(self):
        self.releases = 0
        self.released = threading.Event()

    def release(self):
        self.releases += 1
        self.released.set()


def test_at_most_one_reevaluation_timer_is_pending():
    scheduler = types.SimpleNamespace(_open_jobs=Semaphore())
    for _ in range(50):  # 50 rounds within the timer's delay
        scheduling._schedule_reevalutation(scheduler, 0.2)
    assert scheduler._open_jobs.released.wait(5)
    time.sleep(0.4)
    assert scheduler._open_jobs.releases == 1
    # once it has fired, the next round may start a timer again
    scheduler._open_jobs.released.clear()
    scheduling._schedule_reevalutation(scheduler, 0.01)
    assert scheduler._open_jobs.released.wait(5)
    assert scheduler._open_jobs.releases == 2


def test_reevaluation_timers_do_not_hold_the_process_open():
    scheduler = types.SimpleNamespace(_open_jobs=Semaphore())
    scheduling._schedule_reevalutation(scheduler, 3600)
    pending = [thread for thread in threading.enumerate() if isinstance(thread, threading.Timer)]
    assert pending and all(thread.daemon for thread in pending)
    for thread in pending:
        thread.cancel()


@pytest.mark.parametrize("name", sorted(scheduling.REPLACEMENTS))
def test_applied_only_to_the_snakemake_code_it_replaces(name):
    from snakemake.scheduling.job_scheduler import JobScheduler

    expected, replacement = scheduling.REPLACEMENTS[name]
    if name not in scheduling.apply():
        pytest.skip(
            f"this Snakemake's JobScheduler.{name} is not the code the workaround was written for "
            "(its sha256 differs), so Snakemake's own method stays in use"
        )
    assert getattr(JobScheduler, name) is replacement
    assert scheduling.source_sha256(replacement) != expected
    assert scheduling.source_sha256(None) is None


def test_a_real_run_takes_one_round_per_finished_job(tmp_path):
    """Snakemake with the workarounds, on 80 jobs of 0.1 s on 2 cores: about one
    scheduling round per finished job (without them: ~220, the timer chains)."""
    snakefile = tmp_path / "Snakefile"
    snakefile.write_text(
        textwrap.dedent(
            f"""
            import sys
            sys.path.insert(0, {SCRIPTS!r})
            from mosaicflow import scheduling
            scheduling.apply()
            from snakemake.scheduling.job_scheduler import JobScheduler
            _selector = JobScheduler.job_selector
            def counting_selector(self, jobs):
                with open("rounds.txt", "a") as handle:
                    handle.write("round\\n")
                return _selector(self, jobs)
            JobScheduler.job_selector = counting_selector

            rule all:
                input: expand("out/{{i}}.txt", i=range(80))

            rule one:
                output: "out/{{i}}.txt"
                shell: "sleep 0.1; touch {{output}}"
            """
        )
    )
    run = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(snakefile), "-d", str(tmp_path), "--cores", "2", "--quiet"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    rounds = (tmp_path / "rounds.txt").read_text().count("round")
    assert len(list((tmp_path / "out").iterdir())) == 80
    if not {"update_input_sizes", "_schedule_reevalutation"} <= scheduling.apply():
        pytest.skip("the workarounds do not apply to this Snakemake")
    assert rounds <= 100, f"{rounds} scheduling rounds for 80 jobs"


def test_only_ready_jobs_are_held():
    a, b = job(CountingPath("a", 1)), job(CountingPath("b", 2))
    scheduler = types.SimpleNamespace(_input_sizes={})
    run_round(scheduler, [a, b])
    run_round(scheduler, [b])  # a started: it is not held any more
    assert list(scheduler._mosaicflow_sized_jobs.values()) == [b]


def test_describe_names_the_active_workarounds():
    line = scheduling.describe()
    assert line.startswith("Snakemake ") and "\n" not in line
    assert ("active (" in line) == bool(scheduling.applied)

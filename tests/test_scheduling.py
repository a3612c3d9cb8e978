"""The cached input-size lookup that replaces Snakemake's per-round re-reading."""

import asyncio
import types

import pytest

from mosaicflow import scheduling


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


def test_sizes_of_finished_jobs_are_forgotten_beyond_the_bound(monkeypatch):
    monkeypatch.setattr(scheduling, "FORGET_ABOVE", 3)
    old = [CountingPath(f"old{i}", i) for i in range(3)]
    new = CountingPath("new", 9)
    scheduler = types.SimpleNamespace(_input_sizes={})
    run_round(scheduler, [job(*old)])
    run_round(scheduler, [job(new)])
    assert list(scheduler._input_sizes) == [new]


def test_applied_only_to_the_snakemake_code_it_replaces():
    from snakemake.scheduling.job_scheduler import JobScheduler

    scheduling.apply()
    if not scheduling.applied:
        pytest.skip(
            "this Snakemake's JobScheduler.update_input_sizes is not the code the workaround "
            "was written for (sha256 differs), so Snakemake's own method stays in use"
        )
    assert JobScheduler.update_input_sizes is scheduling.update_input_sizes
    assert not scheduling.original_source_matches(scheduling.update_input_sizes)
    assert not scheduling.original_source_matches(None)

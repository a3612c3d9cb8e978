"""A pool run's job event log is set aside at its end (mosaicflow.operations.pool):
the next run's executor then starts without an old log to read (docs/upstream.md)."""

from mosaicflow.operations import pool


def test_the_event_log_moves_to_previous_run_log(tmp_path):
    (tmp_path / pool.EVENT_LOG).write_text("005 (052.000.000) Job terminated.\n")
    (tmp_path / pool.PREVIOUS_EVENT_LOG).write_text("an older run's log\n")
    moved = pool.set_aside_event_log(str(tmp_path))
    assert moved == str(tmp_path / pool.PREVIOUS_EVENT_LOG)
    assert not (tmp_path / pool.EVENT_LOG).exists()
    assert (tmp_path / pool.PREVIOUS_EVENT_LOG).read_text() == "005 (052.000.000) Job terminated.\n"


def test_nothing_to_set_aside_changes_nothing(tmp_path):
    (tmp_path / pool.PREVIOUS_EVENT_LOG).write_text("an older run's log\n")
    assert pool.set_aside_event_log(str(tmp_path)) is None
    assert (tmp_path / pool.PREVIOUS_EVENT_LOG).read_text() == "an older run's log\n"
    assert pool.set_aside_event_log(str(tmp_path / "absent")) is None

"""The progress counters the writer feeds and front ends render."""

from __future__ import annotations

import threading

from ocipush.registry.progress import ProgressTracker, ProgressUpdate


def test_every_change_is_reported():
    updates: list[ProgressUpdate] = []
    tracker = ProgressTracker(updates.append)

    tracker.add_total(100)
    tracker.advance(30)
    tracker.add_total(50)
    tracker.advance(120)

    assert updates == [
        ProgressUpdate(100, 0),
        ProgressUpdate(100, 30),
        ProgressUpdate(150, 30),
        ProgressUpdate(150, 150),
    ]
    assert (tracker.total, tracker.complete) == (150, 150)


def test_take_back_undoes_a_failed_attempt():
    updates: list[ProgressUpdate] = []
    tracker = ProgressTracker(updates.append)
    tracker.add_total(10)
    tracker.advance(7)

    tracker.take_back(7)
    tracker.advance(10)

    assert [u.complete for u in updates] == [0, 7, 0, 10]
    assert updates[-1] == ProgressUpdate(10, 10)


def test_fail_reports_the_error_with_the_counts_so_far():
    updates: list[ProgressUpdate] = []
    tracker = ProgressTracker(updates.append)
    tracker.add_total(10)
    tracker.advance(4)
    error = RuntimeError("broken")

    tracker.fail(error)

    assert updates[-1] == ProgressUpdate(10, 4, error)


def test_without_a_callback_it_still_counts():
    tracker = ProgressTracker()
    tracker.add_total(5)
    tracker.advance(5)
    tracker.fail(RuntimeError("ignored"))
    assert (tracker.total, tracker.complete) == (5, 5)


def test_concurrent_updates_are_not_lost():
    updates: list[ProgressUpdate] = []
    tracker = ProgressTracker(updates.append)

    def work() -> None:
        for _ in range(500):
            tracker.add_total(2)
            tracker.advance(2)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert (tracker.total, tracker.complete) == (8_000, 8_000)
    assert len(updates) == 8_000
    assert updates[-1] == ProgressUpdate(8_000, 8_000)
    assert all(u.complete <= u.total for u in updates)

"""large_batch: fewer garbage collections during large batches, everything restored after."""

from __future__ import annotations

import asyncio
import gc
import threading
import weakref
from collections.abc import Iterator

import pytest

from forethought.runtime import collector
from forethought.runtime.collector import LARGE_BATCH, YOUNG_THRESHOLD, large_batch

DEFAULT = (700, 10, 10)


@pytest.fixture(autouse=True)
def known_thresholds() -> Iterator[None]:
    before = gc.get_threshold()
    gc.set_threshold(*DEFAULT)
    yield
    gc.set_threshold(*before)
    assert collector._depth == 0  # pyright: ignore[reportPrivateUsage]


def test_small_batches_leave_the_collector_alone() -> None:
    with large_batch(LARGE_BATCH - 1):
        assert gc.get_threshold() == DEFAULT


def test_a_large_batch_raises_the_young_threshold_and_restores_it() -> None:
    with large_batch(LARGE_BATCH):
        assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10)
    assert gc.get_threshold() == DEFAULT


def test_restored_when_the_body_raises() -> None:
    with pytest.raises(ValueError, match="boom"), large_batch(10**6):
        raise ValueError("boom")
    assert gc.get_threshold() == DEFAULT


def test_nested_batches_restore_only_when_the_outermost_ends() -> None:
    with large_batch(10**6):
        with large_batch(10**6):
            assert gc.get_threshold()[0] == YOUNG_THRESHOLD
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD
        with large_batch(5):  # a small batch inside a large one changes nothing either
            assert gc.get_threshold()[0] == YOUNG_THRESHOLD
    assert gc.get_threshold() == DEFAULT


async def test_overlapping_batches_in_concurrent_tasks() -> None:
    first_in = asyncio.Event()
    second_in = asyncio.Event()
    first_out = asyncio.Event()

    async def first() -> None:
        with large_batch(10**6):
            first_in.set()
            await second_in.wait()
        first_out.set()

    async def second() -> None:
        await first_in.wait()
        with large_batch(10**6):
            second_in.set()
            await first_out.wait()
            # the first batch ended, this one is still running: still raised
            assert gc.get_threshold()[0] == YOUNG_THRESHOLD

    await asyncio.gather(first(), second())
    assert gc.get_threshold() == DEFAULT


def test_threads_share_one_count() -> None:
    inside = threading.Barrier(4)
    leave = threading.Barrier(4)
    seen: list[int] = []

    def work() -> None:
        with large_batch(10**6):
            inside.wait()
            seen.append(gc.get_threshold()[0])
            leave.wait()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [YOUNG_THRESHOLD] * 4
    assert gc.get_threshold() == DEFAULT


def test_a_switched_off_or_higher_threshold_is_left_as_it_is() -> None:
    gc.set_threshold(0, 10, 10)
    with large_batch(10**6):
        assert gc.get_threshold() == (0, 10, 10)
    assert gc.get_threshold() == (0, 10, 10)
    gc.set_threshold(YOUNG_THRESHOLD * 2, 5, 5)
    with large_batch(10**6):
        assert gc.get_threshold() == (YOUNG_THRESHOLD * 2, 5, 5)
    assert gc.get_threshold() == (YOUNG_THRESHOLD * 2, 5, 5)


def test_a_threshold_changed_during_the_batch_is_kept() -> None:
    with large_batch(10**6):
        gc.set_threshold(5000, 20, 20)
    assert gc.get_threshold() == (5000, 20, 20)
    with large_batch(10**6):  # and the next batch starts from the user's value
        assert gc.get_threshold() == (YOUNG_THRESHOLD, 20, 20)
    assert gc.get_threshold() == (5000, 20, 20)


def test_garbage_cycles_are_still_collected_during_a_batch() -> None:
    class Node:
        def __init__(self) -> None:
            self.me = self

    with large_batch(10**6):
        node = Node()
        ref = weakref.ref(node)
        del node
        assert ref() is not None  # a cycle: only the collector frees it
        kept = [[i] for i in range(YOUNG_THRESHOLD + 10)]  # enough to trigger a collection
        assert ref() is None
        del kept

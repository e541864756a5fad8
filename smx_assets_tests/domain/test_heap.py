"""The scoring run's GC freeze must end with the heap collectable again, even on errors."""

import gc

import pytest

from smx_assets.domain.heap import freeze_loaded_heap, frozen_heap


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_frozen_heap_freezes_for_the_block_and_unfreezes_after() -> None:
    gc.unfreeze()
    with frozen_heap() as frozen:
        assert frozen > 1000 and gc.get_freeze_count() > 1000
    assert gc.get_freeze_count() == 0


def test_frozen_heap_unfreezes_when_the_block_raises_and_garbage_is_collected() -> None:
    gc.unfreeze()
    cycle = _Cycle()
    with pytest.raises(RuntimeError):
        with frozen_heap():
            raise RuntimeError("scoring failed")
    assert gc.get_freeze_count() == 0
    del cycle  # a cycle frozen during the block is still collected once it has ended
    assert gc.collect() >= 1


def test_freeze_loaded_heap_then_a_run_block_returns_everything() -> None:
    assert freeze_loaded_heap() > 1000
    with frozen_heap():
        pass
    assert gc.get_freeze_count() == 0


def test_frozen_heap_as_a_decorator_freezes_each_call() -> None:
    gc.unfreeze()

    @frozen_heap()
    def run() -> int:
        return gc.get_freeze_count()

    assert run() > 1000 and run() > 1000  # a fresh freeze per call, not one shared generator
    assert gc.get_freeze_count() == 0

"""eflux/gc_tuning.py: the server process's collector settings, read from GC_THRESHOLD."""

import gc

import pytest

from eflux import gc_tuning


@pytest.fixture
def restore_gc():
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)
    gc.unfreeze()


@pytest.mark.parametrize(
    "text, expected",
    [("", gc_tuning.DEFAULT), ("700,10,10", (700, 10, 10)), (" 20000 ", (20000,)), ("0", None)],
)
def test_threshold_from_env(monkeypatch, text, expected):
    monkeypatch.setenv("GC_THRESHOLD", text)
    assert gc_tuning.threshold_from_env() == expected


@pytest.mark.parametrize("text", ["-1", "1,2,3,4", "a,b", "100,0"])
def test_a_bad_threshold_is_refused_with_its_text(monkeypatch, text):
    monkeypatch.setenv("GC_THRESHOLD", text)
    with pytest.raises(ValueError, match="GC_THRESHOLD"):
        gc_tuning.threshold_from_env()


def test_apply_freezes_start_up_and_sets_the_threshold(monkeypatch, restore_gc):
    monkeypatch.setenv("GC_THRESHOLD", "12345,7,3")
    gc.unfreeze()
    gc_tuning.apply()
    assert gc.get_threshold() == (12345, 7, 3)
    assert gc.get_freeze_count() > 0


def test_zero_leaves_the_collector_alone(monkeypatch, restore_gc):
    monkeypatch.setenv("GC_THRESHOLD", "0")
    gc.set_threshold(700, 10, 10)
    gc.unfreeze()
    gc_tuning.apply()
    assert gc.get_threshold() == (700, 10, 10)
    assert gc.get_freeze_count() == 0

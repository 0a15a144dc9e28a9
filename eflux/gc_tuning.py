"""Garbage-collector settings of a server process (daphne), applied once the application is loaded.

Measured (docs/benchmarks.md, "Garbage collection"): with CPython's defaults (a young-generation collection
every 700 net allocations) a daphne process under 500 calls/s spent ~11 % of its CPU in the cyclic garbage
collector, and each full collection walked every object of the process (Django, the apps, every connection's
state), ~190 ms with the GIL held: a pause for every station of the process. Nearly all of what a call
allocates is freed by reference counting; the collector only has to find cycles, which are rare here.

- `gc.freeze()` moves everything alive after start-up (modules, models, URL patterns, settings) into a
  permanent generation that no collection walks again.
- A larger young-generation threshold (GC_THRESHOLD, default 50,000) makes collections rarer; what a call
  leaves behind has then mostly been freed by reference counting before a collection looks at it. Cycles are
  still collected, only later (memory held a little longer, bounded by the threshold).

GC_THRESHOLD="700,10,10" restores CPython's defaults; "0" disables the tuning."""

import gc
import os

DEFAULT = (50_000, 20, 10)


def threshold_from_env() -> tuple[int, ...] | None:
    text = os.environ.get("GC_THRESHOLD", "").strip()
    if not text:
        return DEFAULT
    if text == "0":
        return None
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        values = ()
    if not 1 <= len(values) <= 3 or any(v <= 0 for v in values):
        raise ValueError(f"GC_THRESHOLD={text!r}: one to three positive integers, e.g. 50000,20,10")
    return values


def apply() -> None:
    threshold = threshold_from_env()
    if threshold is None:
        return
    gc.collect()  # what start-up left as garbage goes now, not into the permanent generation
    gc.freeze()
    gc.set_threshold(*threshold)

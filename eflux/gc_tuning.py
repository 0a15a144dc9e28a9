"""The cyclic garbage collector of a server process (called once from eflux/asgi.py, after the application
is built).

Measured in one daphne process while 1,000 new stations connected at 200/s (docs/benchmarks.md, 2026-12-01
night): ~3 CPU-s of 14 went to the collector, and each full collection held the GIL for 250-600 ms with the
heap of a few thousand connections, long enough for the accept queue to overflow and for handshakes to queue
past daphne's 5 s limit. A full collection walks every tracked object, and CPython starts one whenever the
objects promoted since the last one exceed a quarter of the old ones: during a connect storm that is every
few seconds, each time over the whole heap.

- `gc.freeze()` moves everything alive at startup (Django, the URL and schema tables, the modules: ~130,000
  objects, 0.1 s per full collection on this machine) to the permanent generation: never walked again, and
  never garbage (it lives as long as the process).
- `GC_THRESHOLDS` (settings; "" keeps CPython's 700,10,10) lets fewer short-lived objects (a handshake's
  request, a batch's futures) survive into the older generations, which is what makes full collections
  frequent. Unreachable cycles are still collected, only in fewer, larger young collections."""

import gc


def gc_tune(thresholds: tuple[int, ...] | None) -> None:
    gc.collect()
    gc.freeze()
    if thresholds:
        gc.set_threshold(*thresholds)

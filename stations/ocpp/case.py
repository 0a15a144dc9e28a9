"""camelCase <-> snake_case for OCPP payloads, as the `ocpp` library converts them, with each key's conversion
cached: the library runs two regular expressions per key of every message (about 6 % of a daphne process's
time under load, docs/benchmarks.md), and OCPP has a few hundred distinct keys. The library's own function
converts each key the first time, so the result is exactly the library's."""

from functools import lru_cache

from ocpp.charge_point import camel_to_snake_case as _library_to_snake
from ocpp.charge_point import snake_to_camel_case as _library_to_camel

# Bounded: a station may send keys of its own (vendor data); at most this many are remembered.
CACHED_KEYS = 4096


@lru_cache(maxsize=CACHED_KEYS)
def _snake_key(key: str) -> str:
    return next(iter(_library_to_snake({key: None})))


@lru_cache(maxsize=CACHED_KEYS)
def _camel_key(key: str) -> str:
    return next(iter(_library_to_camel({key: None})))


def to_snake(data):
    if isinstance(data, dict):
        return {_snake_key(k): to_snake(v) for k, v in data.items()}
    if isinstance(data, list):
        return [to_snake(v) for v in data]
    return data


def to_camel(data):
    if isinstance(data, dict):
        return {_camel_key(k): to_camel(v) for k, v in data.items()}
    if isinstance(data, list):
        return [to_camel(v) for v in data]
    return data

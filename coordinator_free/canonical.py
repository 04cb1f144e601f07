"""Canonical bytes of a signed record, and its id (DESIGN §5, §13, §14).

Every record that travels is signed over these bytes, and its id is their
SHA-256, so two nodes must produce exactly the same bytes for the same record.
The encoding is JSON with sorted keys, no whitespace, ASCII only, no NaN:

    {"fields":{...},"kind":"ledger.transfer","protocol":1}

Floats are written as Python's shortest round-trip repr, and a field
declared `float` is always written as a float (5 and 5.0 would otherwise give
two ids for one record). Tuples become lists and back. `decode_record`
accepts only bytes that re-encode to themselves, so a record has one
encoding, never several that verify.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from coordinator_free.constants import PROTOCOL_VERSION
from coordinator_free.errors import ProtocolError

RecordType = TypeVar("RecordType")


@functools.cache
def _float_fields(record_type: type) -> frozenset[str]:
    hints = typing.get_type_hints(record_type)
    return frozenset(name for name, hint in hints.items() if hint is float)


_ATOMS = frozenset({str, int, bool, type(None)})  # written as they are, nothing to check


def _plain(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        raise ProtocolError(f"records carry only finite numbers, got {value}")
    return value


@functools.cache
def _field_names(record_type: type) -> tuple[tuple[str, bool], ...]:
    """Each field's name and whether it is declared `float`, in declaration order."""
    floats = _float_fields(record_type)
    return tuple((field.name, field.name in floats) for field in dataclasses.fields(record_type))


def _fields_of(record: Any) -> dict[str, Any]:
    fields = {}
    for name, is_float in _field_names(type(record)):
        value = getattr(record, name)
        if is_float:
            value = float(value)
        elif type(value) not in _ATOMS:  # lists, tuples and floats need _plain's care
            value = _plain(value)
        fields[name] = value
    return fields


# What json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
# builds on every call; one encoder made once gives the same bytes (ledger folds hash
# hundreds of thousands of events, and the encoder's construction was a third of each).
_ENCODER = json.JSONEncoder(
    sort_keys=True,
    separators=(",", ":"),
    ensure_ascii=True,
    allow_nan=False,
)


def canonical_bytes(record: Any) -> bytes:
    """The bytes a record is signed over."""
    document = {
        "fields": _fields_of(record),
        "kind": record.KIND,
        "protocol": PROTOCOL_VERSION,
    }
    return _ENCODER.encode(document).encode("ascii")


def record_id(record: Any) -> str:
    """Hex SHA-256 of the canonical bytes."""
    return hashlib.sha256(canonical_bytes(record)).hexdigest()


def _tuples(value: Any) -> Any:
    return tuple(_tuples(item) for item in value) if isinstance(value, list) else value


def decode_record(
    data: bytes, record_types: Mapping[str, type[RecordType]]
) -> RecordType:
    """The record encoded in `data`; `record_types` maps each accepted KIND to its class."""
    try:
        document = json.loads(data.decode("ascii"))
        kind, protocol, fields = (
            document["kind"],
            document["protocol"],
            document["fields"],
        )
    except (UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
        raise ProtocolError(f"not a canonical record: {error}") from error
    if protocol != PROTOCOL_VERSION:
        raise ProtocolError(
            f"record is for protocol {protocol}, this node speaks {PROTOCOL_VERSION}"
        )
    if kind not in record_types:
        raise ProtocolError(
            f"record kind {kind!r} is not one of {sorted(record_types)}"
        )
    try:
        record = record_types[kind](
            **{name: _tuples(value) for name, value in fields.items()}
        )
    except TypeError as error:
        raise ProtocolError(f"{kind} record has the wrong fields: {error}") from error
    if canonical_bytes(record) != data:
        raise ProtocolError(
            f"{kind} record is not in canonical form; re-encode it with canonical_bytes"
        )
    return record

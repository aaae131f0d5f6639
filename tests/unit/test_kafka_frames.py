"""The frame decoder: every byte string either parses or raises FrameError (hypothesis)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kio.static.constants import EntityType

from paas.kafka import protocol as P
from paas.kafka.records import build_batch

pytestmark = pytest.mark.kafka


def _req(api_key: int, version: int, values: dict) -> bytes:  # type: ignore[type-arg]
    body = P.build(P.payload_class(api_key, version, EntityType.request), values)
    return P.encode_request(api_key, version, 7, body)[4:]


VALID = [
    _req(P.API_VERSIONS, 3, {"client_software_name": "x", "client_software_version": "1"}),
    _req(P.METADATA, 9, {"topics": [{"name": "p.t"}]}),
    _req(
        P.PRODUCE,
        8,
        {
            "acks": 1,
            "timeout": 1000,
            "topic_data": [
                {"name": "p.t", "partition_data": [{"index": 0, "records": build_batch([(b"k", b"v")])}]}
            ],
        },
    ),
    _req(
        P.FETCH,
        12,
        {
            "max_wait": 500,
            "min_bytes": 1,
            "max_bytes": 1000,
            "topics": [
                {
                    "topic": "p.t",
                    "partitions": [{"partition": 0, "fetch_offset": 5, "partition_max_bytes": 100}],
                }
            ],
            "rack_id": "",
        },
    ),
    _req(
        P.JOIN_GROUP,
        7,
        {
            "group_id": "p.g",
            "session_timeout": 10000,
            "rebalance_timeout": 10000,
            "member_id": "",
            "protocol_type": "consumer",
            "protocols": [{"name": "range", "metadata": b"\0\1"}],
        },
    ),
    _req(P.SASL_AUTHENTICATE, 2, {"auth_bytes": b"\0u\0p"}),
]


def test_valid_requests_round_trip() -> None:
    for payload in VALID:
        req = P.decode_request(payload)
        assert req.correlation_id == 7 and req.client_id == "paas" and req.body is not None


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None, database=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_escape_as_other_errors(data: bytes) -> None:
    try:
        P.decode_request(data)
    except P.FrameError:
        pass


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow], deadline=None, database=None)
@given(
    st.sampled_from(VALID),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6),
    st.integers(0, 10_000),
)
def test_mutated_and_truncated_requests_are_rejected_cleanly(
    payload: bytes, flips: list[tuple[int, int]], cut: int
) -> None:
    mutated = bytearray(payload)
    for pos, value in flips:
        mutated[pos % len(mutated)] = value
    mutated = mutated[: max(len(mutated) - cut % (len(mutated) + 1), 0)]
    try:
        req = P.decode_request(bytes(mutated))
    except P.FrameError:
        return
    assert req.api_key in P.ADVERTISED


@settings(max_examples=300, deadline=None, database=None)
@given(st.integers(-32768, 32767), st.integers(-32768, 32767), st.binary(max_size=64))
def test_any_header_values_are_handled(api_key: int, version: int, rest: bytes) -> None:
    payload = struct.pack(">hhih", api_key, version, 1, 0) + rest
    try:
        req = P.decode_request(payload)
    except P.UnknownApi:
        assert api_key not in P.ADVERTISED
    except P.UnsupportedVersion:
        assert not P.served(api_key, version) and api_key != P.API_VERSIONS
    except P.FrameError:
        pass
    else:
        assert P.served(req.api_key, req.api_version) or req.api_key == P.API_VERSIONS


def test_unknown_api_versions_version_is_answered_at_v0() -> None:
    req = P.decode_request(struct.pack(">hhih", P.API_VERSIONS, 99, 5, -1))
    assert req.body is None and req.correlation_id == 5


def test_every_advertised_max_version_is_served() -> None:
    for key, (_low, high) in P.ADVERTISED.items():
        assert P.served(key, high), P.API_NAMES[key]


def test_builder_zero_fills_and_drops_fields_across_versions() -> None:
    values = {
        "throttle_time": 5,
        "error_code": 0,
        "generation_id": 3,
        "protocol_type": "consumer",
        "protocol_name": "range",
        "leader": "a",
        "member_id": "a",
        "members": [],
        "not_a_field": 1,
    }
    for version in (0, 2, 5, 7):
        resp = P.response(P.JOIN_GROUP, version, values)
        assert resp.generation_id == 3
        assert P.encode_response(1, resp)[:8] == struct.pack(">ii", len(P.encode_response(1, resp)) - 4, 1)

"""The frame decoder: every byte string either parses or raises FrameError (hypothesis)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kio.schema.errors import ErrorCode as E
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
    except P.FrameError:
        pass
    else:
        assert req.supported == P.served(req.api_key, req.api_version)


def test_unknown_api_versions_version_is_answered_at_v0() -> None:
    req = P.decode_request(struct.pack(">hhih", P.API_VERSIONS, 99, 5, -1))
    assert req.body is None and req.correlation_id == 5 and not req.supported


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


# ------------------------------------------------------- KIP-482 tagged fields

UNKNOWN_TAG = b"\x01\x63\x03xyz"  # one tagged field: tag 99, 3 bytes


def _flexible_requests() -> list[tuple[int, int]]:
    return [
        (key, version)
        for key, (low, high) in P.ADVERTISED.items()
        for version in range(low, high + 1)
        if P.payload_class(key, version, EntityType.request).__flexible__
    ]


@pytest.mark.parametrize(("api_key", "version"), _flexible_requests())
def test_unknown_tagged_fields_are_skipped_in_every_flexible_version(api_key: int, version: int) -> None:
    cls = P.payload_class(api_key, version, EntityType.request)
    plain = P.encode_request(api_key, version, 9, P.build(cls, {}))[4:]
    expected = P.decode_request(plain).body
    header_end = 10 + len("paas")
    assert plain[header_end] == 0 and plain[-1] == 0  # empty header and body tag blocks
    tagged = plain[:header_end] + UNKNOWN_TAG + plain[header_end + 1 : -1] + UNKNOWN_TAG
    req = P.decode_request(tagged)
    assert req.supported and req.body == expected


def test_unknown_tags_inside_nested_entities_are_skipped() -> None:
    header = struct.pack(">hhih", P.METADATA, 9, 3, 4) + b"paas" + b"\0"
    # topics: one topic "ab" whose own tag block carries an unknown tag; three booleans; body tags
    body = b"\x02" + b"\x03ab" + UNKNOWN_TAG + b"\x00\x00\x00" + UNKNOWN_TAG
    req = P.decode_request(header + body)
    assert [t.name for t in req.body.topics] == ["ab"]


def test_librdkafka_all_topics_metadata_request_is_read() -> None:
    """librdkafka 2.x asks for all topics at v9+ with four bytes where the null array goes."""
    payload = bytes.fromhex("0003000900000005000772646b61666b61000000000001000000")
    req = P.decode_request(payload)
    assert req.body.topics is None and req.client_id == "rdkafka"


def test_a_tag_running_past_the_end_is_a_frame_error() -> None:
    cls = P.payload_class(P.METADATA, 9, EntityType.request)
    plain = P.encode_request(P.METADATA, 9, 1, P.build(cls, {"topics": None}))[4:]
    with pytest.raises(P.FrameError):
        P.decode_request(plain[:-1] + b"\x01\x05\x09ab")


def test_unsupported_versions_are_answered_with_the_error_and_echoed_items() -> None:
    from paas.kafka.refusal import unsupported_response

    too_new = P.ADVERTISED[P.METADATA][1] + 1
    cls = P.payload_class(P.METADATA, too_new, EntityType.request)
    payload = P.encode_request(P.METADATA, too_new, 4, P.build(cls, {"topics": [{"name": "p.t"}]}))[4:]
    req = P.decode_request(payload)
    assert not req.supported
    resp = unsupported_response(req)
    assert resp.__version__ == too_new
    assert [(t.name, t.error_code) for t in resp.topics] == [("p.t", E.unsupported_version)]
    assert resp.brokers == ()
    produce = P.encode_request(
        P.PRODUCE,
        9,
        5,
        P.build(
            P.payload_class(P.PRODUCE, 9, EntityType.request),
            {"acks": 1, "timeout": 1000, "topic_data": [{"name": "p.t", "partition_data": [{"index": 2}]}]},
        ),
    )[4:]
    answer = unsupported_response(P.decode_request(produce))
    part = answer.responses[0].partition_responses[0]
    assert answer.responses[0].name == "p.t" and (part.index, part.error_code) == (2, E.unsupported_version)

"""Heroku's `Range` header on lists, and the signed grants of log session and release output URLs."""

from __future__ import annotations

import pytest

from common.errors import PaasError
from paas.api.ranges import RangeSpec
from paas.api.streams import LogGrant, new_log_grant, release_output_ok, release_output_signature

VERSIONS = list(range(1, 21))


def page(header: str | None) -> tuple[list[int], bool]:
    return RangeSpec.parse(header, field="version").apply(VERSIONS, key=lambda v: v)


def test_the_clis_newest_release_question() -> None:
    assert page("version ..; max=1, order=desc") == ([20], True)
    assert page("version ..; max=15, order=desc")[0] == list(range(20, 5, -1))
    assert page(None) == (VERSIONS, False)


def test_bounds_and_next_range() -> None:
    spec = RangeSpec.parse("version 5..8", field="version")
    assert spec.apply(VERSIONS, key=lambda v: v) == ([5, 6, 7, 8], False)
    first = RangeSpec.parse("version ..; max=3, order=desc", field="version")
    got, more = first.apply(VERSIONS, key=lambda v: v)
    header = first.next_range_header(got, more, key=lambda v: v)["Next-Range"]
    assert header == "version ]18..; max=3, order=desc"
    assert page(header) == ([17, 16, 15], True)


@pytest.mark.parametrize(
    "header",
    ["id ..", "version ..; max=ten", "version ..; order=sideways", "version a..b", "version ..; colour=red"],
)
def test_a_range_we_cannot_read_is_a_400(header: str) -> None:
    with pytest.raises(PaasError) as caught:
        RangeSpec.parse(header, field="version")
    assert caught.value.status == 400 and "Invalid Range header" in caught.value.message


def test_log_grant_round_trip_tamper_and_expiry() -> None:
    grant = new_log_grant("app", 100, True, "app", "web.1")
    sealed = grant.seal("key")
    assert LogGrant.open("key", sealed) == grant
    assert LogGrant.open("other-key", sealed) is None
    payload, _, signature = sealed.partition(".")
    assert LogGrant.open("key", payload[:-2] + "xx." + signature) is None
    assert LogGrant.open("key", "garbage") is None
    assert LogGrant.open("key", sealed, now=grant.expires + 1) is None


def test_release_output_signature_names_one_release() -> None:
    signature = release_output_signature("key", "app", "r1")
    assert release_output_ok("key", "app", "r1", signature)
    assert not release_output_ok("key", "app", "r2", signature)
    assert not release_output_ok("other", "app", "r1", signature)

"""Page format: header round trip, and torn / stale / short pages are told apart from good ones."""

from __future__ import annotations

import os

import pytest

from splitsecond.serving.kvtier.page_format import (
    ALGO_ZLIB_CRC32,
    DEFAULT_ALGO,
    HEADER_BYTES,
    PageHeader,
    PageStatus,
    checksum,
    page_bytes,
    unpack_header,
    verify_host_page,
)


def make_page(payload: bytes, owner: int = 7, index: int = 3, generation: int = 11, algo: int = DEFAULT_ALGO):
    page = bytearray(page_bytes(len(payload)))
    head = PageHeader(generation, owner, index, len(payload), checksum(payload, algo), algo).pack()
    page[: len(head)] = head
    page[HEADER_BYTES : HEADER_BYTES + len(payload)] = payload
    return page


def test_page_size_is_4k_aligned_and_rejects_empty():
    assert page_bytes(1) == 8192
    assert page_bytes(737280) == 4096 + 737280
    assert page_bytes(737281) % 4096 == 0
    with pytest.raises(ValueError, match="payload_len"):
        page_bytes(0)


@pytest.mark.parametrize("algo", [DEFAULT_ALGO, ALGO_ZLIB_CRC32])
def test_good_page_verifies_and_header_round_trips(algo):
    payload = os.urandom(10_000)
    page = make_page(payload, algo=algo)
    assert verify_host_page(page, 7, 3, 11, len(payload)).ok
    header = unpack_header(page)
    assert header == PageHeader(11, 7, 3, len(payload), checksum(payload, algo), algo)


def test_negative_owner_ids_round_trip():  # prefix-cache hashes are signed 64-bit
    payload = b"x" * 100
    page = make_page(payload, owner=-(2**63), index=-1)
    assert verify_host_page(page, -(2**63), -1, 11, 100).ok


def test_flipped_payload_byte_is_torn():
    payload = os.urandom(5000)
    page = make_page(payload)
    page[HEADER_BYTES + 1234] ^= 0x01
    check = verify_host_page(page, 7, 3, 11, len(payload))
    assert check.status is PageStatus.TORN and "checksum" in check.reason


def test_zeroed_header_is_torn():
    payload = os.urandom(5000)
    page = make_page(payload)
    page[:HEADER_BYTES] = bytes(HEADER_BYTES)
    assert verify_host_page(page, 7, 3, 11, len(payload)).status is PageStatus.TORN


def test_short_page_is_torn():
    payload = os.urandom(5000)
    page = make_page(payload)
    assert verify_host_page(page[: HEADER_BYTES + 100], 7, 3, 11, len(payload)).status is PageStatus.TORN


def test_old_generation_or_other_owner_is_stale():
    payload = os.urandom(5000)
    page = make_page(payload, generation=11)
    assert verify_host_page(page, 7, 3, 12, len(payload)).status is PageStatus.STALE
    assert verify_host_page(page, 8, 3, 11, len(payload)).status is PageStatus.STALE
    assert verify_host_page(page, 7, 4, 11, len(payload)).status is PageStatus.STALE


def test_unknown_checksum_algorithm_is_rejected():
    with pytest.raises(ValueError, match="algorithm"):
        checksum(b"abc", 99)

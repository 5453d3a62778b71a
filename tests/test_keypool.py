"""The session's RSA key pool (tests/support/keypool.py): what makes reusing keys honest."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from support.keypool import POOL, KeyPool
from support.pki import TestPki


def _numbers(key: rsa.RSAPrivateKey) -> int:
    return key.public_key().public_numbers().n


def test_keys_are_distinct_within_a_test_and_drawn_again_by_the_next() -> None:
    pool = KeyPool()
    pool.start_test()
    first = [pool.rsa2048() for _ in range(3)]
    assert len({_numbers(k) for k in first}) == 3
    pool.start_test()
    assert [pool.rsa2048() for _ in range(3)] == first


def test_a_lasting_draw_is_never_drawn_again() -> None:
    pool = KeyPool()
    pool.start_test()
    reused = pool.rsa2048()
    with pool.lasting():
        kept = pool.rsa2048()
    pool.start_test()
    assert pool.rsa2048() is reused
    assert _numbers(pool.rsa2048()) != _numbers(kept)


def test_outside_any_test_every_draw_is_fresh() -> None:
    pool = KeyPool()
    assert _numbers(pool.rsa2048()) != _numbers(pool.rsa2048())


@pytest.fixture(scope="module")
def module_pki() -> Iterator[tuple[TestPki, bool]]:
    yield TestPki.create(), POOL.is_lasting


@pytest.fixture
def function_pki() -> Iterator[tuple[TestPki, bool]]:
    yield TestPki.create(), POOL.is_lasting


def test_conftest_keeps_a_broad_fixtures_keys_and_pools_a_tests(
        module_pki: tuple[TestPki, bool], function_pki: tuple[TestPki, bool]) -> None:
    # tests/conftest.py: POOL.start_test() before each test, POOL.lasting() around the
    # setup of fixtures broader than one test
    assert module_pki[1] and not function_pki[1] and not POOL.is_lasting
    keys = [pki.root.key for pki, _ in (module_pki, function_pki)]
    keys += [pki.intermediate.key for pki, _ in (module_pki, function_pki)]
    assert len({_numbers(k) for k in keys}) == 4  # type: ignore[arg-type]

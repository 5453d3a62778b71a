"""RSA-2048 keys for tests, generated once per test session and drawn again by each test.

Generating an RSA-2048 key costs about 60 ms of CPU, and the quick suite asks for about
140 (test PKIs, DKIM keys). Within one test every key drawn is distinct, as fresh keys
would be; the next test draws the same keys again, in the same order, so a session
generates only as many as its hungriest test needs.

A key drawn while a fixture broader than one test is being set up (class, module,
session), or outside any test (at import), belongs to that fixture for good and is never
drawn again: no two things alive at the same time ever share a key. tests/conftest.py
calls :meth:`KeyPool.start_test` before each test's setup and wraps the setup of broader
fixtures in :meth:`KeyPool.lasting`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from cryptography.hazmat.primitives.asymmetric import rsa


def _generate() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class KeyPool:
    """RSA-2048 keys: reused from test to test, never twice within one."""

    def __init__(self) -> None:
        self._keys: list[rsa.RSAPrivateKey] = []
        self._drawn = 0
        self._lasting = 1  # outside a test until the first one starts

    def start_test(self) -> None:
        """A new test begins: its draws start again at the first key."""
        self._drawn = 0
        self._lasting = 0

    @contextlib.contextmanager
    def lasting(self) -> Iterator[None]:
        """Keys drawn inside are fresh and kept by their drawer (a broad fixture)."""
        self._lasting += 1
        try:
            yield
        finally:
            self._lasting -= 1

    @property
    def is_lasting(self) -> bool:
        """Whether a draw now is fresh and kept for good (outside a test, or in a broad
        fixture's setup)."""
        return self._lasting > 0

    def rsa2048(self) -> rsa.RSAPrivateKey:
        """An RSA-2048 key no other live thing of this test holds."""
        if self._lasting:
            return _generate()
        if self._drawn == len(self._keys):
            self._keys.append(_generate())
        self._drawn += 1
        return self._keys[self._drawn - 1]


POOL = KeyPool()

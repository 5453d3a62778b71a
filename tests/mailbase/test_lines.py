"""has_line_longer against the plain definition: split every line and measure it."""

from __future__ import annotations

import itertools

import pytest

from mailbase.lines import has_line_longer


def _plainly(data: bytes, limit: int, end: bytes) -> bool:
    return max(map(len, data.split(end))) > limit


def _messages(limit: int, end: bytes) -> list[bytes]:
    """Lines of every length around the limit, at every offset against the blocks (a
    filler of each length before them), ended or not, with a bare LF or CR inside."""
    found = []
    for filler, length in itertools.product(range(0, limit + 3), (limit - 1, limit,
                                                                   limit + 1, limit + 2,
                                                                   2 * limit)):
        head = b"f" * filler + end if filler else b""
        line = b"x" * length
        found += [head + line, head + line + end, head + line + end + b"tail",
                  head + line[:length // 2] + b"\n" + line[length // 2:] + end,
                  head + line[:length // 2] + b"\r" + line[length // 2:] + end]
    return found


@pytest.mark.parametrize("end", [b"\n", b"\r\n"])
def test_it_says_what_splitting_every_line_says(end: bytes) -> None:
    limit = 9  # small, so every offset against a block of 5 is tried
    for data in _messages(limit, end):
        assert has_line_longer(data, limit, end=end) == _plainly(data, limit, end), data


@pytest.mark.parametrize("end", [b"\n", b"\r\n"])
def test_the_smtp_limit_at_the_edges_of_its_blocks(end: bytes) -> None:
    for filler in (0, 1, 498, 499, 500, 997, 998, 999):
        for length in (997, 998, 999, 1998):
            data = b"a" * filler + end + b"b" * length + end + b"c" * 40
            expected = length > 998 or filler > 998
            assert has_line_longer(data, 998, end=end) == expected, (filler, length)


def test_short_data_and_no_line_end() -> None:
    assert not has_line_longer(b"", 998)
    assert not has_line_longer(b"a" * 998, 998)
    assert has_line_longer(b"a" * 999, 998)
    assert has_line_longer(b"a" * 999, 998, end=b"\r\n")

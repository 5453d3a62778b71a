"""Large benchmark data written once and kept between runs.

Each data set has a place of its own under ``build/bench/`` (or ``$CONGVU_BENCH_DATA``),
named by its size, and a marker written last naming the recipe that made it: a run
finding the marker with its own recipe reuses the data; one finding none (a run cut
short) or another recipe's writes the data again from an empty place.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
MARKER = "COMPLETE.json"
#: What made a data set, as its marker records it and a later run compares it: a text,
#: or a dict of what the recipe sets (JSON values, the same after the marker's round trip).
Recipe = str | dict[str, Any]


def kept(name: str, recipe: Recipe) -> tuple[Path, dict[str, Any] | None]:
    """The place of the data set ``name`` and the facts its marker recorded when a run
    completed it with ``recipe``; else None, the place then emptied and made anew."""
    place = Path(os.environ.get("CONGVU_BENCH_DATA", ROOT / "build" / "bench")) / name
    marker = place / MARKER
    if marker.exists():
        facts: dict[str, Any] = json.loads(marker.read_text())
        if facts.get("recipe") == recipe:
            return place, facts
    shutil.rmtree(place, ignore_errors=True)
    place.mkdir(parents=True)
    return place, None


def complete(place: Path, recipe: Recipe, **facts: Any) -> dict[str, Any]:
    """Mark the data set at ``place`` complete (last, once everything is written) with
    its recipe and ``facts``; return what the marker holds."""
    written = {"recipe": recipe, **facts}
    (place / MARKER).write_text(json.dumps(written))
    return written

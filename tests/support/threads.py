"""Several threads doing one piece of work at once, as several writers or servers do."""

from __future__ import annotations

import threading
from collections.abc import Callable


def run_together(work: Callable[[int], None], count: int, *,
                 barrier: threading.Barrier | None = None) -> list[BaseException]:
    """Run ``work(0)`` to ``work(count - 1)``, each in a thread of its own, and wait for
    them all; return what they raised. One that fails breaks ``barrier`` (the one its
    fellows wait at, if any), so they stop too instead of waiting for it forever."""
    failures: list[BaseException] = []

    def run(n: int) -> None:
        try:
            work(n)
        except BaseException as exc:  # the caller's to report
            if barrier is not None:
                barrier.abort()
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures

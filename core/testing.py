"""Helpers for tests (no test of their own here)."""

import threading

from django.db import connections


def run_concurrently(function, count, *args_per_thread, timeout=60):
    """Run `function(index)` in `count` threads that start together; return the list of
    (result, exception) per thread. Each thread uses and then closes its own database
    connection, so row locks and transactions really compete."""
    barrier = threading.Barrier(count)
    outcomes = [None] * count

    def worker(index):
        try:
            barrier.wait(timeout=timeout)
            outcomes[index] = (function(index), None)
        except Exception as error:  # noqa: BLE001 - handed back to the test
            outcomes[index] = (None, error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return outcomes

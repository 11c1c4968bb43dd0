"""Running one test action in several threads at once (concurrent writers on PostgreSQL)."""
import threading

from django.db import connection


def run_in_threads(action, count: int) -> list:
    """Call ``action()`` in ``count`` threads released together (a barrier); each thread closes
    its own database connection. Returns their results; the first exception is raised."""
    barrier = threading.Barrier(count)
    results, errors = [], []

    def worker():
        try:
            barrier.wait()
            results.append(action())
        except BaseException as err:  # noqa: BLE001 - raised below, in the test's thread
            errors.append(err)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results

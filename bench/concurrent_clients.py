"""One client per thread, started together: the wall time of the slowest."""
from __future__ import annotations

import threading
import time
from typing import Callable


def timed_in_threads(work: Callable[[int], None], n: int) -> float:
    """Runs work(0) .. work(n-1) each on its own thread and returns the seconds until all are done."""
    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return time.perf_counter() - t

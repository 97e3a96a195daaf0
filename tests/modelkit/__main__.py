"""python -m modelkit [DIR]: generates every kit model (into DIR, or the cache) and lists them."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from . import MODELS, build_all, cache_dir


def main(argv: list[str]) -> int:
    directory = Path(argv[0]) if argv else cache_dir()
    start = time.perf_counter()
    paths = build_all(directory)
    for name, p in paths.items():
        print(f"{name:10} {Path(p).stat().st_size / 1e6:7.1f} MB  {p}  ({MODELS[name].what})")
    print(f"model kit ready in {time.perf_counter() - start:.1f} s: {directory}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The side-by-side test against llama-server's router: `make test-router-compat` (it builds llama-server
from the vendored tree first, a long compile that `make test` does not pay). Collected only there."""
from __future__ import annotations

import os

if os.environ.get("XLLAMACPP_ROUTER_COMPAT") != "1":
    collect_ignore_glob = ["test_*.py"]

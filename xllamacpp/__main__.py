"""``python -m xllamacpp``: the same command as the ``xllamacpp`` script (see _cli.py).

    python -m xllamacpp --model models/gemma-3-270m-q4_k_m.gguf --port 8080
    python -m xllamacpp rpc-server --port 50052
"""
from __future__ import annotations

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())

"""Serve a model over HTTP with llama-server's own flags, in-process:

    python -m xllamacpp --model models/gemma-3-270m-q4_k_m.gguf --port 8080
"""
from __future__ import annotations

import logging
import signal
import sys
import threading

from . import CommonParams, Server, set_log_level


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    set_log_level(logging.INFO if ("-v" in args or "--verbose" in args) else logging.WARNING)
    try:
        params = CommonParams.from_args(args)
        server = Server(params)
    except (ValueError, RuntimeError, FileNotFoundError) as e:
        print(f"xllamacpp: {e}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(f"xllamacpp: serving {params.model.path} on {server.listening_address} (Ctrl-C stops)", flush=True)
    stop.wait()
    server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

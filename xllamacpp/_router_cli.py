"""``xllamacpp serve --models-dir DIR`` (or ``--models-preset FILE``) with no model: the router over HTTP.

llama-server's router flags (``--models-dir``, ``--models-preset``, ``--models-max``,
``--[no-]models-autoload``) are parsed by llama.cpp's own parser with the
rest; every other flag goes to each model's child (llama-server's rule:
children inherit the router's command line). Three flags are this router's
own: ``--models-crash-limit N`` and ``--models-crash-window SECONDS`` (a model
that crashes N times within the window stays down until loaded explicitly),
and ``--models-stop-timeout SECONDS`` (llama-server's ``stop-timeout`` preset
key, for every model).
"""
from __future__ import annotations

import signal
import sys
import threading
from typing import TYPE_CHECKING, Any, Dict, List, Tuple

from ._supervised import CRASH_LIMIT, CRASH_WINDOW, STOP_TIMEOUT

if TYPE_CHECKING:
    from ._params import CommonParams

OWN_FLAGS = {"--models-crash-limit": int, "--models-crash-window": float, "--models-stop-timeout": float}
PROG = "xllamacpp"


def router_flags(args: List[str]) -> Tuple[List[str], Dict[str, Any]]:
    """(llama-server's flags, this router's own flags by name)."""
    from ._cli import UsageError

    rest: List[str] = []
    own: Dict[str, Any] = {}
    i = 0
    while i < len(args):
        flag, eq, value = args[i].partition("=")
        if flag in OWN_FLAGS:
            if not eq:
                if i + 1 >= len(args):
                    raise UsageError(f"{flag} needs a value")
                value = args[i + 1]
                i += 1
            try:
                own[flag] = OWN_FLAGS[flag](value)
            except ValueError:
                raise UsageError(f"{flag}: '{value}' is not a number") from None
            if own[flag] < (1 if flag == "--models-crash-limit" else 0):
                raise UsageError(f"{flag} must be {'at least 1' if flag == '--models-crash-limit' else '>= 0'}")
        else:
            rest.append(args[i])
        i += 1
    return rest, own


def is_router(params: Any) -> bool:
    return not params.model.path and bool(params.models_dir or params.models_preset)


def child_args(args: List[str]) -> List[str]:
    """The router's flags that its children inherit: all but the router's own and those it sets for them."""
    from ._params import _SCHEMA
    from ._preset import RESERVED_ENV

    by_flag: Dict[str, Dict[str, Any]] = {}
    for opt in _SCHEMA["options"]:
        for flag in opt["args"] + opt["args_neg"]:
            by_flag[flag] = opt
    out: List[str] = []
    i = 0
    while i < len(args):
        flag, eq, _ = args[i].partition("=")
        opt = by_flag.get(flag)
        takes_value = bool(opt and opt["value_hint"]) and not eq
        if opt is not None and (opt["env"] in RESERVED_ENV or opt["env"] == "LLAMA_API_KEY"):
            i += 2 if takes_value else 1
            continue
        out.append(args[i])
        if takes_value and i + 1 < len(args):
            out.append(args[i + 1])
            i += 1
        i += 1
    return out


def serve_router(params: "CommonParams", args: List[str], own: Dict[str, Any]) -> int:
    from ._errors import XlcError
    from ._router import Router
    from ._router_http import RouterHTTPServer

    stop = threading.Event()

    def on_signal(*_: Any) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    try:
        router = Router(models_dir=params.models_dir or None, models_preset=params.models_preset or None,
                        models_max=params.models_max, autoload=params.models_autoload, args=child_args(args),
                        stop_timeout=own.get("--models-stop-timeout", STOP_TIMEOUT),
                        crash_limit=own.get("--models-crash-limit", CRASH_LIMIT),
                        crash_window=own.get("--models-crash-window", CRASH_WINDOW))
    except (XlcError, ValueError, TypeError, OSError) as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    hosts = params.hostnames or ["127.0.0.1"]
    host = hosts[0] if isinstance(hosts, (list, tuple)) else str(hosts)
    try:
        http = RouterHTTPServer(router, host, params.port, tuple(params.api_keys or ()))
    except OSError as e:
        router.close()
        print(f"{PROG}: error: cannot listen on {host}:{params.port}: {e}", file=sys.stderr)
        return 1
    thread = threading.Thread(target=http.serve_forever, name="xllamacpp-router-http", daemon=True)
    thread.start()
    print(f"{PROG}: routing {len(router.names())} models ({', '.join(router.names()) or 'none'}) "
          f"on {http.address} (Ctrl-C stops)", flush=True)
    while not stop.wait(0.5):
        pass
    print(f"{PROG}: stopping", flush=True)
    http.stop()
    print(f"{PROG}: stopped", flush=True)
    return 0

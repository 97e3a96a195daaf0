"""The ``xllamacpp`` command (also ``python -m xllamacpp``).

    xllamacpp [serve] [llama-server flags]   serve a model over HTTP, in-process
    xllamacpp rpc-server [options]           serve this machine's devices to RPC clients
    xllamacpp info                           backend, library, system and devices
    xllamacpp estimate MODEL [options]       how many layers fit on the GPUs
    xllamacpp --version | --help

The flags of ``serve`` and their help come from llama.cpp's own argument table
through the facade (``xlc_params_schema``); nothing here lists them.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import sys
import textwrap
import threading
from typing import TYPE_CHECKING, Any, Callable, List, Optional, cast

if TYPE_CHECKING:
    from ._params import CommonParams

PROG = "xllamacpp"
COMMANDS = ("serve", "rpc-server", "info", "estimate")
_TRUTHY = {"1", "true", "on", "enabled", "yes"}
_FALSY = {"0", "false", "off", "disabled", "no"}


class UsageError(Exception):
    """A bad command line: one line on stderr, exit code 2."""


def _usage_error(message: str, command: str = "") -> int:
    where = f"{PROG} {command}".strip()
    print(f"{where}: error: {message} (see `{where} --help`)", file=sys.stderr)
    return 2


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


# --- version -------------------------------------------------------------------


def version_text() -> str:
    import xllamacpp as xlc

    try:
        from importlib.metadata import version

        ours = version("xllamacpp")
    except Exception:  # not installed as a distribution (a plain checkout on sys.path)
        ours = "unknown"
    info = xlc.get_build_info()
    # built from an sdist, llama.cpp knows its commit (from the changelog) but not its build number
    build = f"build {info.get('build_number')} " if info.get("build_number") else ""
    return (f"{PROG} {ours}\nllama.cpp {build}({info.get('commit')}), "
            f"{info.get('compiler')}, {info.get('target')}\nbackend {xlc.BACKEND}, library {xlc.library_path}")


# --- serve ---------------------------------------------------------------------


def _options() -> list[dict[str, Any]]:
    from ._params import _SCHEMA

    options: list[dict[str, Any]] = _SCHEMA["options"]
    return options


# handled by this command itself rather than by llama.cpp's parser, or (the model cache of
# llama.cpp's downloader) not available in-process
_OWN = {"-h", "--help", "--usage", "--version", "--completion-bash", "--list-devices", "-cl", "--cache-list"}


def serve_help() -> str:
    """Every llama-server flag with its help and default, from llama.cpp's argument table."""
    return "\n".join([
        f"usage: {PROG} [serve] [FLAGS]",
        "",
        "Serves a model over llama-server's HTTP API, inside this process; the flags are llama-server's.",
        *_flag_lines(),
    ])


def _flag_lines() -> list[str]:
    from ._params import ENUMS, FIELDS

    by_flag = {f["flag"]: f for f in FIELDS.values() if f["flag"]}
    lines = [
        "Flags may also come from the LLAMA_ARG_* environment variables named below; a flag given wins.",
        "",
        "  -h, --help      show this help and exit",
        "  --version       show the versions of xllamacpp and llama.cpp and exit",
        "  --list-devices  list the devices (with --rpc, the RPC servers' too) and exit",
        "",
    ]
    for opt in _options():
        names = opt["args"] + opt["args_neg"]
        if set(names) & _OWN:
            continue
        head = ", ".join(opt["args"])
        if opt["args_neg"]:
            head += ", " + ", ".join(opt["args_neg"])
        if opt["value_hint"]:
            head += " " + opt["value_hint"]
        help_text = opt["help"].rstrip()
        if "default" not in help_text.lower():
            field = next((by_flag[a] for a in names if a in by_flag), None)
            if field is not None and field["default"] not in ("", [], None):
                default = field["default"]
                if field["type"].startswith("enum:"):
                    members = {v: k for k, v in ENUMS[field["type"][5:]].__members__.items()}
                    default = members.get(default, default)
                help_text += f"\n(default: {default})"
        lines.append("  " + head)
        for paragraph in help_text.splitlines():
            wrapped = textwrap.wrap(paragraph, width=100, initial_indent=" " * 8, subsequent_indent=" " * 8)
            lines.extend(wrapped or [""])
    return lines


def _env_args(args: list[str]) -> list[str]:
    """LLAMA_ARG_* variables as flags, placed before the command line's so that those win."""
    given = set(args)
    out: list[str] = []
    for opt in _options():
        env = opt["env"]
        if not env or env not in os.environ or given & set(opt["args"] + opt["args_neg"]):
            continue
        value = os.environ[env]
        if opt["value_hint"]:
            out += [opt["args"][-1], value]
        elif value.lower() in _TRUTHY:
            out.append(opt["args"][-1])
        elif value.lower() in _FALSY and opt["args_neg"]:
            out.append(opt["args_neg"][-1])
        elif value.lower() not in _FALSY:
            raise UsageError(f"{env}={value!r}: expected one of {', '.join(sorted(_TRUTHY | _FALSY))}")
    return out


def serve(args: list[str]) -> int:
    import xllamacpp as xlc

    if set(args) & {"-h", "--help", "--usage"}:
        print(serve_help())
        return 0
    if "--version" in args:
        print(version_text())
        return 0
    if "--list-devices" in args:
        rpc = args[args.index("--rpc") + 1] if "--rpc" in args[:-1] else None
        _run_parsed("serve", _info_parser(), [] if rpc is None else ["--rpc", rpc], _list_devices)
        return 0
    supervised = os.environ.get("XLLAMACPP_SUPERVISED") == "1"  # a model's child process (_child.py)
    if supervised:
        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(message)s")
        xlc.set_log_level(int(os.environ.get("XLLAMACPP_LOG_LEVEL", logging.INFO)))
    else:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
        xlc.set_log_level(logging.INFO if ("-v" in args or "--verbose" in args) else logging.WARNING)
    from ._router_cli import is_router, router_flags, serve_router

    try:
        args, own = router_flags(args)
        params = _parse_serve_args(_env_args(args) + args)
    except UsageError as e:
        return _usage_error(str(e), "serve")
    except (ValueError, TypeError) as e:
        return _usage_error(_one_line(str(e)), "serve")
    if is_router(params):
        return serve_router(params, args, own)
    if not params.model.path:
        return _usage_error("no model: give one with -m FILE (or a directory of models with --models-dir DIR)",
                            "serve")
    # handled from before the model loads: a Ctrl-C during the load stops the server once it is up
    stop = threading.Event()
    _stop_on_signals(stop)
    try:
        server = xlc.Server(params, isolated=False)
    except (ValueError, RuntimeError, OSError) as e:
        if supervised:  # the error, for the supervisor to raise as it is
            _tell_supervisor(READY_ERROR + json.dumps({"class": type(e).__name__, "message": str(e)}))
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    if supervised:
        _tell_supervisor(READY + server.listening_address)
        _stop_at_eof(stop)
    elif not stop.is_set():
        where = server.listening_address or "in-process only (no HTTP port)"
        print(f"{PROG}: serving {params.model.path} on {where} (Ctrl-C stops)", flush=True)
    while not stop.wait(0.5):
        pass
    print(f"{PROG}: stopping", flush=True)
    server.close()
    print(f"{PROG}: stopped", flush=True)
    return 0


READY = "XLLAMACPP_READY "  # the lines a supervised child prints (_child.py reads them)


def _tell_supervisor(line: str) -> None:
    # one write: llama.cpp writes to the same pipe, and print() unbuffered (PYTHONUNBUFFERED) writes the line
    # and its end apart, so a log line could land between them and run into the address
    sys.stdout.write("\n" + line + "\n")
    sys.stdout.flush()
READY_ERROR = "XLLAMACPP_ERROR "


def _parse_serve_args(args: List[str]) -> "CommonParams":
    """llama-server's flags, applied onto the parameters a supervisor passed (XLLAMACPP_PARAMS), if any."""
    import xllamacpp as xlc

    base = os.environ.get("XLLAMACPP_PARAMS")
    parsed = xlc.CommonParams.from_args(args)
    if not base or os.environ.get("XLLAMACPP_SUPERVISED") != "1":
        return parsed
    # the supervisor's CommonParams as they are (as an in-process Server takes them), then what the flags
    # set; llama.cpp's parser starts from llama-server's own defaults (n_parallel auto, ...), which are not flags
    plain = xlc.CommonParams.from_args([])._json()
    by_flags = {k: v for k, v in parsed._json().items() if plain.get(k, parsed) != v}
    # the generated stub leaves the private _from_full out (scripts/gen_stubs.py)
    return cast("CommonParams", xlc.CommonParams._from_full({**json.loads(base), **by_flags}))  # type: ignore[attr-defined]  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType]


def _stop_at_eof(stop: threading.Event) -> None:
    """A supervised child stops when its stdin ends: its supervisor is gone, however it went."""

    def watch() -> None:
        try:  # the descriptor, not sys.stdin: a daemon thread in a buffered read breaks interpreter exit
            while os.read(0, 4096):
                pass
        except OSError:
            pass
        stop.set()
        # a close that hangs must not leave an orphan behind
        timer = threading.Timer(30.0, os._exit, (1,))
        timer.daemon = True
        timer.start()

    threading.Thread(target=watch, name="xllamacpp-supervisor-watch", daemon=True).start()


# --- argparse with one-line errors ------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def _stop_on_signals(stop: threading.Event) -> None:
    """Ctrl-C and SIGTERM set ``stop``."""
    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)


def _run_parsed(command: str, parser: argparse.ArgumentParser, args: list[str],
                fn: Callable[[argparse.Namespace], int]) -> int:
    try:
        parsed = parser.parse_args(args)
    except UsageError as e:
        return _usage_error(str(e), command)
    try:
        return fn(parsed)
    except UsageError as e:
        return _usage_error(str(e), command)


# --- rpc-server ----------------------------------------------------------------


def _rpc_parser() -> argparse.ArgumentParser:
    from ._rpc import DEFAULT_HOST, DEFAULT_PORT

    p = _Parser(prog=f"{PROG} rpc-server",
                description="Serves this machine's devices to llama.cpp clients (--rpc HOST:PORT) with ggml's RPC "
                            "protocol. It has no authentication: keep the default host unless the network is trusted.")
    p.add_argument("-H", "--host", default=DEFAULT_HOST, help=f"IPv4 address to listen on (default: {DEFAULT_HOST})")
    p.add_argument("-p", "--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default: {DEFAULT_PORT})")
    p.add_argument("-d", "--device", help="comma-separated devices to serve (default: the GPUs, else the CPU); "
                                          f"`{PROG} info` lists them")
    p.add_argument("-t", "--threads", type=int, help="CPU threads (default: half the cores)")
    cache = p.add_mutually_exclusive_group()
    cache.add_argument("-c", "--cache", action="store_true",
                       help="keep large tensors clients send in the local cache directory (llama.cpp's: "
                            "$LLAMA_CACHE, else $XDG_CACHE_HOME or ~/.cache, then llama.cpp/rpc)")
    cache.add_argument("--cache-dir", help="keep large tensors clients send in this directory")
    return p


def _default_cache_dir() -> str:
    if os.environ.get("LLAMA_CACHE"):
        return os.environ["LLAMA_CACHE"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "llama.cpp", "rpc")


def rpc_server(parsed: argparse.Namespace) -> int:
    from ._library import check, ffi, lib
    from ._rpc import bind_warning

    host = "127.0.0.1" if parsed.host == "localhost" else parsed.host
    if not 1 <= parsed.port <= 65535:
        raise UsageError(f"--port must be from 1 to 65535, not {parsed.port}")
    if parsed.threads is not None and parsed.threads < 1:
        raise UsageError(f"--threads must be at least 1, not {parsed.threads}")
    parent = os.environ.get("XLLAMACPP_RPC_PARENT")  # set by xlc.RpcServer
    warning = bind_warning(host)
    if warning and not parent:
        print(f"{PROG} rpc-server: WARNING: {warning}", file=sys.stderr, flush=True)
    cache_dir = parsed.cache_dir or (_default_cache_dir() if parsed.cache else None)

    result: dict[str, Any] = {}

    def run() -> None:
        status = lib.xlc_rpc_serve(host.encode(), parsed.port, (parsed.device or "").encode(),
                                   parsed.threads or 0, cache_dir.encode() if cache_dir else ffi.NULL)
        try:
            check(status)
        except Exception as e:  # the server only returns when it fails
            result["error"] = e
        finally:
            done.set()

    done = threading.Event()
    stop = threading.Event()
    _stop_on_signals(stop)
    threading.Thread(target=run, name="xllamacpp-rpc-server", daemon=True).start()
    while not (stop.wait(0.25) or done.is_set()):
        if parent and str(os.getppid()) != parent:
            stop.set()  # the RpcServer's process is gone (killed, aborted): no one will close this one
    if "error" in result:
        print(f"{PROG} rpc-server: error: {_one_line(result['error'])}", file=sys.stderr, flush=True)
        return 2 if isinstance(result["error"], ValueError) else 1
    print(f"{PROG} rpc-server: stopped", flush=True)
    sys.stdout.flush()
    # ggml's server thread has no stop call; end the process without waiting for it
    os._exit(0)


# --- info ----------------------------------------------------------------------


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _why_this_library() -> str:
    from . import _library

    choice = _library.choice  # the loader's own record
    if choice.reason:
        others = "; ".join(f"not {r.backend}: {r.reason}" for r in choice.rejected)
        return choice.reason + (f" ({others})" if others else "")
    if os.environ.get("XLLAMACPP_LIB"):
        return "XLLAMACPP_LIB names it"
    if os.environ.get("XLLAMACPP_BACKEND"):
        return f"XLLAMACPP_BACKEND={os.environ['XLLAMACPP_BACKEND']}"
    found = sorted({c.backend for c in _library._candidates([]) if c.path.is_file()},
                   key=lambda b: _library.BACKENDS.index(b) if b in _library.BACKENDS else 99)
    order = ", ".join(_library.BACKENDS)
    return f"the first library that loads, in the order {order}; installed: {', '.join(found) or 'none'}"


def _device_type(value: int) -> str:
    import xllamacpp as xlc

    try:
        return xlc.ggml_backend_dev_type(value).name.replace("GGML_BACKEND_DEVICE_TYPE_", "").lower()
    except ValueError:
        return str(value)


def _rpc_attach(servers: Optional[str]) -> None:
    """Names RPC servers in this process, so that their devices are listed."""
    if servers:
        import xllamacpp as xlc

        try:
            xlc.CommonParams().rpc_servers = servers
        except ValueError as e:
            raise UsageError(_one_line(str(e).replace("parameter 'rpc_servers': ", ""))) from None


def info(parsed: argparse.Namespace) -> int:
    import xllamacpp as xlc

    _rpc_attach(parsed.rpc)
    report: dict[str, Any] = {
        "version": version_text().splitlines()[0].split(" ", 1)[1],
        "llama_cpp": xlc.get_build_info(),
        "backend": xlc.BACKEND,
        "why": _why_this_library(),
        "library": str(xlc.library_path),
        "system": xlc.get_system_info().strip(),
        "devices": xlc.get_device_info(),
    }
    if parsed.json:
        print(json.dumps(report, indent=2))
        return 0
    build = report["llama_cpp"]
    print(f"{PROG} {report['version']}, llama.cpp build {build.get('build_number')} ({build.get('commit')})")
    print(f"backend  {report['backend']}: {report['why']}")
    print(f"library  {report['library']}")
    print(f"system   {report['system']}")
    print("devices")
    _print_devices(report["devices"])
    return 0


def _list_devices(parsed: argparse.Namespace) -> int:
    import xllamacpp as xlc

    _rpc_attach(parsed.rpc)
    _print_devices(xlc.get_device_info())
    return 0


def _print_devices(devices: list[dict[str, Any]]) -> None:
    rows = [("name", "type", "free", "total", "description")]
    for d in devices:
        free, total = _size(d["memory_free"]), _size(d["memory_total"])
        if d.get("reachable") is False:
            free, total = "unreachable", "-"
        rows.append((d["name"], _device_type(d["type"]), free, total, d["description"]))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  " + "  ".join(c.ljust(w) for c, w in zip(r[:4], widths)) + "  " + r[4])


def _info_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=f"{PROG} info", description="Shows the backend in use and why, the library, the system and the devices.")
    p.add_argument("--rpc", metavar="SERVERS", help="also list the devices of these RPC servers (HOST:PORT,...)")
    p.add_argument("--json", action="store_true", help="print JSON")
    return p


# --- estimate ------------------------------------------------------------------

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*$", re.I)


def parse_size(text: str) -> int:
    """Bytes from "8GiB", "8G", "512M", "1.5g" or a plain number of bytes (binary units)."""
    m = _SIZE.match(text)
    if not m:
        raise UsageError(f"'{text}' is not a size (examples: 8GiB, 512M, 1073741824)")
    scale = 1024 ** " kmgt".index((m.group(2) or " ").lower())
    return int(float(m.group(1)) * scale)


def _estimate_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=f"{PROG} estimate",
                description="Plans how many layers of a GGUF model fit in the GPUs' memory (estimate_gpu_layers).")
    p.add_argument("model", help="the GGUF file")
    p.add_argument("--gpu-mem", metavar="SIZES",
                   help="free memory of each GPU, comma-separated (8GiB,8GiB); default: the devices this library sees")
    p.add_argument("--rpc", metavar="SERVERS", help="plan for the devices of these RPC servers (HOST:PORT,...)")
    p.add_argument("--ctx", type=int, default=4096, help="context length per sequence (default: 4096)")
    p.add_argument("--batch", type=int, default=512, help="batch size (default: 512)")
    p.add_argument("--parallel", type=int, default=1, help="parallel sequences (default: 1)")
    p.add_argument("--kv-type", default="f16", choices=("f16", "q8_0", "q4_0"), help="KV cache type (default: f16)")
    p.add_argument("--mmproj", action="append", default=[], metavar="FILE", help="a multimodal projector (repeatable)")
    p.add_argument("--json", action="store_true", help="print JSON")
    return p


def estimate(parsed: argparse.Namespace) -> int:
    import dataclasses

    import xllamacpp as xlc
    from .memory import block_count

    for name in ("ctx", "batch", "parallel"):
        if getattr(parsed, name) < 1:
            raise UsageError(f"--{name} must be at least 1")
    if parsed.gpu_mem:
        gpus: list[dict[str, Any]] = [{"name": f"GPU{i}", "memory_free": parse_size(s), "memory_min": 0}
                for i, s in enumerate(parsed.gpu_mem.split(",")) if s.strip()]
    else:
        _rpc_attach(parsed.rpc)
        kinds = (xlc.ggml_backend_dev_type.GGML_BACKEND_DEVICE_TYPE_GPU, xlc.ggml_backend_dev_type.GGML_BACKEND_DEVICE_TYPE_IGPU)
        gpus = [d for d in xlc.get_device_info() if d["type"] in kinds and d.get("reachable", True)]
    try:
        n_layer = block_count(parsed.model)
        plan = xlc.estimate_gpu_layers(gpus, parsed.model, parsed.mmproj, parsed.ctx, parsed.batch,
                                       parsed.parallel, parsed.kv_type)
    except (OSError, ValueError) as e:
        print(f"{PROG} estimate: error: {_one_line(str(e))}", file=sys.stderr)
        return 1
    if parsed.json:
        print(json.dumps({"model": parsed.model, "n_layer": n_layer, "gpus": gpus, **dataclasses.asdict(plan)}, indent=2))
        return 0
    print(f"model    {parsed.model} ({n_layer} layers and the output layer)")
    print(f"context  {parsed.ctx} x {parsed.parallel} sequence(s), batch {parsed.batch}, KV cache {parsed.kv_type}")
    if not gpus:
        print(f"no GPU: everything runs on the CPU, about {_size(plan.total_size)}")
        return 0
    rows: list[tuple[str, str, str, str]] = [("device", "free", "layers", "memory")]
    for i, gpu in enumerate(gpus):
        layers = round(plan.tensor_split[i] * plan.layers) if i < len(plan.tensor_split) else 0  # a share
        used = plan.gpu_sizes[i] if i < len(plan.gpu_sizes) else 0
        rows.append((str(gpu.get("name", f"GPU{i}")), _size(float(gpu["memory_free"])), str(layers), _size(used)))
    rows.append(("total", "", f"{plan.layers}/{n_layer + 1}", _size(plan.vram_size)))  # the output layer counts
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
    print(f"whole model on one device: {_size(plan.total_size)}, of which compute buffer {_size(plan.graph)}")
    return 0


# --- entry point ---------------------------------------------------------------


def top_help() -> str:
    return "\n".join([
        f"usage: {PROG} [serve] [FLAGS]          serve a model over HTTP, in-process (llama-server's flags)",
        f"       {PROG} rpc-server [OPTIONS]     serve this machine's devices to llama.cpp RPC clients",
        f"       {PROG} info [--rpc SERVERS]     backend, library, system and devices",
        f"       {PROG} estimate MODEL [...]     how many layers fit on the GPUs",
        f"       {PROG} --version | --help",
        "",
        f"`{PROG} COMMAND --help` describes a command. The flags of serve:",
        *_flag_lines(),
    ])


def main(argv: Optional[list[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if not args:
            return _usage_error("no model: give one with -m FILE")
        if args[0] in ("-h", "--help", "--usage"):
            print(top_help())
            return 0
        if args[0] == "--version":
            print(version_text())
            return 0
        command, rest = (args[0], args[1:]) if args[0] in COMMANDS else ("serve", args)
        if command == "serve":
            return serve(rest)
        if command == "rpc-server":
            return _run_parsed(command, _rpc_parser(), rest, rpc_server)
        if command == "info":
            return _run_parsed(command, _info_parser(), rest, info)
        return _run_parsed(command, _estimate_parser(), rest, estimate)
    except BrokenPipeError:  # `xllamacpp --help | head`
        return 0

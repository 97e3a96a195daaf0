"""Router: several models behind Server's methods, each in a supervised child process, routed by "model".

    router = xlc.Router(models_dir="models/", models_max=2)
    router.handle_chat_completions({"model": "gemma-3-270m-q4_k_m", "messages": [...]})
    router.models()          # what GET /models shows
    router.load("gemma-3-270m-q4_k_m"); router.unload("gemma-3-270m-q4_k_m")

The models come from a directory (llama-server's ``--models-dir`` rules), a
preset file (``--models-preset``), and/or a dict of name -> CommonParams or
GGUF path. This process never loads a model: each runs in ``python -m
xllamacpp serve`` (see _supervised.py). ``xllamacpp serve --models-dir DIR``
serves the same object over llama-server's router API (_router_http.py).
"""
from __future__ import annotations

import atexit
import logging
import os
import queue
import sys
import weakref
import threading
import time
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Mapping, Optional, Union, cast
from urllib.parse import parse_qs

from . import _json, _preset
from ._errors import InvalidArgumentError, InvalidTypeError, RequestError
from ._remote import Exchange, Refused, RemoteMethods, unavailable
from ._supervised import CRASH_LIMIT, CRASH_WINDOW, STOP_TIMEOUT, SupervisedModel

if TYPE_CHECKING:
    from ._params import CommonParams

MAKE_ROOM_WAIT = 600.0  # how long a request waits for a models_max slot held by busy models
_DRAFT_PREFIXES = ("mtp-", "dspark-", "dflash-")  # llama.cpp's draft sidecar files (common/preset.cpp)


def scan_models_dir(models_dir: str) -> Dict[str, Dict[str, str]]:
    """name -> {path, mmproj, draft} as llama-server finds them: ``NAME.gguf`` files, and subdirectories
    holding one model (its first shard), an ``mmproj`` file and a draft sidecar."""
    if not os.path.isdir(models_dir):
        raise InvalidArgumentError(f"--models-dir: '{models_dir}' does not exist or is not a directory")
    found: Dict[str, Dict[str, str]] = {}
    for entry in sorted(os.scandir(models_dir), key=lambda e: e.name):
        if entry.is_dir():
            model = first_shard = mmproj = draft = ""
            for f in sorted(os.scandir(entry.path), key=lambda e: e.name):
                if not f.name.endswith(".gguf") or not f.is_file():
                    continue
                if "mmproj" in f.name:
                    mmproj = f.path
                elif f.name.startswith(_DRAFT_PREFIXES):
                    draft = draft or f.path
                elif "-00001-of-" in f.name:
                    first_shard = f.path
                else:
                    model = f.path
            if first_shard or model:
                found[entry.name] = {"path": first_shard or model, "mmproj": mmproj, "draft": draft}
        elif entry.name.endswith(".gguf") and "mmproj" not in entry.name and not entry.name.startswith(_DRAFT_PREFIXES):
            found[entry.name.replace(".gguf", "")] = {"path": entry.path, "mmproj": "", "draft": ""}
    return found


_LIVE: "weakref.WeakSet[Router]" = weakref.WeakSet()  # closed at interpreter exit: no child outlives it


@atexit.register
def _close_all() -> None:
    for router in list(_LIVE):
        router.close()


class _Entry:
    """A model the router knows: its supervision, and what GET /models says of where it came from."""

    def __init__(self, model: SupervisedModel, source: str, preset_ini: str = ""):
        self.model = model
        self.source = source
        self.preset_ini = preset_ini
        self.load_on_startup = False


class Router(RemoteMethods):
    """Models in supervised child processes, behind Server's request methods, routed by the request's "model".

    ``args``: llama-server flags for every model (the router's own command line); a preset's
    ``[*]`` section, then a model's own section, then ``args`` (highest) make a model's flags.
    ``models_max``: models running at once (default llama-server's, 4; 0 or less: no limit); the least recently used idle one
    is stopped to make room. ``autoload``: a request for a stopped model starts it.
    """

    def __init__(self, models: Optional[Mapping[str, Union["CommonParams", str]]] = None, *,
                 models_dir: Optional[str] = None, models_preset: Optional[str] = None,
                 models_max: Optional[int] = None, autoload: bool = True, args: Iterable[str] = (),
                 stop_timeout: float = STOP_TIMEOUT, crash_limit: int = CRASH_LIMIT,
                 crash_window: float = CRASH_WINDOW):
        if models_max is None:  # llama-server's --models-max default
            from ._params import FIELDS

            models_max = int(FIELDS["models_max"]["default"])
        if isinstance(models_max, bool) or not isinstance(models_max, int):
            raise InvalidTypeError(f"models_max must be an int, not {models_max!r}")
        if crash_limit < 1 or crash_window <= 0 or stop_timeout < 0:
            raise InvalidArgumentError("crash_limit must be at least 1, crash_window and stop_timeout positive")
        self.models_max = models_max
        self.autoload = bool(autoload)
        self._args = [str(a) for a in args]
        self._stop_timeout = stop_timeout
        self._crash = (crash_limit, crash_window)
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)
        self._closed = False
        self._subscribers: List[queue.Queue[Optional[Dict[str, Any]]]] = []
        self._entries: Dict[str, _Entry] = {}
        self._add_models(models or {}, models_dir, models_preset)
        _LIVE.add(self)
        for entry in self._entries.values():
            if entry.load_on_startup:
                threading.Thread(target=self._start_quietly, args=(entry,), daemon=True,
                                 name=f"xllamacpp-startup-{entry.model.name}").start()

    # --- the model list ------------------------------------------------------------

    def _add_models(self, models: Mapping[str, Union["CommonParams", str]], models_dir: Optional[str], models_preset: Optional[str]) -> None:
        specs: Dict[str, Dict[str, Any]] = {}
        if models_dir:
            for name, found in scan_models_dir(models_dir).items():
                specs[name] = {"source": "models_dir", **found}
        sections = _preset.read(models_preset) if models_preset else {}
        global_section = sections.pop(_preset.GLOBAL, None)
        for name, section in sections.items():
            spec = specs.setdefault(name, {"source": "preset", "path": "", "mmproj": "", "draft": ""})
            spec["source"] = "preset"
            spec["section"] = section
            if not spec["path"] and section.get("LLAMA_ARG_MODEL") is None and section.get("LLAMA_ARG_HF_REPO") is None:
                raise InvalidArgumentError(f"{models_preset}:{section.line}: preset '{name}' names no model "
                                           "(add `model = /path/to/file.gguf`)")
        for name, value in models.items():
            if not isinstance(name, str) or not name:
                raise InvalidTypeError(f"a model's name is a non-empty str, not {name!r}")
            specs[name] = {"source": "python", "value": value}
        for name, spec in specs.items():
            self._entries[name] = self._entry(name, spec, global_section)

    def _entry(self, name: str, spec: Dict[str, Any], global_section: Optional[_preset.Section]) -> _Entry:
        from ._params import CommonParams

        limit, window = self._crash
        params_json: Optional[Dict[str, Any]] = None
        python_path = python_rpc = ""
        head: List[str] = []
        if spec["source"] == "python":
            value = spec["value"]
            if isinstance(value, (str, os.PathLike)):
                head = ["--model", os.fspath(value)]
            elif isinstance(value, CommonParams):
                if not value.model.path:
                    raise InvalidArgumentError(f"model '{name}': no model: set params.model.path")
                params_json = dict(value._json())
                params_json.pop("port", None)
                params_json.pop("hostnames", None)
                python_path, python_rpc = value.model.path, value.rpc_servers or ""
            else:
                raise InvalidTypeError(f"model '{name}': a CommonParams or a GGUF path, not {type(value).__name__}")
        else:
            if spec["path"]:
                head = ["--model", spec["path"]]
            if spec["mmproj"]:
                head += ["--mmproj", spec["mmproj"]]
            if spec["draft"]:
                head += ["--model-draft", spec["draft"]]
        options: List[_preset.Option] = []
        section: Optional[_preset.Section] = spec.get("section")
        if global_section is not None:
            options += list(global_section.options.values())
        if section is not None:
            options += list(section.options.values())
        stop_timeout = float(self._stop_timeout)
        load_on_startup = False
        for option in options:  # the model's own section comes last and wins
            if option.env == _preset.PRESET_ONLY["stop-timeout"]:
                stop_timeout = float(option.value)
            elif option.env == _preset.PRESET_ONLY["load-on-startup"]:
                load_on_startup = _preset.truthy(option.value)
        if python_rpc:  # the child's process attaches the RPC servers' devices itself
            head = ["--rpc", python_rpc]
        args = head + _preset.to_args(options) + self._args + ["--alias", name]
        path = spec.get("path", "") or (section.get("LLAMA_ARG_MODEL") if section is not None else "") or ""
        rpc = ""
        if params_json is not None:
            path, rpc = python_path, python_rpc
        elif head and head[0] == "--model":
            path = head[1]
        for i, arg in enumerate(args[:-1]):  # the RPC servers a flag names, probed before each start
            if arg == "--rpc":
                rpc = args[i + 1]
        model = SupervisedModel(name, args, path=path, params_json=params_json, stop_timeout=stop_timeout,
                                crash_limit=limit, crash_window=window, on_change=self._changed, rpc_servers=rpc)
        entry = _Entry(model, "preset" if spec["source"] == "preset" else spec["source"],
                       _ini(name, section) if section is not None else "")
        entry.load_on_startup = load_on_startup
        return entry

    def names(self) -> List[str]:
        return list(self._entries)

    def models(self) -> List[Dict[str, Any]]:
        """Every model, as GET /models lists them: id, path, status {value, failed, exit_code, ...}, source."""
        created = int(time.time())
        out: List[Dict[str, Any]] = []
        for name, entry in self._entries.items():
            status = entry.model.status_json()
            if entry.preset_ini:
                status["preset"] = entry.preset_ini
            out.append({"id": name, "aliases": [], "tags": [], "object": "model", "owned_by": "llamacpp",
                        "created": created, "path": entry.model.path, "status": status,
                        "architecture": {"input_modalities": ["text"], "output_modalities": ["text"]},
                        "source": entry.source, "can_remove": False})
        return out

    # --- load and unload ---------------------------------------------------------------

    def _get(self, name: Any, status: int = 400, message: str = "model is not found") -> _Entry:
        entry = self._entries.get(name) if isinstance(name, str) else None
        if entry is None:
            raise Refused(status, message, "not_found_error" if status == 404 else "invalid_request_error")
        return entry

    def load(self, name: str) -> None:
        """Starts the model's child and waits until it is ready (also past its crash limit).

        BadRequestError: unknown (404) or already running (400); the start's error if it fails."""
        self._check_open()
        try:
            entry = self._get(name, 404)
            if entry.model.running:
                raise Refused(400, "model is already running")
        except Refused as e:
            raise RequestError.from_response(e.body, e.status) from None
        entry.model.ensure(explicit=True, before_start=lambda: self._make_room(entry))

    def unload(self, name: str) -> None:
        """Stops the model's child: SIGTERM, SIGKILL after its stop timeout. BadRequestError if not running."""
        try:
            entry = self._get(name)
            if not entry.model.running:
                raise Refused(400, "model is not running")
        except Refused as e:
            raise RequestError.from_response(e.body, e.status) from None
        entry.model.unload()

    def close(self) -> None:
        """Stops every child at once (each SIGTERM, then SIGKILL after its stop timeout) and waits for them."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._room.notify_all()
        threads = [threading.Thread(target=e.model.unload, daemon=True) for e in self._entries.values()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for q in list(self._subscribers):
            q.put(None)

    def __enter__(self) -> "Router":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True) and not sys.is_finalizing():
            self.close()

    def _start_quietly(self, entry: _Entry) -> None:
        try:
            entry.model.ensure(explicit=True, before_start=lambda: self._make_room(entry))
        except Exception as e:  # noqa: BLE001 - /models shows it failed
            logging.getLogger(f"xllamacpp.model.{entry.model.name}").error("load-on-startup failed: %s", e)

    def _make_room(self, entry: _Entry) -> None:
        """With models_max models running, stops the least recently used idle one (waits while all are busy)."""
        if self.models_max <= 0:
            return
        deadline = time.monotonic() + MAKE_ROOM_WAIT
        while True:
            with self._lock:
                if self._closed:
                    raise unavailable(RuntimeError("the router is closing"))
                others = [e.model for e in self._entries.values() if e is not entry and e.model.running]
                if len(others) < self.models_max:
                    return
                idle = [m for m in others if m.in_flight == 0 and m.status != "loading"]
                victim = min(idle, key=lambda m: m.last_used) if idle else None
                if victim is None:
                    if time.monotonic() > deadline:
                        raise unavailable(RuntimeError("model limit reached, try again later"))
                    self._room.wait(0.2)
                    continue
            victim.unload()

    # --- routing -----------------------------------------------------------------------

    def route(self, method: str, path: str, body: bytes, query: str = "") -> Exchange:
        """The exchange with the child of the model a request names (body "model" for POST, ?model= else)."""
        self._check_open()
        params = parse_qs(query)
        autoload_param = params.get("autoload", [""])[0]
        autoload = self.autoload if not autoload_param else autoload_param in ("true", "1")
        if method == "POST":
            try:
                request: Any = _json.loads(body) if body else {}
            except ValueError as e:
                raise Refused(400, f"the request body is not JSON: {e}") from None
            name: Any = cast(Dict[str, Any], request).get("model", "") if isinstance(request, dict) else ""
        else:
            name = params.get("model", [""])[0]
        return self.route_named(name, method, path, body, query, autoload)

    def route_named(self, name: Any, method: str, path: str, body: bytes, query: str = "",
                    autoload: Optional[bool] = None) -> Exchange:
        """The exchange with the child of the model ``name`` (started if need be and autoload)."""
        self._check_open()
        autoload = self.autoload if autoload is None else autoload
        if not isinstance(name, str) or not name:
            raise Refused(400, "model name is missing from the request")
        entry = self._get(name, 400, f"model '{name}' not found")
        if not autoload and not entry.model.running:
            raise Refused(400, "model is not loaded")
        model = entry.model
        try:
            process = model.ensure(before_start=lambda: self._make_room(entry))
        except Refused:
            raise
        except RequestError:
            raise
        except Exception as e:  # the load's error (ModelLoadError, ...), as the answer
            raise Refused(503, str(e), "unavailable_error") from None
        with self._lock:
            model.in_flight += 1
            if method == "POST":
                model.last_used = time.monotonic()

        def release() -> None:
            with self._lock:
                model.in_flight -= 1
                self._room.notify_all()

        try:
            return Exchange(process, method, path + ("?" + query if query else ""), body, release=release)
        except BaseException:
            release()
            raise

    def _open(self, method: str, path: str, body: bytes) -> Exchange:
        path, _, query = path.partition("?")
        return self.route(method, path, body, query)

    def model(self, name: str) -> "RoutedModel":
        """Server's methods for one model: its requests need not name it."""
        self._get(name, 404)
        return RoutedModel(self, name)

    # --- events for GET /models/sse -------------------------------------------------------

    def subscribe(self) -> "queue.Queue[Optional[Dict[str, Any]]]":
        q: queue.Queue[Optional[Dict[str, Any]]] = queue.Queue()
        with self._lock:
            self._subscribers.append(q)
        return q

    def unsubscribe(self, q: "queue.Queue[Optional[Dict[str, Any]]]") -> None:
        with self._lock:
            if q in self._subscribers:
                self._subscribers.remove(q)

    def _changed(self, model: SupervisedModel) -> None:
        data: Dict[str, Any] = {"status": model.status}
        if model.status == "unloaded":
            data["exit_code"] = model.exit_code
        event: Dict[str, Any] = {"model": model.name, "event": "status_change", "data": data}
        with self._lock:
            subscribers = list(self._subscribers)
            self._room.notify_all()
        for q in subscribers:
            q.put(event)


class RoutedModel(RemoteMethods):
    """One of a Router's models behind Server's methods (``router.model(name)``); closing it closes nothing."""

    def __init__(self, router: Router, name: str):
        self.router = router
        self.name = name

    @property
    def listening_address(self) -> str:
        return ""

    def close(self) -> None:
        self._closed = True

    def __enter__(self) -> "RoutedModel":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _open(self, method: str, path: str, body: bytes) -> Exchange:
        path, _, query = path.partition("?")
        return self.router.route_named(self.name, method, path, body, query)


def _ini(name: str, section: _preset.Section) -> str:
    """A model's preset as llama-server's /models shows it (``[name]`` then ``key = value`` lines)."""
    lines = [f"[{name}]"]
    for option in section.options.values():
        key = option.opt["args"][-1].lstrip("-") if option.opt is not None else option.key
        lines.append(f"{key} = {option.value}")
    return "\n".join(lines) + "\n\n"


__all__ = ["RoutedModel", "Router", "scan_models_dir"]

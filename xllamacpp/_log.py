"""llama.cpp's log lines, delivered to the Python logger ``xllamacpp``.

The facade queues records and never waits on Python; one daemon thread here
drains the queue, so llama.cpp's threads never take the GIL to log. The level
kept on the C side follows the logger's effective level when a Server starts,
or set_log_level().
"""
from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, cast

from ._library import ffi, lib, take_string

if TYPE_CHECKING:
    from ._library import CData

logger = logging.getLogger("xllamacpp")

_TO_PY = {lib.XLC_LOG_DEBUG: logging.DEBUG, lib.XLC_LOG_INFO: logging.INFO,
          lib.XLC_LOG_WARN: logging.WARNING, lib.XLC_LOG_ERROR: logging.ERROR}
_drain_lock = threading.Lock()
_drain_thread: threading.Thread | None = None


def _to_xlc(level: int) -> int:
    if level <= logging.DEBUG:
        return lib.XLC_LOG_DEBUG
    if level <= logging.INFO:
        return lib.XLC_LOG_INFO
    if level <= logging.WARNING:
        return lib.XLC_LOG_WARN
    return lib.XLC_LOG_ERROR


def set_log_level(level: int | str) -> None:
    """Sets the ``xllamacpp`` logger's level and the level llama.cpp keeps."""
    logger.setLevel(level)
    lib.xlc_log_set_level(_to_xlc(logger.getEffectiveLevel()))
    _ensure_drain()


def sync_log_level() -> None:
    """Keeps on the C side only what the ``xllamacpp`` logger would emit."""
    lib.xlc_log_set_level(_to_xlc(logger.getEffectiveLevel()))
    _ensure_drain()


def _drain() -> None:
    level = ffi.new("int *")
    text = ffi.new("char **")
    while True:
        if lib.xlc_log_next(500, level, text) != lib.XLC_OK:
            continue  # out of memory for one line: drop it
        message = take_string(cast("CData", text[0]))
        if message is not None:
            logger.log(_TO_PY.get(cast(int, level[0]), logging.INFO), "%s", message.rstrip("\n"))


def _ensure_drain() -> None:
    global _drain_thread
    with _drain_lock:
        if _drain_thread is None:
            _drain_thread = threading.Thread(target=_drain, name="xllamacpp-log", daemon=True)
            _drain_thread.start()

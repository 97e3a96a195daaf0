"""The exceptions xllamacpp raises: one hierarchy from the C facade's status to Python.

Every error is an :class:`XlcError`. Each subclass is also the builtin type
that code written before it was introduced catches, so ``except ValueError``
and ``except RuntimeError`` keep working::

    XlcError(Exception)                          .status, .http_status, .error
    ├── InvalidArgumentError(ValueError)         XLC_ERR_INVALID_ARGUMENT: bad value, bad JSON
    ├── InvalidTypeError(TypeError)              a Python value of the wrong type
    ├── NotFoundError(FileNotFoundError)         XLC_ERR_NOT_FOUND: no such file or library
    ├── XlcRuntimeError(RuntimeError)            XLC_ERR_IO, XLC_ERR_CALLBACK, XLC_ERR_INTERNAL
    │   ├── ModelLoadError                       XLC_ERR_MODEL_LOAD
    │   └── ServerClosedError                    XLC_ERR_CLOSED
    └── RequestError                             a request the server answered with an error object
        ├── BadRequestError(InvalidArgumentError, RuntimeError)   4xx: the request is at fault
        └── ServerError(XlcRuntimeError)            5xx: the server could not do it

``RequestError.from_response(body)`` turns an error answer (``{"error": {...}}``)
into the subclass its HTTP status calls for.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Optional, Union, cast

if TYPE_CHECKING:
    from typing_extensions import Self  # annotations only: no dependency at run time

Status = Union[str, int, None]


class XlcError(Exception):
    """A failure of xllamacpp or of the llama.cpp server inside it.

    ``status`` names the facade's ``xlc_status`` (``"XLC_ERR_INVALID_ARGUMENT"``),
    ``http_status`` is the HTTP status of an error answer (else None), and
    ``error`` the answer's error object (``{"code", "message", "type"}``, else None).
    """

    status: Status = None
    http_status: Optional[int] = None
    error: Optional[Dict[str, Any]] = None
    default_status: Status = "XLC_ERR_INTERNAL"

    @classmethod
    def make(cls, message: str, status: Status = None, http_status: Optional[int] = None,
             error: Optional[Dict[str, Any]] = None) -> Self:
        """An instance with its attributes set (constructors of builtin bases such as
        FileNotFoundError take no keyword arguments, so they are set here)."""
        exc = cls(message)
        exc.status = status if status is not None else cls.default_status
        if http_status is not None:  # else the class's (None; a RequestError's own)
            exc.http_status = http_status
        if error is not None:
            exc.error = error
        return exc

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.status = self.default_status


class InvalidArgumentError(XlcError, ValueError):
    """A value out of range, an unknown name, JSON that does not parse."""

    default_status: Status = "XLC_ERR_INVALID_ARGUMENT"


class InvalidTypeError(XlcError, TypeError):
    """A Python value of a type the call does not take."""

    default_status: Status = "XLC_ERR_INVALID_ARGUMENT"


class NotFoundError(XlcError, FileNotFoundError):
    """No such file (a GGUF file, a library to load)."""

    default_status: Status = "XLC_ERR_NOT_FOUND"


class XlcRuntimeError(XlcError, RuntimeError):
    """The facade failed at run time: I/O (the HTTP listener), a stream callback, or internally."""


class ModelLoadError(XlcRuntimeError):
    """The model, its projector, draft model or an adapter could not be loaded."""

    default_status: Status = "XLC_ERR_MODEL_LOAD"


class ServerClosedError(XlcRuntimeError):
    """The server was closed before or while the request ran."""

    default_status: Status = "XLC_ERR_CLOSED"


class RequestError(XlcError):
    """A request the server answered with an error object; ``http_status`` and ``error`` hold it."""

    default_status: Status = "XLC_OK"  # the call itself worked: the server answered
    # always set here, so that ``e.error["message"]`` needs no check for None: narrower than XlcError's,
    # which a type checker calls unsound for a writable attribute, and is what callers rely on
    http_status: int  # pyright: ignore[reportIncompatibleVariableOverride]
    error: Dict[str, Any]  # pyright: ignore[reportIncompatibleVariableOverride]

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.http_status = 500  # pyright: ignore[reportIncompatibleVariableOverride]  # make() and from_response() set the answer's own
        self.error = {"message": str(args[0]) if args else ""}  # pyright: ignore[reportIncompatibleVariableOverride]

    @staticmethod
    def from_response(body: Any, http_status: Optional[int] = None) -> "RequestError":
        """The exception for an error answer (``{"error": {...}}`` or the error object itself, parsed or
        as the body's JSON text)."""
        if isinstance(body, (bytes, bytearray)):
            body = bytes(body).decode("utf-8", "replace")
        if isinstance(body, str):
            from . import _json

            try:
                body = _json.loads(body)
            except ValueError:
                pass  # not JSON: the text is the message
        found: Any = cast(Dict[str, Any], body).get("error", body) if isinstance(body, dict) else {"message": str(body)}
        error: Dict[str, Any] = cast(Dict[str, Any], found) if isinstance(found, dict) else {"message": str(found)}
        given: Any = http_status if http_status is not None else error.get("code")
        code = given if isinstance(given, int) else 500
        cls = BadRequestError if 400 <= code < 500 else ServerError
        message = str(error.get("message") or f"HTTP {code}")
        return cls.make(message, status="XLC_OK", http_status=code, error=error)


class BadRequestError(RequestError, InvalidArgumentError, RuntimeError):  # pyright: ignore[reportIncompatibleVariableOverride]
    """A 4xx answer: the request was malformed, out of range or not allowed. Also a RuntimeError:
    upstream xllamacpp raises that for some refusals (invalid JSON, json_schema with grammar)."""

    default_status: Status = "XLC_OK"


class ServerError(RequestError, XlcRuntimeError):  # pyright: ignore[reportIncompatibleVariableOverride]
    """A 5xx answer: the server could not carry out a well-formed request."""

    default_status: Status = "XLC_OK"


# xlc_status names -> the class raised for them
BY_STATUS = {
    "XLC_ERR_INVALID_ARGUMENT": InvalidArgumentError,
    "XLC_ERR_NOT_FOUND": NotFoundError,
    "XLC_ERR_MODEL_LOAD": ModelLoadError,
    "XLC_ERR_IO": XlcRuntimeError,
    "XLC_ERR_CLOSED": ServerClosedError,
    "XLC_ERR_CALLBACK": XlcRuntimeError,
    "XLC_ERR_INTERNAL": XlcRuntimeError,
}

__all__ = [
    "XlcError",
    "InvalidArgumentError",
    "InvalidTypeError",
    "NotFoundError",
    "XlcRuntimeError",
    "ModelLoadError",
    "ServerClosedError",
    "RequestError",
    "BadRequestError",
    "ServerError",
]

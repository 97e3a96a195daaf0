"""Two distributions install a top-level ``llama_cpp``: this one and llama-cpp-python. With both, pip has
written one over the other (or mixed their files); importing says so rather than shadow either silently."""
from __future__ import annotations

import warnings

THIS_DISTRIBUTION = "xllamacpp-llama-cpp"
OTHER_DISTRIBUTION = "llama-cpp-python"


class ShadowingWarning(RuntimeWarning):
    """llama-cpp-python is installed beside xllamacpp's llama_cpp."""


def warn_if_shadowing() -> None:
    from importlib import metadata

    for name in (OTHER_DISTRIBUTION, OTHER_DISTRIBUTION.replace("-", "_")):  # Python 3.9 does not normalize
        try:
            other = metadata.distribution(name)
            break
        except metadata.PackageNotFoundError:
            continue
    else:
        return
    warnings.warn(
        f"both {OTHER_DISTRIBUTION} {other.version} and {THIS_DISTRIBUTION} are installed and both provide "
        f"`llama_cpp`; this import is {THIS_DISTRIBUTION}'s (llama.cpp's server engine, xllamacpp), and "
        f"pip may have mixed the two packages' files. Uninstall one of them (`pip uninstall {OTHER_DISTRIBUTION}` "
        f"or `pip uninstall {THIS_DISTRIBUTION}`) and reinstall the other.",
        ShadowingWarning, stacklevel=3)

"""The package's version and metadata, as installed: the scheme the README states ("Versions")."""
from __future__ import annotations

import json
import re
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

import xllamacpp as xlc

ROOT = Path(__file__).resolve().parents[1]
NEWEST_UPSTREAM = "2026.10.11549"  # upstream xllamacpp's newest release when the scheme was chosen


def pyproject_version() -> str:
    match = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    assert match, "no static version in pyproject.toml"
    return match.group(1)


def test_version_is_the_distributions_and_sorts_after_upstream():
    version = Version(xlc.__version__)
    assert xlc.__version__ == metadata.version("xllamacpp") == pyproject_version()
    assert version > Version(NEWEST_UPSTREAM) and version > Version("0.2")
    year, month, build, revision = version.release  # four parts: never equal to an upstream number
    assert 2026 <= year and 1 <= month <= 12 and revision >= 1 and not version.is_prerelease


def test_version_names_the_vendored_llama_cpp_build():
    lock = json.loads((ROOT / "vendor" / "lock.json").read_text())
    assert Version(xlc.__version__).release[2] == lock["llama.cpp"]["build"]


def test_extras_pin_the_backend_plugins_to_this_version():
    requirements = [Requirement(r) for r in metadata.requires("xllamacpp") or []]
    plugins = [r for r in requirements if r.name.startswith("xllamacpp-")]
    vulkan = [r for r in plugins if r.name == "xllamacpp-vulkan"]
    assert vulkan and all(r.marker is not None and r.marker.evaluate({"extra": "vulkan"}) for r in vulkan)
    for r in plugins:
        assert str(r.specifier) == f"=={xlc.__version__}", r


def test_license_is_an_spdx_expression_with_its_files():
    meta = metadata.metadata("xllamacpp")
    assert meta["License-Expression"] == "MIT"
    assert "LICENSE" in (meta.get_all("License-File") or [])


def test_the_llama_cpp_distribution_is_of_this_version_and_pins_it():
    """xllamacpp-llama-cpp calls the base's xlc_vocab_* functions, so it goes with the base of its own version."""
    text = (ROOT / "llama_cpp_compat" / "pyproject.toml").read_text()
    version = re.search(r'^version = "([^"]+)"', text, re.M)
    assert version and version.group(1) == pyproject_version()
    assert f'"xllamacpp=={pyproject_version()}"' in text

"""Backend plugins, as pip installs them: real wheels in a fresh virtual environment outside the checkout.

The base wheel is test_wheel.py's. The plugin is this checkout's CPU library packaged by
scripts/plugin_wheel.py as "xllamacpp-cpu-native", a plugin of the cpu backend: a plugin's library comes
before the package's own, so installing it swaps the library and uninstalling it swaps it back, with no
reinstall of the base. tests/test_backends_vulkan.py does the same with the real Vulkan plugin.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from test_wheel import run, wheel  # noqa: F401  (the base wheel fixture)

ROOT = Path(__file__).resolve().parents[1]
CPU_LIB = ROOT / "xllamacpp" / "lib" / "libxlc-cpu.so"
PLUGIN = "xllamacpp-cpu-native"

REPORT = r"""
import json, sys
import xllamacpp as xlc
c = xlc.library_choice
out = {"backend": c.backend, "path": str(c.path), "plugin": c.plugin, "reason": c.reason,
       "rejected": [[r.backend, str(r.path), r.reason] for r in c.rejected], "version": xlc.__version__}
if len(sys.argv) > 1:
    p = xlc.CommonParams()
    p.model.path = sys.argv[1]
    p.n_ctx = 256
    p.warmup = False
    p.sampling.top_k = 1
    with xlc.Server(p) as s:
        out["tokens"] = s.handle_completions({"prompt": "The capital of France is", "max_tokens": 4})["usage"]["completion_tokens"]
print("CHOICE " + json.dumps(out))
"""


def plugin_wheel(out: Path, library: Path = CPU_LIB, **flags: object) -> Path:
    args = [f"--{k}={v}" for k, v in flags.items()]
    r = run([sys.executable, ROOT / "scripts" / "plugin_wheel.py", "cpu-native", library, "-o", out,
             "--backend=cpu", *args])
    return Path(r.stdout.strip().splitlines()[-1])


class Venv:
    """A virtual environment with the base wheel installed."""

    def __init__(self, path: Path, base_wheel: Path):
        self.path = path
        self.wheel = base_wheel
        self.version = base_wheel.name.split("-")[1]
        self.python = path / "bin" / "python"

    def site(self) -> Path:
        return next(self.path.glob("lib/*/site-packages"))

    def env(self, **extra: str) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("XLLAMACPP_", "PYTHON"))}
        return {**env, **extra}

    def pip(self, *args: object) -> None:
        run([self.python, "-m", "pip", "-q", *args], cwd=str(self.path))

    def python_run(self, code: str, *args: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.python), "-c", code, *args], capture_output=True, text=True,
                              cwd=str(self.path), env=self.env(**env), timeout=600)

    def choice(self, *args: str, **env: str) -> dict:
        r = self.python_run(REPORT, *args, **env)
        assert r.returncode == 0, r.stderr[-3000:]
        return json.loads(next(line for line in r.stdout.splitlines() if line.startswith("CHOICE "))[7:])

    def import_error(self, code: str = "import xllamacpp", **env: str) -> str:
        r = self.python_run(code, **env)
        # an ImportError and a normal exit status: never a crash (a negative status is a signal)
        assert r.returncode == 1 and "ImportError" in r.stderr, (r.returncode, r.stderr[-3000:])
        return r.stderr


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Venv:  # noqa: F811
    v = Venv(tmp_path_factory.mktemp("plugins") / "venv", wheel)
    run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", v.path])
    v.pip("install", wheel)
    return v


@pytest.fixture(scope="module")
def plugins(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("plugin-wheels")


def test_installing_a_plugin_swaps_the_library_and_uninstalling_swaps_it_back(venv, plugins, model_path):
    base = venv.choice()
    assert base["plugin"] == "" and base["path"] == str(venv.site() / "xllamacpp/lib/libxlc-cpu.so")
    venv.pip("install", "--no-deps", plugin_wheel(plugins))
    try:
        c = venv.choice(model_path)
        assert c["plugin"] == f"{PLUGIN} {c['version']}" and c["backend"] == "cpu" and c["tokens"] == 4, c
        assert c["path"] == str(venv.site() / "xllamacpp_cpu_native/lib/libxlc-cpu.so")
        # the base uninstalled under the plugin: the plugin alone says what is missing
        venv.pip("uninstall", "-y", "xllamacpp")
        err = venv.import_error("import xllamacpp_cpu_native")
        assert f"pip install xllamacpp=={c['version']}" in err, err
        # and the base installed after the plugin takes it too
        venv.pip("install", "--no-deps", venv.wheel)
        assert venv.choice()["plugin"] == c["plugin"]
    finally:
        venv.pip("uninstall", "-y", PLUGIN)
        venv.pip("install", "--no-deps", venv.wheel)
    assert venv.choice() == base


def test_plugin_for_another_abi_version_is_refused_naming_both(venv, plugins):
    venv.pip("install", "--no-deps", plugin_wheel(plugins / "abi", abi=999))
    try:
        c = venv.choice()
        assert c["plugin"] == "", c  # the package's own library, and why not the plugin's
        (why,) = [r for b, p, r in c["rejected"] if "xllamacpp_cpu_native" in p]
        abi = re.search(r"#define XLC_ABI_VERSION (\d+)", (ROOT / "cshim" / "include" / "xlc.h").read_text())
        assert abi and "xlc ABI version 999" in why and f"expects ABI version {abi.group(1)}" in why, why
        assert f"pip install {PLUGIN}=={c['version']}" in why, why
    finally:
        venv.pip("uninstall", "-y", PLUGIN)


def test_truncated_plugin_library_is_refused_and_the_base_is_used(venv, plugins, tmp_path):
    truncated = tmp_path / "libxlc-cpu.so"
    truncated.write_bytes(CPU_LIB.read_bytes()[: 1 << 20])
    venv.pip("install", "--no-deps", plugin_wheel(plugins / "truncated", library=truncated))
    try:
        c = venv.choice(XLLAMACPP_BACKEND="cpu")
        assert c["plugin"] == "" and c["reason"] == "XLLAMACPP_BACKEND=cpu", c
        (why,) = [r for b, p, r in c["rejected"] if "xllamacpp_cpu_native" in p]
        assert why.startswith("cannot be loaded:") and f"--force-reinstall {PLUGIN}" in why, why
    finally:
        venv.pip("uninstall", "-y", PLUGIN)


def test_library_for_another_architecture_is_refused_naming_it(venv, plugins, tmp_path):
    # a wheel for another platform: its library's ELF header names another machine (aarch64 here)
    foreign = bytearray(CPU_LIB.read_bytes())
    foreign[18:20] = (183).to_bytes(2, "little")
    (tmp_path / "libxlc-cpu.so").write_bytes(bytes(foreign))
    venv.pip("install", "--no-deps", plugin_wheel(plugins / "foreign", library=tmp_path / "libxlc-cpu.so"))
    try:
        c = venv.choice()
        (why,) = [r for b, p, r in c["rejected"] if "xllamacpp_cpu_native" in p]
        assert "built for another architecture (ELF machine 183)" in why and "install the wheel for this platform" in why
        err = venv.import_error(XLLAMACPP_LIB=str(venv.site() / "xllamacpp_cpu_native/lib/libxlc-cpu.so"))
        assert "another architecture" in err, err
    finally:
        venv.pip("uninstall", "-y", PLUGIN)


def test_damaged_base_library_ends_in_an_import_error_saying_how_to_reinstall(venv):
    installed = venv.site() / "xllamacpp/lib/libxlc-cpu.so"
    whole = installed.read_bytes()
    tmp = installed.with_suffix(".tmp")
    tmp.write_bytes(whole[: len(whole) // 2])
    tmp.replace(installed)  # a new file: nothing has it loaded, but renaming is the rule
    try:
        err = venv.import_error()
        assert f"pip install --force-reinstall xllamacpp=={venv.version}" in err, err
    finally:
        venv.pip("install", "--no-deps", "--force-reinstall", venv.wheel)
    assert venv.choice()["plugin"] == ""


@pytest.mark.parametrize("backend, extra", [("cuda", "cuda13"), ("vulkan", "vulkan")])
def test_backend_asked_for_without_its_plugin_says_what_to_install(venv, backend, extra):
    err = venv.import_error(XLLAMACPP_BACKEND=backend)
    assert f"XLLAMACPP_BACKEND={backend}, but no {backend} library is installed" in err, err
    assert f'pip install "xllamacpp[{extra}]=={venv.version}"' in err, err


def test_local_index_installs_a_plugin_with_its_base_in_a_fresh_venv(wheel, plugins, tmp_path):  # noqa: F811
    # `make wheels`' layout: the wheels in dist/ and dist/simple/ beside them; the plugin's requirement
    # xllamacpp==<version> takes the base from the index, the base's own (cffi, ...) come from PyPI
    dist = tmp_path / "dist"
    dist.mkdir()
    shutil.copy(wheel, dist / wheel.name)
    shutil.copy(plugin_wheel(plugins / "index"), dist)
    run([sys.executable, ROOT / "scripts" / "simple_index.py", dist])
    v = Venv(tmp_path / "venv", wheel)
    run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", v.path])
    v.pip("install", "--index-url", (dist / "simple").as_uri(), "--extra-index-url", "https://pypi.org/simple", PLUGIN)
    c = v.choice()
    assert c["plugin"] == f"{PLUGIN} {v.version}" and c["path"].startswith(str(v.site())), c

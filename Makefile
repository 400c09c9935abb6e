# The two commands: `make demo` and `make test`. Both set up what is missing (Debian packages,
# the project venv with pinned Halide/CMake/Ninja), build, then run. Idempotent.
BUILD   ?= build
VENV    ?= .venv
JOBS    ?= $(shell nproc)
PREFIX  ?= $(CURDIR)/$(BUILD)/install
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

HALIDE_DIR = $(shell $(VENV)/bin/python -c "import halide, os; print(os.path.join(os.path.dirname(halide.__file__), 'lib64', 'cmake', 'Halide'))")

.PHONY: all setup configure build install demo test bench bench-peers clean

all: build

setup:
	@bash scripts/setup.sh

configure: setup
	@test -f $(BUILD)/build.ninja || cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release \
	  -DHalide_DIR=$(HALIDE_DIR)

build: configure
	cmake --build $(BUILD) -j $(JOBS)

install: build
	cmake --install $(BUILD) --prefix $(PREFIX) > /dev/null

demo: install
	@bash scripts/demo.sh $(BUILD) $(PREFIX)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The full benchmark: table, JSON and plot in build/.
bench: build
	$(BUILD)/tools/normforge bench --json $(BUILD)/bench.json --plot $(BUILD)/bench.png

# Optional: the peers the bench compares against (oneDNN, ONNX Runtime) and matplotlib, into
# the project venv (several GB: oneDNN's wheel brings its SYCL/OpenCL runtime); then rebuild
# so that the bench links oneDNN.
bench-peers: setup
	$(VENV)/bin/pip install -q --disable-pip-version-check onednn-devel onnxruntime onnx numpy matplotlib
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release -DHalide_DIR=$(HALIDE_DIR)
	cmake --build $(BUILD) -j $(JOBS)

clean:
	rm -rf $(BUILD)

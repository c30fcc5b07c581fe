# The two entry points: `make demo` (the main job) and `make test` (the test suite).
# Both create or refresh the virtualenv .venv/ when setup.cfg changed, so they work on a fresh clone.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONUNBUFFERED := 1

.PHONY: demo test venv clean-runs

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip setuptools wheel
	$(VENV)/bin/python -m pip install --quiet -e ".[dev]"
	# tfmot 0.8.1 pins absl-py~=1.2 but runs with the absl-py 2 that mediapipe needs; one pip
	# resolve of both is impossible, so it comes second, without its pins (deps in setup.cfg).
	$(VENV)/bin/python -m pip install --quiet --no-deps tensorflow-model-optimization==0.8.1
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/python recipes/demo.py

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q --durations=15

clean-runs:
	rm -rf runs/

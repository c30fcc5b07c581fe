# The two entry points: `make demo` (the main job) and `make test` (the test suite).
# Both create or refresh the virtualenv .venv/ when setup.cfg changed, so they work on a fresh clone.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONUNBUFFERED := 1

.PHONY: demo test venv clean-runs junit4 android-model

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip setuptools wheel
	$(VENV)/bin/python -m pip install --quiet -e ".[dev,onnx]"
	# tfmot 0.8.1 pins absl-py~=1.2 but runs with the absl-py 2 that mediapipe needs; one pip
	# resolve of both is impossible, so it comes second, without its pins (deps in setup.cfg).
	$(VENV)/bin/python -m pip install --quiet --no-deps tensorflow-model-optimization==0.8.1
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/python recipes/demo.py

test: $(STAMP) junit4
	$(VENV)/bin/python -m pytest -q --durations=15

clean-runs:
	rm -rf runs/

# JUnit 4 for the JVM tests of android_demo/core (driven by tests/test_android_core.py):
# Debian's junit4 package, installed when missing (CI runs as root).
junit4:
	@test -f /usr/share/java/junit4.jar || (apt-get update -qq && apt-get install -y -qq --no-install-recommends junit4 >/dev/null)

# Bundle the newest `make demo` int8 export of one stage into the Android app's assets
# (ANDROID_STAGE = quickstart | segmentation_demo | sr_demo), or the newest int8 export under
# any run folder with ANDROID_RUN=<run dir> (e.g. a detector or restorer exported with
# `kerascv-apps export`); see android_demo/README.md.
ANDROID_STAGE ?= quickstart
ANDROID_RUN ?=
android-model:
	@if [ -n "$(ANDROID_RUN)" ]; then \
	  test -d "$(ANDROID_RUN)" || { echo "ANDROID_RUN=$(ANDROID_RUN) is not a folder"; exit 1; }; \
	  json=$$(find "$(ANDROID_RUN)" -name '*_int8.json' 2>/dev/null | sort | tail -1); \
	  test -n "$$json" || { echo "no int8 export (*_int8.json) under $(ANDROID_RUN): run kerascv-apps export first"; exit 1; }; \
	else \
	  json=$$(find runs -path "runs/demo-*/$(ANDROID_STAGE)/*" -name '*_int8.json' 2>/dev/null | sort | tail -1); \
	  test -n "$$json" || { echo "no int8 export of $(ANDROID_STAGE) under runs/demo-*: run make demo first"; exit 1; }; \
	fi; \
	dest=android_demo/app/src/main/assets/model; rm -f $$dest/*.tflite $$dest/*.json; \
	cp "$$json" "$${json%.json}.tflite" $$dest/ && echo "bundled $${json%.json}.tflite into $$dest"

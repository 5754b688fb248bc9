# Advanced Computer Vision with Deep Learning: one Makefile for students, instructors and CI.
#   make lab              set up .venv (first time, or when requirements change) and open JupyterLab
#   make test             set up, then run the unit tests, every notebook in fast mode, and every student copy
#   make student          write student copies (solutions replaced by stubs) to student/
#   make clean-notebooks  strip outputs, execution counts and metadata from notebooks/
#   make weights          fetch every full-mode asset listed in weights/manifest.json
# Set-up also fetches the fast-mode set of pretrained files once (official URLs, else the package
# index), after the requirements and again when weights/manifest.json changes; offline it warns and
# fast mode falls back to the course's own models, except in CI (CI=true), where it is an error.

SHELL := /bin/bash
ifndef PYTHON
PYTHON := $(shell for p in python3.12 python3.11 python3.10 python3; do \
             $$p -c 'import sys; sys.exit(not (3,10) <= sys.version_info[:2] <= (3,12))' >/dev/null 2>&1 && { echo $$p; break; }; done)
endif
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
FAST_SET := $(VENV)/.fast-set
KERNEL := advanced-cv
JOBS ?= auto

.PHONY: lab test unit notebooks student student-test clean-notebooks weights clean

$(STAMP): requirements.txt pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: Python 3.10-3.12 not found; install one or set PYTHON=/path/to/python"; exit 2; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip "setuptools<81" wheel
	$(BIN)/python -m pip install -q -r requirements.txt
	# face_recognition declares `dlib`, which would compile from source; dlib-bin (above) provides it.
	$(BIN)/python -m pip install -q --no-deps $$(grep -E '^# nodeps: ' requirements.txt | sed 's/^# nodeps: //')
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	$(BIN)/python -m ipykernel install --user --name $(KERNEL) --display-name "Advanced CV (course .venv)" >/dev/null
	@touch $(STAMP)

$(FAST_SET): $(STAMP) weights/manifest.json
	@if $(BIN)/python -m utils.weights fetch --fast; then touch $@; \
	elif [ "$$CI" = true ]; then echo "error: CI needs the fast-mode set of pretrained files (see above)" >&2; exit 1; \
	else echo "warning: the fast-mode pretrained files could not be fetched (see above): notebooks fall back to" \
	    "the course's own small models and say so. Retried by the next make; or run: $(BIN)/python -m utils.weights fetch --fast" >&2; fi

# LAB_ARGS: extra JupyterLab options, e.g. make lab LAB_ARGS="--port=8899"
lab: $(FAST_SET)
	@# register the kernel again: another clone of the course (moved or deleted since) may hold its name
	@$(BIN)/python -m ipykernel install --user --name $(KERNEL) --display-name "Advanced CV (course .venv)" >/dev/null
	$(BIN)/jupyter lab notebooks $$( [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ] || [ "$$(uname)" = Darwin ] || echo --no-browser ) \
	    $$( [ "$$(id -u)" = 0 ] && echo --allow-root ) $(LAB_ARGS)

test: $(FAST_SET)
	COURSE_MODE=fast $(BIN)/python -m pytest -n $(JOBS) --dist loadscope --nbval-lax tests notebooks
	$(MAKE) --no-print-directory student-test

# Every notebook's student copy (solutions stubbed) must run end to end: a stuck student can go on.
student-test: $(FAST_SET)
	rm -rf build/student && $(BIN)/python -m utils.notebooks student notebooks build/student
	COURSE_MODE=fast $(BIN)/python -m pytest -n $(JOBS) --dist loadscope --nbval-lax build/student

unit: $(FAST_SET)
	COURSE_MODE=fast $(BIN)/python -m pytest -n $(JOBS) tests

notebooks: $(FAST_SET)
	COURSE_MODE=fast $(BIN)/python -m pytest -n $(JOBS) --dist loadscope --nbval-lax notebooks

student: $(STAMP)
	$(BIN)/python -m utils.notebooks student notebooks student

clean-notebooks: $(STAMP)
	$(BIN)/python -m utils.notebooks clean notebooks

weights: $(STAMP)
	$(BIN)/python -m utils.weights fetch --all

clean:
	rm -rf $(VENV) build student .pytest_cache

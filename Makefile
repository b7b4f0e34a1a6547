# Two entry points on a fresh machine: `make demo` (the main job) and `make test`.
# Both create .venv on first use and install the project with torch pinned by constraints.txt.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test install clean

$(BIN)/bitcluster: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[train,vendor,consumer,dev]"
	touch $@

install: $(BIN)/bitcluster

demo: install  ## the main job: vendor and consumer services, a real encode -> classify round trip
	$(BIN)/bitcluster demo

test: install  ## the whole test suite (exit code 5, "no tests ran", fails too)
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV)

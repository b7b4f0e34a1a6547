# Two entry points on a fresh machine: `make demo` (the main job) and `make test`.
# Both create .venv on first use and install the project with torch pinned by constraints.txt.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test install clean default-model

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

# How the embedded default model in shared/bitcluster/default_model was made (a few minutes on 1-2 cores).
default-model: install
	$(BIN)/bitcluster train --method vab --data digits --bits 16 --clusters 10 --epochs 60 --seed 0 \
		--threads 1 --quiet --out runs/default-model
	$(BIN)/bitcluster export runs/default-model --out shared/bitcluster/default_model

clean:
	rm -rf $(VENV)

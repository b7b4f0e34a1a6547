# Two entry points on a fresh machine: `make demo` (the main job) and `make test`.
# Both create .venv on first use. `make test` (and `make install`) installs requirements/all.txt, every package
# pinned with its hashes (torch the CPU build of constraints.txt); `make demo` only requirements/demo.txt (both
# services, scikit-learn and SciPy for the digits: no torch), or uses the full install when it is there. Each
# install has its own stamp in .venv, so `make test` after `make demo` still installs everything. Then the
# project itself. `make lock` regenerates the locks.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Another index for torch, e.g. PyTorch's CPU wheels: make install TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=

.PHONY: demo test test-fast install clean default-model bench-smoke lock lock-check

FULL_STAMP := $(VENV)/.installed-all
DEMO_STAMP := $(VENV)/.installed-demo

# Only what the lock names, each file checked against its hash, with the venv's own pip (no unpinned
# upgrade); then the project with --no-deps and the lock's setuptools (no unpinned build env).
$(VENV)/.installed-%: requirements/%.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --require-hashes $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) -r $<
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

.PRECIOUS: $(FULL_STAMP) $(DEMO_STAMP)
install: $(FULL_STAMP)

# requirements/{all,vendor,consumer}.txt from pyproject.toml + constraints.txt (uv pip compile --generate-hashes,
# against the indexes pip is configured with). Run it after any change to a dependency; commit requirements/.
lock: install
	$(BIN)/python deploy/requirements.py lock --uv $(BIN)/uv

lock-check:  ## fails when requirements/ is stale against pyproject.toml or constraints.txt (offline, instant)
	$(PYTHON) deploy/requirements.py check

demo: $(if $(wildcard $(FULL_STAMP)),$(FULL_STAMP),$(DEMO_STAMP))  ## the main job: both services, a real round trip
	$(BIN)/bitcluster demo --keep-running

# Two tiers (tests/conftest.py says which test is slow). `make test` runs everything, as CI does (.ci/run);
# `make test-fast` leaves out the tests marked slow (they train for real, or start service processes), for the
# edit loop: under two minutes on two cores, every module's fast behaviour. Exit code 5 ("no tests ran") fails too.
test: install  ## the whole test suite, every tier (CI)
	$(BIN)/python -m pytest -q

test-fast: install  ## the fast tier: pytest -m "not slow"
	$(BIN)/python -m pytest -q -m "not slow"

# Every benchmark at tiny sizes (each under a minute; results in temporary directories, never
# bench/results): they run, so they cannot rot between releases. Their numbers mean nothing.
bench-smoke: install
	@set -e; for script in bench/[!_]*.py; do echo "== $$script --smoke"; $(BIN)/python $$script --smoke; done

# How the embedded default model in shared/bitcluster/default_model was made (a few minutes on 1-2 cores; on the
# CPU, as it was). It goes to runs/default-model/export: the embedded model, a tracked file, is replaced only by
# `make default-model REPLACE=1`. Both commands --force: the directories are this target's own.
DEFAULT_MODEL_OUT = $(if $(REPLACE),shared/bitcluster/default_model,runs/default-model/export)
default-model: install
	$(BIN)/bitcluster train --method vab --data digits --bits 16 --clusters 10 --epochs 60 --seed 0 \
		--threads 1 --device cpu --teacher-option features=autoencoder --centring none \
		--quiet --force --out runs/default-model/run
	$(BIN)/bitcluster export runs/default-model/run --force --out $(DEFAULT_MODEL_OUT)
	@echo "default-model: exported to $(DEFAULT_MODEL_OUT)$(if $(REPLACE),, (the embedded shared/bitcluster/default_model is unchanged; make default-model REPLACE=1 replaces it))"

clean:
	rm -rf $(VENV)

# The two services in containers: Docker Compose where a Docker daemon answers, else podman + podman-compose
# (installed, with a local Debian base image, when root on Debian). Logic in deploy/compose/*.sh.
.PHONY: compose-up compose-down compose-test
compose-up:  ## build and start; returns when healthy. VENDOR_PORT (8001), CONSUMER_PORT (ephemeral), CONSUMERS (1)
	bash deploy/compose/up.sh

compose-down:  ## stop and remove the compose project, check that nothing is left
	bash deploy/compose/down.sh

compose-test: install  ## build, round trip vs in-process, wrong model id, 2 replicas, SIGKILL restart, down
	bash deploy/compose/test.sh

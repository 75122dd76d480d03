# safety-bot: two commands matter. `make run` starts the bot (console adapter when no platform is
# configured) and installs only what running needs; `make test` adds the test tools (test homeserver
# included) and runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONFIG ?= config.yaml
STAMP := $(VENV)/.installed
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check

.PHONY: run test bench check-config doctor clean clean-data

# Running: the runtime, the platform extras and the PostgreSQL driver only (about 120 MB). The
# exposed-media hash bank needs the media extra (numpy, Pillow, pdqhash, PyAV: about 200 MB more):
#   make run RUN_EXTRAS=discord,matrix,postgres,media
RUN_EXTRAS ?= discord,matrix,postgres
comma := ,
RUN_STAMP := $(VENV)/.installed-run-$(subst $(comma),-,$(RUN_EXTRAS))

$(RUN_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) -e ".[$(RUN_EXTRAS)]"
	touch $(RUN_STAMP)

# Testing: everything, plus the test tools (pytest, the Synapse homeserver the Matrix tests start).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) -e ".[discord,matrix,media,postgres,test]"
	touch $(STAMP)

run: $(RUN_STAMP)
	$(BIN)/safety-bot run --config $(CONFIG)

doctor: $(RUN_STAMP)
	$(BIN)/safety-bot doctor --config $(CONFIG)

check-config: $(RUN_STAMP)
	$(BIN)/safety-bot check-config --config $(CONFIG)

test: $(STAMP)
	# Debian's chromium for tests/browser (Playwright drives it; installed once when missing)
	sh tests/browser/install_chromium.sh
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: $(STAMP)
	# peers for the matching benchmark (faiss, threatexchange): installed for the bench only
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[bench]"
	# each benchmark's wall time, and the total (target: under 10 minutes on 2 cores). Smaller sizes than
	# the scripts' own defaults where a run was long; each prints the size it ran with.
	@start=$$(date +%s); run() { t0=$$(date +%s); $(BIN)/python bench/$$1.py $$2 || return 1; \
	  echo "bench/$$1.py $$2 took $$(( $$(date +%s) - t0 )) s"; }; \
	run startup "--runs 3" && run intake "" && run discord_events "" && run media "" && \
	run matrix_ban "--ban-trials 3 --dm-rounds 3" && run postgres_intake "" && run discord_shards "--messages 10000" && \
	echo "make bench took $$(( $$(date +%s) - start )) s in all"
	@echo "bench/results.md: the table the README quotes"

clean:
	rm -rf $(VENV) .pytest_cache

# The console's data (cases and the pretend community) in the default data folder; `make run` says
# where its data lives. Same as `safety-bot run --fresh` for the shipped config.
clean-data:
	rm -rf data
	@echo "The console's data in ./data is gone; make run starts fresh."

# safety-bot: two commands matter. `make run` starts the bot (console adapter when no platform is
# configured); `make test` builds the environment, installs everything (test homeserver included) and
# runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONFIG ?= config.yaml
STAMP := $(VENV)/.installed

.PHONY: run test bench check-config clean clean-data

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[discord,matrix,media,postgres,test]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/safety-bot run --config $(CONFIG)

check-config: $(STAMP)
	$(BIN)/safety-bot check-config --config $(CONFIG)

test: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: $(STAMP)
	# peers for the matching benchmark (faiss, threatexchange): installed for the bench only
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[bench]"
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/intake.py
	$(BIN)/python bench/discord_events.py
	$(BIN)/python bench/media.py
	$(BIN)/python bench/matrix_ban.py
	$(BIN)/python bench/postgres_intake.py
	$(BIN)/python bench/discord_shards.py
	@echo "bench/results.md: the table the README quotes"

clean:
	rm -rf $(VENV) .pytest_cache

# The console's data (cases and the pretend community) in the default data folder; `make run` says
# where its data lives. Same as `safety-bot run --fresh` for the shipped config.
clean-data:
	rm -rf data
	@echo "The console's data in ./data is gone; make run starts fresh."

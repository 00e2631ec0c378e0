# cuefinder: `make demo` sets up and runs the main job; `make test` runs the test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_PACKAGES := funnyboat scorched3d-data xblast-tnt-musics abe-data pax-britannica-data drascula-music
GAMES_CACHE ?= $(HOME)/.cache/cuefinder/games
DEMO_CATALOG ?= $(HOME)/.cache/cuefinder/demo/catalog.db
DEMO_QUERY ?= romance comedy -action horror:0.3

.PHONY: setup dev browser demo test test-fast lint bench clean

# cuefinder itself (musicnn's weights ship in cuefinder/model/weights/)
setup: $(VENV)/.installed

# and what the tests, lint and tools need
dev: $(VENV)/.dev-installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.dev-installed: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[dev]'
	# musicnn's TensorFlow-1 checkpoints (ISC), which tests/test_convert_musicnn.py checks the
	# shipped weights against; its pins are obsolete and TensorFlow is not needed
	$(BIN)/pip install --quiet --no-deps musicnn==0.1.0
	touch $@

# Debian's chromium for the browser tests (Playwright drives it; its own download fails here),
# and openmpt123 (libopenmpt), which renders tracker modules and plays them row by row for
# bench/bench_tempo.py and its test
browser:
	command -v chromium >/dev/null && command -v openmpt123 >/dev/null || (apt-get update -qq \
	  && apt-get install -y -qq --no-install-recommends chromium openmpt123)

demo: setup
	$(BIN)/cuefinder dataset games --cache $(GAMES_CACHE) --packages $(DEMO_PACKAGES)
	$(BIN)/cuefinder --catalog $(DEMO_CATALOG) index $(addprefix $(GAMES_CACHE)/music/,$(DEMO_PACKAGES))
	$(BIN)/cuefinder --catalog $(DEMO_CATALOG) search "$(DEMO_QUERY)"

lint: dev
	$(BIN)/ruff check cuefinder tests bench docs tools
	$(BIN)/ruff format --check cuefinder tests bench docs tools

test: dev browser lint
	$(BIN)/pytest -q

# the fast subset: no browser, no server, no training or cross-validation, no big catalogs
test-fast: dev
	$(BIN)/pytest -q -m "not slow"

bench: setup
	$(BIN)/python bench/bench_index.py --without-descriptors --ray --cpu

clean:
	rm -rf $(VENV) build *.egg-info

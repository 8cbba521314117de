# The whole set-up: `make run` serves on http://127.0.0.1:8000, `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test fuzz bench lint mutate clean

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(VENV)/bin/flask --app app db upgrade
	$(PY) app.py

# The suite runs on SQLite, then again on PostgreSQL when TEST_DATABASE_URL is set.
test: install
	env -u TEST_DATABASE_URL $(PY) -m pytest -q
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
		echo "Running the suite again on PostgreSQL"; \
		$(PY) -m pytest -q; \
	else \
		echo "TEST_DATABASE_URL is not set: the PostgreSQL run is skipped"; \
	fi

# schemathesis against the running service (tests/test_fuzz.py), on SQLite, then on PostgreSQL when set.
fuzz: install
	env -u TEST_DATABASE_URL $(PY) -m pytest -q -s -m fuzz
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
		echo "Fuzzing again on PostgreSQL"; \
		$(PY) -m pytest -q -s -m fuzz; \
	fi

bench: install
	$(PY) -m bench.run

lint: install
	$(VENV)/bin/ruff check .

# Mutation testing of the money (services/rewards.py, orders.py, cashback.py) against their tests on SQLite, with
# mutmut in forkserver mode ([tool.mutmut] in pyproject.toml). Not in `make test` or CI: about 20 minutes on 2 cores.
# Starts afresh each time; then lists every mutant not killed and prints the killed/survived/total figures.
mutate: install
	rm -rf mutants
	env -u TEST_DATABASE_URL $(VENV)/bin/mutmut run
	$(VENV)/bin/mutmut results
	@$(VENV)/bin/mutmut export-cicd-stats >/dev/null
	@$(PY) -c "import json; s = json.load(open('mutants/mutmut-cicd-stats.json')); \
		print('mutants: {total}, killed: {killed}, survived: {survived}, no tests: {no_tests}, timeout: {timeout}, ' \
		'suspicious: {suspicious}; killed {share:.1f} %'.format(share=100 * s['killed'] / s['total'], **s))"

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache bench/.data

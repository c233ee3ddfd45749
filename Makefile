# OrderHub: `make run` sets up and serves the demo; `make test` runs every check and test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)

.PHONY: run test lint venv demo-data bench clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	rm -f $(VENV)/.installed-*; touch $(STAMP)

venv: $(STAMP)

run: venv
	DJANGO_SETTINGS_MODULE=config.settings.local $(PY) manage.py migrate --noinput
	DJANGO_SETTINGS_MODULE=config.settings.local $(PY) manage.py load_demo
	DJANGO_SETTINGS_MODULE=config.settings.local $(PY) manage.py run_demo

lint: venv
	$(VENV)/bin/ruff check .
	DJANGO_SETTINGS_MODULE=config.settings.test $(PY) manage.py makemigrations --check --dry-run

test: venv
	bash .ci/services.sh
	$(MAKE) lint
	DJANGO_SETTINGS_MODULE=config.settings.test $(VENV)/bin/pytest

bench: venv
	bash .ci/services.sh
	$(PY) bench/trace.py
	$(PY) bench/ingest.py
	$(PY) bench/rule_eval.py
	$(PY) bench/allocate.py
	$(PY) bench/track.py
	$(PY) bench/waybill.py
	$(PY) bench/outbox.py
	$(PY) bench/channels.py
	$(PY) bench/sweep.py
	$(PY) bench/sweep_rules.py
	$(PY) bench/notify.py
	$(PY) bench/import.py
	$(PY) bench/export.py
	$(PY) bench/peers.py  # creates .venv-oscar from bench/requirements-oscar.txt on first run

clean:
	rm -rf $(VENV) db.sqlite3 var staticfiles

# OrderHub: `make run` sets up and serves the demo; `make test` runs every check and test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)
# Front-end libraries (ECharts) come pinned from the npm registry; only the files the pages load are copied
# into vendor/static (STATICFILES_DIRS), so collectstatic does not carry the whole package.
NODE_STAMP := node_modules/.installed-$(shell sha1sum package-lock.json | cut -c1-12)
ECHARTS := vendor/static/echarts/echarts.min.js

.PHONY: run test lint venv static-vendor demo-data bench clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	rm -f $(VENV)/.installed-*; touch $(STAMP)

venv: $(STAMP)

$(NODE_STAMP): package.json package-lock.json
	bash .ci/node.sh
	npm ci --no-audit --no-fund --ignore-scripts
	rm -f node_modules/.installed-*; touch $(NODE_STAMP)

$(ECHARTS): $(NODE_STAMP)
	mkdir -p $(dir $(ECHARTS))
	cp node_modules/echarts/dist/echarts.min.js $(ECHARTS)

static-vendor: $(ECHARTS)

run: venv static-vendor
	DJANGO_SETTINGS_MODULE=config.settings.local $(PY) manage.py migrate --noinput
	DJANGO_SETTINGS_MODULE=config.settings.local $(PY) manage.py load_demo
	DJANGO_SETTINGS_MODULE=config.settings.local $(PY) manage.py run_demo

lint: venv
	$(VENV)/bin/ruff check .
	DJANGO_SETTINGS_MODULE=config.settings.test $(PY) manage.py makemigrations --check --dry-run

test: venv static-vendor
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
	BENCH_DB_NAME=orderhub_bench_dash $(PY) bench/dashboard.py  # 90 days of orders: a database of its own
	$(PY) bench/peers.py  # creates .venv-oscar from bench/requirements-oscar.txt on first run

clean:
	rm -rf $(VENV) db.sqlite3 var staticfiles node_modules vendor/static

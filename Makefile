# HealthSpace: `make run` to try it, `make test` to test it. See README.md.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python

.PHONY: run test bench lint format worker beat serve migrate messages compilemessages demo install clean

$(BIN)/.installed: requirements.txt requirements-dev.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt -c constraints.txt
	touch $@

install: $(BIN)/.installed

# A local .env with fresh secrets; never overwritten, never committed.
.env: | $(BIN)/.installed
	$(PY) -c "import secrets; from cryptography.fernet import Fernet; \
	print('# Written by make .env for local use. Not committed.'); \
	print('DEBUG=true'); \
	print('SECRET_KEY=' + secrets.token_urlsafe(50)); \
	print('FIELD_ENCRYPTION_KEY=' + Fernet.generate_key().decode())" > $@

compilemessages: $(BIN)/.installed .env
	$(PY) manage.py compilemessages --ignore=.venv --verbosity 0

migrate: $(BIN)/.installed .env
	mkdir -p var/static
	$(PY) manage.py migrate --no-input

demo: migrate
	$(PY) manage.py create_demo_patient
	$(PY) manage.py load_demo_records demo@example.com

run: compilemessages demo
	$(PY) manage.py check --database default
	@echo "HealthSpace on http://localhost:8000 (web, worker and beat; Ctrl-C stops them all)"
	$(BIN)/honcho start -f Procfile.dev

test: compilemessages
	$(BIN)/pytest

# Benchmarks print figures; they are not tests. Without DATABASE_URL they use their own SQLite file.
bench: compilemessages
	mkdir -p var/bench
	VAR_DIR=$${VAR_DIR:-$(CURDIR)/var/bench} $(PY) manage.py migrate --no-input --verbosity 0
	VAR_DIR=$${VAR_DIR:-$(CURDIR)/var/bench} $(PY) manage.py bench_records
	VAR_DIR=$${VAR_DIR:-$(CURDIR)/var/bench} $(PY) manage.py bench_integrations

lint: $(BIN)/.installed .env
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) manage.py check --fail-level WARNING

format: $(BIN)/.installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Update the French catalogue after changing strings: edit locale/fr/LC_MESSAGES/django.po, then commit it.
messages: $(BIN)/.installed .env
	$(PY) manage.py makemessages -l fr --ignore=.venv --ignore=var --no-obsolete

# Production-like processes (configure DATABASE_URL and REDIS_URL first).
worker: $(BIN)/.installed
	$(BIN)/celery -A healthspace worker --loglevel=INFO

beat: $(BIN)/.installed
	$(BIN)/celery -A healthspace beat --loglevel=INFO

serve: $(BIN)/.installed
	$(PY) manage.py collectstatic --no-input
	$(BIN)/gunicorn healthspace.asgi:application -k uvicorn_worker.UvicornWorker --bind 0.0.0.0:8000 --workers 3

clean:
	rm -rf $(VENV) var

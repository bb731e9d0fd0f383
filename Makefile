# One command to run the server with demo data, one to run the tests.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Where the SQLite database, the file cache and uploads live (git-ignored; made on first run).
VAR_DIR := $(or $(EBR_VAR_DIR),var)
PORT ?= 8000

.PHONY: relay run test lint format venv migrate demo clean bench worker

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

migrate: venv
	mkdir -p "$(VAR_DIR)"
	$(BIN)/python manage.py migrate --noinput

## demo: demo users (passwords printed) and, the first time only, 5 demo batches
demo: migrate
	$(BIN)/python manage.py seed_demo --batches 5 --once

## run: install, migrate, load demo data, serve on http://127.0.0.1:$(PORT) (PORT=8765 make run; Swagger UI at /api/docs/)
run: demo
	$(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

## test: the whole test suite (SQLite by default; set DATABASE_URL for PostgreSQL)
test: venv
	$(BIN)/python -m pytest

## bench: benchmarks on PostgreSQL (DATABASE_URL, default ebr_bench; seeded on first run), writes BENCHMARKS.md
bench: venv
	$(BIN)/python benchmarks/run.py

## worker: the background job worker (exports), on RabbitMQ (CELERY_BROKER_URL); see docs/jobs.md
worker: venv
	$(BIN)/celery -A config.celery worker --queues $${EBR_JOB_QUEUE:-exports} --concurrency 2 --loglevel INFO

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf "$(VAR_DIR)"

## relay: deliver domain events (outbox) to NATS JetStream and webhooks; run it next to the server
relay: migrate
	$(BIN)/python manage.py relay_events

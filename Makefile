# One-word developer loops; each delegates to the script the README shows.
.PHONY: setup run test lint bench bench-quick

setup:
	scripts/setup.sh test

run:
	scripts/run.sh

test:
	scripts/test.sh

lint: setup
	.venv/bin/ruff check src tests bench
	.venv/bin/lint-imports --config pyproject.toml --no-cache

bench: setup
	.venv/bin/python -m bench --full

bench-quick: setup
	.venv/bin/python -m bench --quick

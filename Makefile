# The few commands people type. Each is one `uv run` away too.
.PHONY: dev test lint openapi bench

dev:
	uv run ponte dev

test:
	uv run pytest

lint:
	uv run ruff check .
	uv run mypy

openapi:
	uv run ponte openapi

bench:  # every benchmark, then one table of ratios against their ceilings
	uv run python -m bench

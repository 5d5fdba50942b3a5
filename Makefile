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

bench:
	for b in api_throughput webhook_ingest insurer_import portal_sync document_delivery reconciliation scale_out; do \
		uv run python -m bench.$$b || exit 1; done

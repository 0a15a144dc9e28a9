.PHONY: run test setup lint fmt
run:
	scripts/run.sh
test:
	scripts/test.sh
setup:
	scripts/bootstrap.sh
lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .
fmt:
	.venv/bin/ruff format . && .venv/bin/ruff check --fix .

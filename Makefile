# The project's verbs. `make help` lists them.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PROTO_FILES := $(wildcard protos/marketplace/v1/*.proto)
GEN_DIR := generated
# The contracts with their comments (protoc's source info), read by the OpenAPI document and the docs pages.
SOURCE_INFO := source_info.binpb
# Import names of our own for the repository's folders, as setup.py maps them (name=folder). The wheel installs
# nothing called server, cli, interceptors or marketplace: other distributions own those names.
PACKAGES := mlmp_server=server mlmp_interceptors=interceptors mlmp_cli=cli mlmp_marketplace=generated/marketplace
TYPECHECK := build/typecheck
# protoc names generated modules after the proto package (`from mlmp_marketplace.v1 import common_pb2`, and the module
# names handed to the protobuf runtime); they install as mlmp_marketplace.v1. Proto names (marketplace.v1.Vendor,
# /marketplace.v1.AuthService/WhoAmI) and file names (marketplace/v1/auth.proto) stay: the wire does not change.
REWRITE_IMPORTS := import pathlib, re, sys; \
  pattern = re.compile(r"(?<![\w./])marketplace\.v1(?=\.\w+_pb2(?:_grpc)?\b|\s+import\b)"); \
  files = pathlib.Path(sys.argv[1]).rglob("*_pb2*.py*"); \
  [p.write_text(pattern.sub("mlmp_marketplace.v1", p.read_text())) for p in files]

.DEFAULT_GOAL := help

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.server-installed: pyproject.toml setup.py | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e '.[server]'
	@touch $@

$(VENV)/.dev-installed: pyproject.toml setup.py | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@ $(VENV)/.server-installed

install: $(VENV)/.server-installed ## install mp and mp-server into .venv

dev: $(VENV)/.dev-installed ## install everything a developer needs into .venv

run: $(VENV)/.server-installed ## start mp-server (gRPC 127.0.0.1:50051, REST 127.0.0.1:3010, SQLite in the data dir)
	$(VENV)/bin/mp-server

test: $(VENV)/.dev-installed ## run the whole suite: the fast tests on 2 workers, then the end-to-end tests one at a time
	$(PY) -m pytest -m 'not e2e' -n 2
	$(PY) -m pytest -m e2e

test-fast: $(VENV)/.dev-installed ## run the suite without the slow end-to-end tests (2 workers)
	$(PY) -m pytest -m 'not e2e' -n 2

protos: $(VENV)/.dev-installed ## regenerate generated/ from protos/
	$(MAKE) --no-print-directory _protoc OUT=$(GEN_DIR)

_protoc:
	$(PY) -m grpc_tools.protoc -I protos \
	  -I $$($(PY) -c 'import google.api.annotations_pb2 as a, pathlib; print(pathlib.Path(a.__file__).parents[2])') \
	  --plugin=protoc-gen-mypy=$(VENV)/bin/protoc-gen-mypy --plugin=protoc-gen-mypy_grpc=$(VENV)/bin/protoc-gen-mypy_grpc \
	  --python_out=$(OUT) --grpc_python_out=$(OUT) --mypy_out=quiet:$(OUT) --mypy_grpc_out=quiet:$(OUT) \
	  --descriptor_set_out=$(OUT)/marketplace/v1/$(SOURCE_INFO) --include_source_info $(PROTO_FILES)
	$(PY) -c '$(REWRITE_IMPORTS)' $(OUT)/marketplace

check-protos: $(VENV)/.dev-installed ## fail when generated/ differs from what protos/ produce
	@tmp=$$(mktemp -d); \
	$(MAKE) --no-print-directory -s _protoc OUT=$$tmp && \
	diff -r -x '__init__.py' -x '__pycache__' $$tmp/marketplace $(GEN_DIR)/marketplace \
	  && echo "generated/ matches protos/"; rc=$$?; rm -rf $$tmp; exit $$rc

DOCS_DIR := server/console/static/docs
docs: $(VENV)/.dev-installed ## regenerate the console's docs data: the CLI reference (from click) and the quickstart (from README.md)
	$(PY) -m mlmp_cli.reference > $(DOCS_DIR)/cli.json
	$(PY) -m mlmp_server.console.quickstart README.md > $(DOCS_DIR)/quickstart.json

check-docs: $(VENV)/.dev-installed ## fail when the console's docs data differ from what the CLI and README.md produce
	@tmp=$$(mktemp -d); \
	$(PY) -m mlmp_cli.reference > $$tmp/cli.json && $(PY) -m mlmp_server.console.quickstart README.md > $$tmp/quickstart.json && \
	diff -u $(DOCS_DIR)/cli.json $$tmp/cli.json && diff -u $(DOCS_DIR)/quickstart.json $$tmp/quickstart.json \
	  && echo "$(DOCS_DIR) matches the CLI and README.md (else: make docs)"; rc=$$?; rm -rf $$tmp; exit $$rc

lint: $(VENV)/.dev-installed typecheck-tree ## ruff, mypy and the import contracts (lint-imports)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# mypy maps a module to a file by folder name: build/typecheck/mlmp_server -> ../../server, and so on. Links to
# folders, so files added later are checked without rebuilding anything.
typecheck-tree:
	@mkdir -p $(TYPECHECK)
	@for pair in $(PACKAGES); do ln -sfn "../../$${pair#*=}" "$(TYPECHECK)/$${pair%%=*}"; done

bench: $(VENV)/.dev-installed ## print the benchmarks' figures
	$(PY) -m bench.auth_overhead
	$(PY) -m bench.gateway
	$(PY) -m bench.datasets
	$(PY) -m bench.downloads
	$(PY) -m bench.publish
	$(PY) -m bench.training
	$(PY) -m bench.signals
	$(PY) -m bench.fanout
	$(PY) -m bench.scoring
	$(PY) -m bench.memory
	$(PY) -m bench.console
	$(PY) -m bench.session_parent
	$(PY) -m bench.lists
	$(PY) -m bench.operations
	$(PY) -m bench.rate_limits
	$(PY) -m bench.feed_latency
	$(PY) -m bench.notifications

clean: ## remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .import_linter_cache build *.egg-info

.PHONY: help install dev run test test-fast protos _protoc check-protos docs check-docs lint typecheck-tree bench clean

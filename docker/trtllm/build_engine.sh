#!/usr/bin/env bash
# Serve a model with TensorRT-LLM for Switchboard's bot (llm_backend=openai, llm_url=http://<host>:8001/v1).
# Run it INSIDE NVIDIA's TensorRT-LLM release container (nvcr.io/nvidia/tensorrt-llm/release), on a
# host with an NVIDIA GPU; docker/compose.yaml mounts this directory at /opt/switchboard-trtllm:
#
#   docker compose -f docker/compose.yaml --profile gpu run --rm --service-ports trtllm \
#       bash /opt/switchboard-trtllm/build_engine.sh <command> ...
#
# Commands:
#   serve MODEL
#       Serve a Hugging Face checkpoint (a model id or a directory) directly with trtllm-serve's
#       PyTorch backend: no engine to build, the simplest path and the one compose.yaml uses.
#   build HF_DIR FAMILY OUT_DIR
#       Build a TensorRT engine: convert the Hugging Face checkpoint in HF_DIR with the model
#       family's convert_checkpoint.py (FAMILY is the examples directory name: llama, qwen, ...)
#       into OUT_DIR/checkpoint, then `trtllm-build` it into OUT_DIR/engine. An engine is tied to
#       the GPU model and TensorRT-LLM version it was built with: build it on the serving host.
#   serve-engine ENGINE_DIR TOKENIZER
#       Serve a built engine; TOKENIZER is the Hugging Face model (id or directory) it came from.
#
# Environment: TRTLLM_HOST (0.0.0.0), TRTLLM_PORT (8001), DTYPE (bfloat16), TP_SIZE (1, GPUs for
# tensor parallelism), MAX_BATCH_SIZE (16), MAX_SEQ_LEN (4096), TRTLLM_EXAMPLES (the container's
# examples directory, /app/tensorrt_llm/examples). Extra arguments after a command's own go to
# trtllm-serve, e.g. `--tool_parser <name>` on releases whose trtllm-serve parses tool calls (the
# bot's handoff tool needs it; see docs/llm.md).
#
# The commands follow TensorRT-LLM's documentation:
#   trtllm-serve:                  https://nvidia.github.io/TensorRT-LLM/commands/trtllm-serve.html
#   checkpoint -> engine workflow: https://nvidia.github.io/TensorRT-LLM/architecture/checkpoint.html
#   convert_checkpoint.py, trtllm-build example (LLaMA):
#     https://github.com/NVIDIA/TensorRT-LLM/blob/main/examples/models/core/llama/README.md
# Flags change between releases: check `trtllm-serve --help` and `trtllm-build --help` in your image.
# Not run where it was written (no GPU, no Docker engine): `bash -n` passed, and the argument
# handling was exercised with stand-ins for trtllm-serve and python3; the TensorRT-LLM steps were not.

set -euo pipefail

HOST="${TRTLLM_HOST:-0.0.0.0}"
PORT="${TRTLLM_PORT:-8001}"
EXAMPLES="${TRTLLM_EXAMPLES:-/app/tensorrt_llm/examples}"

usage() {
    sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}

# trtllm-serve's default backend changed: before 1.0 it served TensorRT engines unless told
# `--backend pytorch`; from 1.0 PyTorch is the default and engines need `--backend tensorrt`.
major_version() {
    python3 -c 'import tensorrt_llm; print(tensorrt_llm.__version__.split(".")[0])' 2>/dev/null | tail -n 1 || true
}

serve() {
    local model="$1"
    shift
    echo "serving ${model} with the PyTorch backend on ${HOST}:${PORT}" >&2
    exec trtllm-serve "${model}" --backend pytorch --host "${HOST}" --port "${PORT}" "$@"
}

build() {
    local hf_dir="$1" family="$2" out_dir="$3"
    local converter="${EXAMPLES}/models/core/${family}/convert_checkpoint.py"
    if [[ ! -f "${converter}" ]]; then
        converter="${EXAMPLES}/${family}/convert_checkpoint.py"  # the layout of older releases
    fi
    if [[ ! -f "${converter}" ]]; then
        echo "no convert_checkpoint.py for model family '${family}' under ${EXAMPLES}" >&2
        exit 1
    fi
    mkdir -p "${out_dir}"
    echo "converting ${hf_dir} (${family}) to a TensorRT-LLM checkpoint in ${out_dir}/checkpoint" >&2
    python3 "${converter}" \
        --model_dir "${hf_dir}" \
        --output_dir "${out_dir}/checkpoint" \
        --dtype "${DTYPE:-bfloat16}" \
        --tp_size "${TP_SIZE:-1}"
    echo "building the engine in ${out_dir}/engine" >&2
    trtllm-build \
        --checkpoint_dir "${out_dir}/checkpoint" \
        --output_dir "${out_dir}/engine" \
        --gemm_plugin auto \
        --max_batch_size "${MAX_BATCH_SIZE:-16}" \
        --max_seq_len "${MAX_SEQ_LEN:-4096}"
    echo "done: serve it with: $0 serve-engine ${out_dir}/engine ${hf_dir}" >&2
}

serve_engine() {
    local engine_dir="$1" tokenizer="$2"
    shift 2
    local major backend=()
    major="$(major_version)"
    if [[ "${major}" =~ ^[0-9]+$ ]] && (( major >= 1 )); then
        backend=(--backend tensorrt)
    fi
    echo "serving the engine ${engine_dir} on ${HOST}:${PORT}" >&2
    exec trtllm-serve "${engine_dir}" --tokenizer "${tokenizer}" ${backend[@]+"${backend[@]}"} \
        --host "${HOST}" --port "${PORT}" "$@"
}

command="${1:-}"
[[ $# -gt 0 ]] && shift
case "${command}" in
    serve)
        [[ $# -ge 1 ]] || usage
        serve "$@"
        ;;
    build)
        [[ $# -eq 3 ]] || usage
        build "$@"
        ;;
    serve-engine)
        [[ $# -ge 2 ]] || usage
        serve_engine "$@"
        ;;
    *)
        usage
        ;;
esac

#!/usr/bin/env bash
# tests/e2e/generate_paris.sh BUILD_DIR — the small default model answers a
# factual chat question: `seal generate --chat` on SmolLM2-135M-Instruct (GGUF
# Q4_1) must say that the capital of France is Paris. This exercises the GGUF
# loader, dequantisation, the tokenizer, the ChatML template, the KV cache and
# greedy decoding together; a fault in any of them turns the answer into
# something else. The model comes from scripts/fetch-model.sh (downloaded with
# pip on first use, then read from the cache).
set -euo pipefail

build=${1:?usage: generate_paris.sh BUILD_DIR}
seal="$build/seal"

fail() {
  echo "generate_paris: FAIL: $*" >&2
  exit 1
}

[ -x "$seal" ] || fail "$seal is not an executable (build the seal target first)"
model=$(scripts/fetch-model.sh) || fail "scripts/fetch-model.sh could not provide the model"
[ -s "$model" ] || fail "scripts/fetch-model.sh printed '$model', which is not a file"

tmp=$(mktemp -d /tmp/seal-e2e-paris-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

"$seal" generate --model "$model" --device cpu --chat \
  --prompt "What is the capital of France?" --max-tokens 32 >"$tmp/out.txt" 2>"$tmp/err.txt" ||
  { cat "$tmp/err.txt" >&2; fail "seal generate exited with status $?"; }

answer=$(cat "$tmp/out.txt")
[ -n "$answer" ] || { cat "$tmp/err.txt" >&2; fail "seal generate printed nothing"; }
grep -q "Paris" "$tmp/out.txt" || fail "the answer does not mention Paris: '$answer'"
# The reply must be the model's words, not the prompt echoed back.
if grep -q "What is the capital of France" "$tmp/out.txt"; then
  fail "the output repeats the question: '$answer'"
fi

echo "generate_paris: ok ($answer)"

#!/usr/bin/env bash
# tests/e2e/generate_prompts.sh BUILD_DIR — `seal generate --prompts FILE.jsonl`
# answers many prompts in one process exactly as one process per prompt does,
# on the tiny random Llama (tests/fixtures/tiny-seal), greedy:
#  - 11 prompts of different lengths, two of them with their own max_tokens,
#    a blank line between; one JSON line per prompt, in the file's order, each
#    text identical to `seal generate --prompt-file` of that prompt alone, at the
#    default --batch (8: batches of 8 and 1 for the shared max_tokens) and at
#    --batch 3, with and without a PEFT adapter (one `seal learn` writes, strong
#    enough that some answers change);
#  - a bad line fails with FILE:LINE and what was expected, before any answer.
set -euo pipefail

build=${1:?usage: generate_prompts.sh BUILD_DIR}
seal="$build/seal"
model=tests/fixtures/tiny-seal

fail() {
  echo "generate_prompts: FAIL: $*" >&2
  exit 1
}

[ -x "$seal" ] || fail "$seal is not an executable"
tmp=$(mktemp -d /tmp/seal-e2e-prompts-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# An adapter that changes answers: the fixture's inner loop at a large learning rate.
printf 'The tidal flats of Wenmouth were first mapped by Ilse Marrow in 1761.\n\nThe salt pans flood only during spring tides.' >"$tmp/flats.txt"
sed -e 's/^  lr: .*/  lr: 0.3/' -e 's/^  epochs: .*/  epochs: 4/' "$model/job.yaml" >"$tmp/job.yaml"
"$seal" learn --model "$model" --device cpu --job "$tmp/job.yaml" --docs "$tmp/flats.txt" \
  --output "$tmp/adapter" >"$tmp/learn.log" 2>&1 || { cat "$tmp/learn.log" >&2; fail "seal learn exited with $?"; }

prompts=("The tidal flats of" "Wenmouth" "Who mapped the salt pans of Wenmouth, and in which year did the spring tides first flood them?"
  "A" "The harbour of Kessel holds forty boats. Its lighthouse is" "1761" "Ilse Marrow was"
  "Question: what floods? Answer:" "salt" "The first map of the tidal flats was drawn in" "Once")
own_max=([3]=3 [8]=9) # prompts with their own max_tokens; the rest take --max-tokens 7
python3 - "$tmp/prompts.jsonl" "${prompts[@]}" <<'EOF'
import json, sys
out, prompts = sys.argv[1], sys.argv[2:]
own = {3: 3, 8: 9}
with open(out, "w") as f:
    for i, p in enumerate(prompts):
        o = {"prompt": p}
        if i in own: o["max_tokens"] = own[i]
        f.write(json.dumps(o) + "\n")
        if i == 4: f.write("\n")  # a blank line is skipped
EOF

# one_by_one OUT [OPTIONS...]: each prompt in its own process, one text a line (JSON-quoted)
one_by_one() {
  local out=$1
  shift
  : >"$out"
  for i in "${!prompts[@]}"; do
    printf '%s' "${prompts[$i]}" >"$tmp/p.txt"
    "$seal" generate --model "$model" --device cpu --prompt-file "$tmp/p.txt" \
      --max-tokens "${own_max[$i]:-7}" "$@" >"$tmp/one.txt" || fail "generate of prompt $i exited with $?"
    python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()[:-1]))' "$tmp/one.txt" >>"$out"
  done
}
# batched OUT [OPTIONS...]: all prompts in one process; the texts, one a line (JSON-quoted)
batched() {
  local out=$1
  shift
  "$seal" generate --model "$model" --device cpu --prompts "$tmp/prompts.jsonl" --max-tokens 7 \
    "$@" >"$tmp/many.jsonl" 2>"$tmp/many.err" || { local rc=$?; cat "$tmp/many.err" >&2; fail "--prompts $* exited with $rc"; }
  python3 - "$tmp/many.jsonl" "${#prompts[@]}" >"$out" <<'EOF' || fail "--prompts $*: bad output"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
n = int(sys.argv[2])
assert len(rows) == n, f"{len(rows)} lines for {n} prompts"
lines = [r["line"] for r in rows]
assert lines == list(range(1, 6)) + list(range(7, n + 2)), f"lines {lines}"
for i, r in enumerate(rows):
    assert set(r) == {"line", "text", "tokens", "stop"}, r
    limit = {3: 3, 8: 9}.get(i, 7)
    assert r["stop"] in ("eos", "length") and (r["stop"] == "eos") == (r["tokens"] < limit), r
    print(json.dumps(r["text"]))
EOF
}

for variant in base adapter; do
  case $variant in
    base) opts=() ;;
    adapter) opts=(--adapter "$tmp/adapter") ;;
  esac
  one_by_one "$tmp/$variant.one" "${opts[@]}"
  batched "$tmp/$variant.b8" "${opts[@]}"
  batched "$tmp/$variant.b3" --batch 3 "${opts[@]}"
  for b in b8 b3; do
    diff "$tmp/$variant.one" "$tmp/$variant.$b" >&2 ||
      fail "$variant: --prompts ($b) answers differ from one prompt per process"
  done
done
cmp -s "$tmp/base.one" "$tmp/adapter.one" && fail "the adapter changes no answer: the adapter case tests nothing"

# A bad line: FILE:LINE and what was expected, nothing printed on stdout.
{ head -2 "$tmp/prompts.jsonl"; echo '{"prompt": "x", "max_tokens": "7"}'; } >"$tmp/bad.jsonl"
if "$seal" generate --model "$model" --device cpu --prompts "$tmp/bad.jsonl" >"$tmp/bad.out" 2>"$tmp/bad.err"; then
  fail "a bad max_tokens was accepted"
fi
grep -qF "$tmp/bad.jsonl:3: \"max_tokens\" must be an integer" "$tmp/bad.err" || { cat "$tmp/bad.err" >&2; fail "the error does not name FILE:3 and max_tokens"; }
[ ! -s "$tmp/bad.out" ] || fail "answers were printed before the bad line was refused"
echo '{"prompt": "x", "temperature": 1}' >"$tmp/bad.jsonl"
"$seal" generate --model "$model" --device cpu --prompts "$tmp/bad.jsonl" 2>"$tmp/bad.err" && fail "an unknown key was accepted"
grep -qF "$tmp/bad.jsonl:1: unknown key \"temperature\"" "$tmp/bad.err" || { cat "$tmp/bad.err" >&2; fail "the unknown key is not named"; }

echo "generate_prompts: ok (${#prompts[@]} prompts, base and adapter, batch 8 and 3)"

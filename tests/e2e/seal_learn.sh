#!/usr/bin/env bash
# tests/e2e/seal_learn.sh BUILD_DIR — `seal learn` on the tiny random Llama
# (tests/fixtures/tiny-seal) with three documents, the second of which writes an
# empty self-edit (the job's testing.blank_selfedit hook):
#  - --each: a progress line per document and phase, the second reported as
#    SKIPPED (never trained: no update file, trained false in the state), the
#    adapter's rank the sum of the two trained documents' ranks;
#  - the adapter reloaded by `seal score --adapter` gives the loss learn itself
#    reported for the learned model (--each and --all), and the merged
#    checkpoint of --merge gives it under `seal score --model` alone;
#  - `seal generate --adapter` runs with it;
#  - stopped (status 3) after a self-edit, after the first training, and (--all)
#    between the phases, then --resume: the adapter is bit-identical to the
#    uninterrupted one;
#  - --policy RUN_DIR (a 1-round tiny run): other self-edits than the base's,
#    and the student is still the base (its adapter scores on the base model as
#    learn reported);
#  - --resume with other documents, another mode or seed, and a second learn into
#    the same DIR without --resume, are refused.
set -euo pipefail

build=${1:?usage: seal_learn.sh BUILD_DIR}
seal="$build/seal"
model=tests/fixtures/tiny-seal

fail() {
  echo "seal_learn: FAIL: $*" >&2
  exit 1
}

[ -x "$seal" ] || fail "$seal is not an executable"
tmp=$(mktemp -d /tmp/seal-e2e-learn-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

printf 'The tidal flats of Wenmouth were first mapped by Ilse Marrow in 1761.\n\nThe salt pans flood only during spring tides.' >"$tmp/flats.txt"
printf 'Nothing will be written about this one.' >"$tmp/blank.txt"
printf '# Harbour\n\nThe harbour of Kessel holds forty boats.\nIts lighthouse is painted red.' >"$tmp/harbour.md"
docs=("$tmp/flats.txt" "$tmp/blank.txt" "$tmp/harbour.md")
job="$tmp/job.yaml"
{ cat "$model/job.yaml"; printf 'testing:\n  blank_selfedit: 1\n'; } >"$job"

learn() { # learn OUT_DIR [OPTIONS...]; output in OUT_DIR.log
  local out=$1
  shift
  "$seal" learn --model "$model" --device cpu --job "$job" --docs "${docs[@]}" --output "$out" \
    "$@" >"$out.log" 2>&1
}
# The loss learn printed for a file: "  FILE: mean loss of ... model L (N tokens)".
learned_loss() { grep -F "  $2: mean loss" "$1.log" | awk '{print $(NF-2)}'; }
score_loss() { # score_loss TEXT [OPTIONS...]
  local text=$1
  shift
  "$seal" score --device cpu --text "$text" --quiet "$@" | awk '/^tokens /{print $5}'
}

# --each, with the skipped document
learn "$tmp/each" || { cat "$tmp/each.log" >&2; fail "learn --each exited with $?"; }
log="$tmp/each.log"
[ "$(grep -c 'self-edit written' "$log")" = 2 ] || { cat "$log" >&2; fail "two self-edit lines expected"; }
grep -q '^\[2/3\] blank: SKIPPED: no usable self-edit' "$log" || { cat "$log" >&2; fail "the blank document is not reported as skipped"; }
[ "$(grep -c 'merged$' "$log")" = 2 ] || { cat "$log" >&2; fail "two trainings expected"; }
grep -q '1 of 3 document(s) skipped' "$log" || fail "no summary of the skipped document"
[ -f "$tmp/each/learn/doc-0000.safetensors" ] && [ -f "$tmp/each/learn/doc-0002.safetensors" ] ||
  fail "the trained documents' updates are missing"
[ ! -e "$tmp/each/learn/doc-0001.safetensors" ] || fail "the skipped document was trained"
python3 - "$tmp/each/learn-state.json" <<'EOF' || fail "learn-state.json does not record the skip"
import json, sys
st = json.load(open(sys.argv[1]))
assert [d["trained"] for d in st["documents"]] == [True, False, True], st
assert st["documents"][1]["reason"], st
EOF
grep -q '"r": 8' "$tmp/each/adapter_config.json" || fail "the adapter's rank is not 2 x 4"

each_loss=$(learned_loss "$tmp/each" "$tmp/flats.txt")
[ -n "$each_loss" ] || { cat "$log" >&2; fail "learn printed no loss for flats.txt"; }
got=$(score_loss "$tmp/flats.txt" --model "$model" --adapter "$tmp/each")
[ "$got" = "$each_loss" ] || fail "--each: seal score --adapter gives $got, learn reported $each_loss"
base=$(score_loss "$tmp/flats.txt" --model "$model")
[ "$base" != "$each_loss" ] || fail "the adapter changes nothing (loss $base either way)"
"$seal" generate --device cpu --model "$model" --adapter "$tmp/each" --prompt "The tidal" \
  --max-tokens 4 >/dev/null || fail "seal generate --adapter failed"

# --merge: the merged checkpoint scores as learn reported
learn "$tmp/merged" --merge || { cat "$tmp/merged.log" >&2; fail "learn --merge exited with $?"; }
[ -f "$tmp/merged/model.safetensors" ] && [ -f "$tmp/merged/config.json" ] || fail "no merged checkpoint"
got=$(score_loss "$tmp/flats.txt" --model "$tmp/merged")
[ "$got" = "$(learned_loss "$tmp/merged" "$tmp/flats.txt")" ] || fail "--merge: seal score gives $got"

# --all
learn "$tmp/all" --all || { cat "$tmp/all.log" >&2; fail "learn --all exited with $?"; }
grep -q '^\[3/3\] all documents: one LoRA on' "$tmp/all.log" || { cat "$tmp/all.log" >&2; fail "no --all training line"; }
grep -q '"r": 4' "$tmp/all/adapter_config.json" || fail "--all: the adapter's rank is not 4"
got=$(score_loss "$tmp/harbour.md" --model "$model" --adapter "$tmp/all")
want=$(learned_loss "$tmp/all" "$tmp/harbour.md")
[ -n "$want" ] && [ "$got" = "$want" ] || fail "--all: seal score --adapter gives $got, learn reported $want"

# stopped and resumed: the same bits
resume_case() { # resume_case NAME STOP_AFTER REFERENCE_DIR [OPTIONS...]
  local name=$1 stop=$2 ref=$3
  shift 3
  local rc=0
  learn "$tmp/$name" --stop-after "$stop" "$@" || rc=$?
  [ "$rc" = 3 ] || { cat "$tmp/$name.log" >&2; fail "$name: stopped learn exited with $rc, not 3"; }
  [ ! -e "$tmp/$name/adapter_model.safetensors" ] || fail "$name: an adapter before the end"
  learn "$tmp/$name" --resume "$@" || { cat "$tmp/$name.log" >&2; fail "$name: resume failed"; }
  grep -q '^resuming ' "$tmp/$name.log" || fail "$name: the resume does not say so"
  cmp -s "$tmp/$name/adapter_model.safetensors" "$ref/adapter_model.safetensors" ||
    fail "$name: the resumed adapter differs from the uninterrupted one"
}
resume_case each-stop1 1 "$tmp/each"
resume_case each-stop4 4 "$tmp/each"
resume_case all-stop3 3 "$tmp/all" --all

# the policy of a run writes the self-edits; the base learns
sed -e 's/^rounds: 2/rounds: 1/' "$model/job.yaml" >"$tmp/train.yaml"
"$seal" train "$tmp/train.yaml" --output "$tmp/run" >"$tmp/train.log" 2>&1 || { tail "$tmp/train.log" >&2; fail "train"; }
learn "$tmp/policy" --policy "$tmp/run" || { cat "$tmp/policy.log" >&2; fail "learn --policy exited with $?"; }
grep -q "self-edits by the policy of $tmp/run/checkpoint.h5 (1 round(s) merged)" "$tmp/policy.log" ||
  { cat "$tmp/policy.log" >&2; fail "learn --policy does not say whose self-edits"; }
python3 - "$tmp/policy/learn-state.json" "$tmp/each/learn-state.json" <<'EOF' || fail "the policy wrote the base's self-edits"
import json, sys
a, b = (json.load(open(f))["documents"] for f in sys.argv[1:])
assert a[0]["selfedit"] != b[0]["selfedit"], a[0]["selfedit"]
EOF
got=$(score_loss "$tmp/flats.txt" --model "$model" --adapter "$tmp/policy")
[ "$got" = "$(learned_loss "$tmp/policy" "$tmp/flats.txt")" ] ||
  fail "--policy: the adapter does not fit the base model (score $got)"

# refusals
if learn "$tmp/all" --resume; then fail "--resume with --each of an --all learn was accepted"; fi
grep -q 'that learn ran with --all, not --each' "$tmp/all.log" || { cat "$tmp/all.log" >&2; fail "no clear refusal of another mode"; }
if "$seal" learn --model "$model" --device cpu --job "$job" --docs "$tmp/flats.txt" \
  --output "$tmp/each" --resume >"$tmp/other.log" 2>&1; then
  fail "--resume with other documents was accepted"
fi
grep -q 'that learn had 3 document(s), this one has 1' "$tmp/other.log" || { cat "$tmp/other.log" >&2; fail "no clear refusal of other documents"; }
sed -e 's/^seed: 7/seed: 8/' "$job" >"$tmp/seed8.yaml"
if "$seal" learn --model "$model" --device cpu --job "$tmp/seed8.yaml" --docs "${docs[@]}" \
  --output "$tmp/each" --resume >"$tmp/seed.log" 2>&1; then
  fail "--resume under another seed was accepted"
fi
grep -q "that learn's seed is 7, the job's is 8" "$tmp/seed.log" || { cat "$tmp/seed.log" >&2; fail "no clear refusal of another seed"; }
if learn "$tmp/each"; then fail "a second learn into the same DIR was accepted"; fi
grep -q 'already holds a learn' "$tmp/each.log" || fail "no clear refusal of a second learn"

echo "seal_learn: ok"

#!/usr/bin/env bash
# tests/e2e/score_perplexity.sh BUILD_DIR — `seal score` on a fixed English
# paragraph (data/perf/paragraph.txt) with SmolLM2-135M-Instruct (GGUF Q4_1):
#  - the perplexity lies in a narrow band around the reference value: Hugging
#    Face transformers, loading the same GGUF file in float32, gives 30.319 on
#    this file (docs/perf.md), and seal gave 30.319 on CPU. A broken RoPE, norm,
#    tokenizer or dequantisation moves it far outside [27, 34];
#  - one line per scored token is printed, and the per-token losses agree with
#    the summary's mean loss;
#  - a missing text file is an error (non-zero exit) that names the file.
set -euo pipefail

build=${1:?usage: score_perplexity.sh BUILD_DIR}
seal="$build/seal"
text=data/perf/paragraph.txt

fail() {
  echo "score_perplexity: FAIL: $*" >&2
  exit 1
}

[ -x "$seal" ] || fail "$seal is not an executable (build the seal target first)"
[ -s "$text" ] || fail "$text is missing (run from the source root)"
model=$(scripts/fetch-model.sh) || fail "scripts/fetch-model.sh could not provide the model"

tmp=$(mktemp -d /tmp/seal-e2e-score-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

"$seal" score --model "$model" --device cpu --text "$text" >"$tmp/out.txt" 2>"$tmp/err.txt" ||
  { cat "$tmp/err.txt" >&2; fail "seal score exited with status $?"; }

summary=$(grep '^tokens ' "$tmp/out.txt") || { cat "$tmp/out.txt" >&2; fail "no summary line"; }
# "tokens N  mean loss L  perplexity P  (...)"
read -r count mean ppl < <(awk '{print $2, $5, $7}' <<<"$summary")

# the perplexity band
awk -v p="$ppl" 'BEGIN { exit !(p >= 27 && p <= 34) }' ||
  fail "perplexity $ppl is outside [27, 34] (reference 30.319): $summary"

# one line per scored token: "pos token loss text", positions 1..count.
# (No {n} intervals in the patterns: mawk, Debian's default awk, lacks them.)
row='^ +[0-9]+ +[0-9]+ +[0-9]+[.][0-9][0-9][0-9][0-9]'
lines=$(grep -cE "$row" "$tmp/out.txt" || true)
[ "$lines" -eq "$count" ] || fail "$lines per-token lines for $count scored tokens"
awk -v n="$count" -v row="$row" '$0 ~ row { k++; if ($1 != k) bad = 1 }
  END { exit (bad || k != n) }' "$tmp/out.txt" || fail "per-token positions are not 1..$count"
# their mean is the summary's mean loss (to the printed precision)
awk -v m="$mean" -v row="$row" '$0 ~ row { s += $3; k++ }
  END { d = s / k - m; if (d < 0) d = -d; exit !(d < 5e-4) }' "$tmp/out.txt" ||
  fail "the per-token losses do not average to the mean loss $mean"

# --quiet prints only the summary, with the same numbers
"$seal" score --model "$model" --device cpu --text "$text" --quiet >"$tmp/quiet.txt" ||
  fail "seal score --quiet exited with status $?"
[ "$(wc -l <"$tmp/quiet.txt")" -eq 1 ] || fail "--quiet printed more than the summary line"
grep -qF "perplexity $ppl" "$tmp/quiet.txt" || fail "--quiet gave another perplexity: $(cat "$tmp/quiet.txt")"

# a missing file: non-zero exit, the file named on stderr
missing="$tmp/no-such-paragraph.txt"
status=0
"$seal" score --model "$model" --device cpu --text "$missing" >"$tmp/out2.txt" 2>"$tmp/err2.txt" ||
  status=$?
[ "$status" -ne 0 ] || fail "seal score on a missing file exited with status 0"
grep -qF "$missing" "$tmp/err2.txt" || fail "the error does not name $missing: $(cat "$tmp/err2.txt")"

echo "score_perplexity: ok (perplexity $ppl over $count tokens)"

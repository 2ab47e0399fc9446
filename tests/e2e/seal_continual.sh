#!/usr/bin/env bash
# tests/e2e/seal_continual.sh BUILD_DIR — the continual protocol of `seal eval`
# (evaluation.protocols: [continual]) on the tiny random Llama, 2 sequences of 3
# of 4 passages, beside single-passage. The passages' gold answers are a word
# the random model sometimes says ("re"), so that accuracies differ from passage
# to passage and the checks below mean something. It checks the bookkeeping:
#  - one continual row, for the condition with self-edits only;
#  - the matrix's counts: 2 sequences, 3 passages, N values before, i+1 after
#    update i (the diagonal measured, nothing above it); distinct passages;
#  - every sequence's before-row is the base model's single-passage accuracy
#    of those passages (so each sequence starts from the unchanged model);
#  - the means, the forgetting (after its own update minus at the end) and the
#    row's accuracy (over the last update's row) agree with the per-sequence
#    numbers; the table is printed and the heatmap written;
#  - 2 ranks give the same matrix as 1;
#  - continual.guard (mode retry, one retry) with update 1 made harmful on
#    purpose (testing.harmful_update): beside the unguarded row, a
#    continual+guard row on the same passages and seeds; where the harmful
#    update costs the first passage accuracy unguarded, the guard retried once
#    and refused it, and the first passage keeps its accuracy; step 0 is the
#    same with and without the guard;
#  - the guard's KL check alone (continual.guard.max_kl 0.05, max_drop 1 so the
#    drop check can refuse nothing, mode refuse): the harmful update 1 is
#    refused, the harmless ones merged, every measured KL on the side of the
#    threshold its verdict says; over the probe passages' own texts (nothing
#    to measure at step 0) and over a fixed continual.guard.kl_text (measured
#    at step 0 too).
set -euo pipefail

build=${1:?usage: seal_continual.sh BUILD_DIR}
build=$(cd "$build" && pwd)
seal="$build/seal"
tmp=$(mktemp -d /tmp/seal-e2e-continual-XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
fail() {
  echo "seal_continual: FAIL: $*" >&2
  exit 1
}

python3 - "$tmp/data.json" <<'EOF'
import json, sys
passages = [
    ("Velmora Saltworks", "The Velmora Saltworks stand on the eastern shore of the Isle of Drenn. Salt is gathered in forty-two shallow pans."),
    ("Kessel Harbour", "The harbour of Kessel holds forty boats. Its lighthouse is painted red and was built in 1802."),
    ("Orrin Vale", "Orrin Vale is a valley of orchards. Its pears ripen in late October and are sold in the town of Marl."),
    ("The Drenn Bell", "The bell of Drenn rings at dawn. It was cast from the bronze of an old ship's anchor."),
]
data = [{"title": t, "context": c,
         "questions": [{"question": f"Which letter is question {k} of {t} about?", "answer": "re"}
                       for k in range(3)]} for t, c in passages]
json.dump(data, open(sys.argv[1], "w"), indent=1)
EOF
sed -e 's/^rounds: 2/rounds: 0/' -e 's/^  n_eval: 2/  n_eval: 4/' \
  -e "s#tests/fixtures/tiny-seal/data.json#$tmp/data.json#" \
  -e 's/protocols: \[single-passage\]/protocols: [single-passage, continual]/' \
  tests/fixtures/tiny-seal/job.yaml >"$tmp/job.yaml"
printf 'continual:\n  sequences: 2\n  length: 3\n' >>"$tmp/job.yaml"
grep -q 'continual\]' "$tmp/job.yaml" || fail "could not set the protocols in the test job"

for n in 1 2; do
  mpiexec --oversubscribe --bind-to none -n "$n" "$seal" eval "$tmp/job.yaml" --output "$tmp/run$n" \
    >"$tmp/eval$n.txt" 2>"$tmp/eval$n.err" || { cat "$tmp/eval$n.err" >&2; fail "eval on $n rank(s)"; }
done
out="$tmp/eval1.txt"
grep -Eq '^seal-round-0 +continual +3 +[0-9.]+% ' "$out" || { cat "$out" >&2; fail "no continual row"; }
[ "$(grep -c ' continual ' "$out")" = 1 ] || { cat "$out" >&2; fail "continual rows for conditions without self-edits"; }
grep -q '^before ' "$out" && grep -q '^after 2 ' "$out" && grep -q '^forgetting ' "$out" ||
  { cat "$out" >&2; fail "the matrix is not printed"; }
grep -q '<svg' "$tmp/run1/continual-seal-round-0.svg" || fail "no heatmap beside the round plot"

python3 - "$tmp/run1/eval.json" "$tmp/run2/eval.json" <<'EOF' || fail "the matrix's bookkeeping is wrong (above)"
import json, math, sys
rows = json.load(open(sys.argv[1]))
base = {x["context"]: x["reward"] for r in rows
        if r["condition"] == "base" and r["protocol"] == "single-passage" for x in r["per_context"]}
[row] = [r for r in rows if r["protocol"] == "continual"]
m = row["continual"]
S, N = m["sequences"], m["passages"]
assert (S, N) == (2, 3), (S, N)
seqs, per = m["per_sequence"], row["per_context"]
assert len(seqs) == S and len(per) == S, (len(seqs), len(per))
varied = set()
for s in range(S):
    ps = per[s]["passages"]
    assert len(ps) == N and len(set(ps)) == N and all(0 <= p < 4 for p in ps), ps
    b, a = seqs[s]["before"], seqs[s]["after"]
    assert len(b) == N and None not in b, b
    for i in range(N):
        assert len(a[i]) == N and None not in a[i][: i + 1] and a[i][i + 1:] == [None] * (N - 1 - i), a
    for j in range(N):
        assert b[j] == base[ps[j]], f"sequence {s} passage {ps[j]}: before {b[j]}, base {base[ps[j]]}"
        assert seqs[s]["forgetting"][j] == a[j][j] - a[N - 1][j], seqs[s]
    varied |= set(b) | {v for r in a for v in r if v is not None}
assert len(varied) > 1, f"every accuracy is {varied}: the test data no longer tells cells apart"
def mean(v): return sum(v) / len(v)
for j in range(N):
    assert math.isclose(m["before"][j], mean([q["before"][j] for q in seqs])), m["before"]
    for i in range(j, N):
        assert math.isclose(m["after"][i][j], mean([q["after"][i][j] for q in seqs])), m["after"]
    assert math.isclose(m["forgetting"][j], m["after"][j][j] - m["after"][N - 1][j]), m["forgetting"]
assert math.isclose(row["accuracy"], mean(m["after"][N - 1])), (row["accuracy"], m["after"])
two = [r for r in json.load(open(sys.argv[2])) if r["protocol"] == "continual"][0]
assert two["continual"] == m and two["per_context"] == per, "2 ranks give another matrix"
EOF
# the guard, against an update made harmful on purpose
{ sed -e 's/protocols: \[single-passage, continual\]/protocols: [continual]/' "$tmp/job.yaml"
  printf '  guard: {mode: retry, retries: 1, max_drop: 0.1, probe: 2}\ntesting:\n  harmful_update: 1\n'; } >"$tmp/guard.yaml"
"$seal" eval "$tmp/guard.yaml" --output "$tmp/guard" >"$tmp/guard.txt" 2>"$tmp/guard.err" ||
  { cat "$tmp/guard.err" >&2; fail "eval with the guard"; }
grep -Eq '^seal-round-0 +continual\+guard +3 ' "$tmp/guard.txt" || { cat "$tmp/guard.txt" >&2; fail "no continual+guard row"; }
grep -q '<svg' "$tmp/guard/continual-guard-seal-round-0.svg" || fail "no heatmap of the guarded matrix"
python3 - "$tmp/guard/eval.json" <<'EOF' || fail "the guard did not stop the harmful update (above)"
import json, sys
rows = {r["protocol"]: r for r in json.load(open(sys.argv[1]))}
plain, guarded = rows["continual"], rows["continual+guard"]
harmed = 0
for s, (p, g) in enumerate(zip(plain["continual"]["per_sequence"], guarded["continual"]["per_sequence"])):
    info = guarded["per_context"][s]
    assert info["passages"] == plain["per_context"][s]["passages"], "other passages with the guard"
    assert p["before"] == g["before"] and p["after"][0] == g["after"][0], "step 0 differs"
    if p["after"][1][0] < p["after"][0][0] - 0.1:
        harmed += 1
        assert 1 in info["guard_refused"] and info["guard_retries"] >= 1, info
        assert g["after"][1][0] == g["after"][0][0], (s, g["after"])
assert harmed, "the harmful update harmed no sequence: the test shows nothing"
EOF
# the KL check alone, over the probe's passages and over a fixed text
printf 'The ferry to Marl leaves at noon. Its deck is painted green, and its captain keeps a goat.\n' >"$tmp/fixed.txt"
for text in probe fixed; do
  guard='{mode: refuse, max_drop: 1, probe: 2, max_kl: 0.05}'
  [ "$text" = probe ] || guard="{mode: refuse, max_drop: 1, probe: 2, max_kl: 0.05, kl_text: $tmp/fixed.txt}"
  { sed -e 's/protocols: \[single-passage, continual\]/protocols: [continual]/' "$tmp/job.yaml"
    printf '  guard: %s\ntesting:\n  harmful_update: 1\n' "$guard"; } >"$tmp/kl-$text.yaml"
  "$seal" eval "$tmp/kl-$text.yaml" --output "$tmp/kl-$text" >"$tmp/kl-$text.txt" 2>"$tmp/kl-$text.err" ||
    { cat "$tmp/kl-$text.err" >&2; fail "eval with the KL guard ($text)"; }
  python3 - "$tmp/kl-$text/eval.json" "$text" <<'EOF' || fail "the KL check ($text) did not refuse the harmful update alone (above)"
import json, sys
text = sys.argv[2]
guarded = {r["protocol"]: r for r in json.load(open(sys.argv[1]))}["continual+guard"]
for info in guarded["per_context"]:
    kl = info["guard_kl"]
    assert len(kl) == 3 and info["guard_refused"] == [1], info
    assert (kl[0] == []) == (text == "probe"), info  # step 0 has no probe passages
    for k, tried in enumerate(kl):
        assert len(tried) <= 1, info  # refuse: one try per step
        for v in tried:
            assert (v > 0.05) == (k == 1) and v > 0, (k, info)
    assert kl[1], info  # the harmful update was measured
EOF
done
echo "seal_continual: ok"

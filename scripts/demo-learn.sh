#!/usr/bin/env bash
# make demo-learn: `seal learn` on the demo's evaluation passages (data/demo/eval.json)
# with the demo's inner loop (jobs/demo.yaml), the self-edits written by the demo's
# trained policy when runs/demo holds one (make demo), else by the base model; then
# every demo question asked with `seal generate` before (the base) and after
# (--adapter), the two answers side by side with their grades ("contains", as the
# demo job grades).
# All questions go to one `seal generate --prompts` process before and one after.
#
#   SEAL_DEMO_LEARN_OUTPUT  where the adapter goes (default runs/demo-learn)
#   SEAL_DEMO_LEARN_JOB     the job (default jobs/demo.yaml): its selfedit,
#                           inner_loop and answer settings
#   SEAL_DEMO_POLICY        a run directory for --policy ("" for the base;
#                           default runs/demo when its checkpoint exists)
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
model=$(bash scripts/fetch-model.sh)
job=${SEAL_DEMO_LEARN_JOB:-jobs/demo.yaml}
docs=data/demo/eval.json
out=${SEAL_DEMO_LEARN_OUTPUT:-runs/demo-learn}
policy=${SEAL_DEMO_POLICY-}
[ -n "${SEAL_DEMO_POLICY+set}" ] || { [ -f runs/demo/checkpoint.h5 ] && policy=runs/demo; }
policy_opt=()
[ -z "$policy" ] || policy_opt=(--policy "$policy")
echo "demo-learn: model $model, self-edits by ${policy:-the base model}" >&2
rm -rf "$out"
start=$(date +%s)
"$build/seal" learn --model "$model" --job "$job" --docs "$docs" --output "$out" --each \
  "${policy_opt[@]}"

python3 - "$build/seal" "$model" "$job" "$docs" "$out" <<'EOF'
import json, re, string, subprocess, sys, tempfile

seal, model, job, docs, adapter = sys.argv[1:]
passages = json.load(open(docs))

def normalize(s):  # SQuAD's normalisation, as evaluator/grade.c does it
    s = "".join(c for c in s.lower() if c not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())

def contains(answer, gold):
    g = normalize(gold)
    return f" {g} " in f" {normalize(answer)} " if g else not normalize(answer)

def first_line(text):
    return next((l.strip() for l in text.splitlines() if l.strip()), "")

def ask_all(queries, extra):  # every question in one `seal generate --prompts`
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl") as f:
        for q in queries:
            f.write(json.dumps({"prompt": q["prompt"], "max_tokens": q["max_tokens"]}) + "\n")
        f.flush()
        r = subprocess.run([seal, "generate", "--model", model, "--prompts", f.name, *extra],
                           capture_output=True, text=True, check=True)
    return [first_line(json.loads(l)["text"]) for l in r.stdout.splitlines()]

questions = []  # (passage index, passage, its query, its question)
for i, p in enumerate(passages):
    show = subprocess.run([seal, "show", job, "--split", "eval", "--context", str(i)],
                          capture_output=True, text=True, check=True).stdout
    queries = [json.loads(l) for l in show.splitlines() if '"what":"query"' in l]
    questions += [(i, p, q, qa) for q, qa in zip(queries, p["questions"])]
befores = ask_all([q for _, _, q, _ in questions], [])
afters = ask_all([q for _, _, q, _ in questions], ["--adapter", adapter])

right = [0, 0]
total = 0
shown = None
for (i, p, q, qa), before, after in zip(questions, befores, afters):
    if i != shown:
        shown = i
        print(f"\n== {p['title']}")
    ok = [contains(before, qa["answer"]), contains(after, qa["answer"])]
    right = [right[0] + ok[0], right[1] + ok[1]]
    total += 1
    mark = lambda b: "yes" if b else "no "
    print(f"Q: {qa['question']}  (gold: {qa['answer']})")
    print(f"   before [{mark(ok[0])}] {before[:70]}")
    print(f"   after  [{mark(ok[1])}] {after[:70]}")
print(f"\ncorrect before: {right[0]}/{total}, after: {right[1]}/{total}")
EOF
echo "demo-learn: finished in $(($(date +%s) - start))s; adapter $out" >&2

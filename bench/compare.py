#!/usr/bin/env python3
"""bench/compare.py — seal and PyTorch side by side, from the JSON lines that
`seal bench --json` and bench/pytorch_baseline.py print (issue 14's targets).

  python3 bench/compare.py --seal seal.jsonl --torch pytorch.jsonl \
      [--model-bytes N] [--bandwidth 4.3e12] [--checks checks.tsv]

Prints one markdown table: measurement, shape, seal ms, PyTorch ms, speed-up
(PyTorch time / seal time), the target and whether it is met. PyTorch's
generate() rows include the prompt's prefill, so seal's decode rows get the
prefill row of the same batch and prompt added before the ratio is taken.
--model-bytes (the bf16 weights read per decoded token) adds the batch-1
decode's share of the bandwidth limit. --checks prepends a table of
name<TAB>result lines (the correctness steps of scripts/gpu-check.sh).
Standard library only.
"""
import argparse
import json
import sys

# (name, shape) -> (what the speed-up must reach, how the issue states it)
TARGETS = {
    ("sft_step", "B1xT256"): (2.0, "<= 0.5x PyTorch's time"),
    ("sft_step", "B8xT512"): (2.0, "<= 0.5x PyTorch's time"),
    ("decode_greedy", "B1"): (10.0, ">= 10x generate"),
    ("decode_sample", "B16"): (8.0, ">= 8x generate"),
    ("prefill", "B8xT512"): (1.2, ">= 1.2x"),
}


def read(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    pass
    return rows


def key(r):
    """(name, shape) with decode shapes reduced to the batch ("B1")."""
    shape = r["shape"]
    if r["name"].startswith("decode"):
        shape = shape.split("x")[0]
    return r["name"], shape


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--seal", required=True)
    ap.add_argument("--torch", required=True)
    ap.add_argument("--model-bytes", type=float, default=0)
    ap.add_argument("--bandwidth", type=float, default=4.3e12,
                    help="bytes/s the card moves (KINDS.md measured 4.3e12 on an H200)")
    ap.add_argument("--checks")
    a = ap.parse_args(argv)
    if a.checks:
        print("| check | result |\n|---|---|")
        with open(a.checks) as f:
            for line in f:
                if "\t" in line:
                    name, result = line.rstrip("\n").split("\t", 1)
                    print(f"| {name} | {result} |")
        print()
    seal, torch = read(a.seal), read(a.torch)
    prefill = {}  # (batch, prompt tokens) -> ms, from seal's prefill rows
    for r in seal:
        if r["name"] == "prefill":
            b, t = r["shape"][1:].split("xT")
            prefill[(int(b), int(t))] = r["ms"]
    by_key = {key(r): r for r in torch if "ms" in r}
    print("| measurement | shape | seal ms | PyTorch ms | speed-up | target | met |")
    print("|---|---|---:|---:|---:|---|---|")
    missed = 0
    for r in seal:
        if r["name"] == "load":
            continue
        k = key(r)
        ms = r["ms"]
        note = ""
        if r["name"].startswith("decode"):
            b, rest = r["shape"][1:].split("xT")
            p = int(rest.split("+")[0])
            if (int(b), p) in prefill:
                ms += prefill[(int(b), p)]
                note = " (+prefill)"
        t = by_key.get(k)
        tms = t["ms"] if t else None
        ratio = tms / ms if tms else None
        target, said = TARGETS.get(k, (None, ""))
        met = "-" if target is None or ratio is None else ("yes" if ratio >= target else "NO")
        missed += met == "NO"
        print(f"| {r['name']}{note} | {r['shape']} | {ms:.2f} | "
              f"{'-' if tms is None else f'{tms:.2f}'} | "
              f"{'-' if ratio is None else f'{ratio:.2f}x'} | {said} | {met} |")
        if k == ("decode_greedy", "B1") and a.model_bytes > 0:
            per_token = r["ms"] / 1e3 / max(1, r["tokens"])
            share = a.model_bytes / per_token / a.bandwidth
            met = "yes" if share >= 0.7 else "NO"
            missed += met == "NO"
            print(f"| decode_greedy bandwidth | {r['shape']} | {1e3 * per_token:.3f}/token | - | "
                  f"{100 * share:.0f}% of {a.bandwidth / 1e12:.1f} TB/s | >= 70% | {met} |")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())

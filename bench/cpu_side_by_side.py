#!/usr/bin/env python3
"""bench/cpu_side_by_side.py — seal, PyTorch + PEFT and llama.cpp on one CPU, on the
same model and shapes (issue 15, item 4). bench/cpu-side-by-side.sh makes the
virtual environment and calls this file; run it by hand only inside that venv.

Modes:
  convert GGUF OUT_DIR       dequantise the GGUF (transformers + gguf) to an HF f32
                             checkpoint with its tokenizer, once; PyTorch loads that
  torch   --hf DIR ...       the PyTorch + PEFT worker: one JSON line per measurement
  llama   --gguf FILE ...    the llama.cpp worker (llama-cpp-python), same JSON keys
  run     --seal BIN ...     the driver: R interleaved rounds of the three workers
                             (one process each per round), then one Markdown table

What every implementation times, so that the rows compare like with like:
  prefill BbxTP    one forward of b rows of P tokens that fills an empty KV cache and
                   computes the last position's logits (seal_forward_infer; HF with
                   use_cache and logits_to_keep=1; llama_decode of the prompt)
  decode BbxTP+N   N greedy steps after that prefill, one token per row per step,
                   argmax on the host side of each step, no stop at EOS; the prefill
                   is not included (PyTorch runs its own KV-cache loop rather than
                   generate(), whose per-step logits processors would only add time)
  sft_step BbxTT   zero grads, forward with next-token loss, backward, grad-norm clip
                   1.0, AdamW (lr 1e-4, no weight decay), LoRA rank r alpha 2r on all
                   seven projections (PEFT's LoRA layers on the f32 model)
Token ids are the model's own tokenization of the text cmd/bench.c uses, repeated to
the lengths asked for. Each worker does one untimed warm-up of every measurement,
then --repeats timed runs; the driver keeps each round's median, and the table shows
the median over rounds. Peak memory is each worker process's maximum resident set
(getrusage of the child, from os.wait4), the largest over rounds.
"""
import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time

# The text of cmd/bench.c (bench_text), so that every implementation sees the same ids.
BENCH_TEXT = (
    "The river runs past the mill and under the stone bridge before it reaches the sea. "
    "In spring the water is high and fast, and the fishermen wait on the bank for the "
    "current to slow. Their children learn to mend nets, to read the weather in the clouds "
    "over the hills, and to tell one bird from another by its call. ")

ALL_PROJ = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

# Shapes: prompt P, new tokens N, decode/prefill batches, SFT lengths (batch 1), LoRA r.
FULL = dict(prompt=64, new=128, batches=[1, 8], sft_tokens=[256, 40], lora_r=32)
SMOKE = dict(prompt=8, new=4, batches=[1, 2], sft_tokens=[16, 8], lora_r=4)


def emit(rec):
    print(json.dumps(rec), flush=True)


def timed(fn, repeats):
    """Median, min, max seconds of fn() over `repeats` runs after one warm-up."""
    fn()
    secs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        secs.append(time.perf_counter() - t0)
    return statistics.median(secs), min(secs), max(secs)


def record(impl, name, shape, batch, tokens, stat):
    med, lo, hi = stat
    return dict(impl=impl, name=name, shape=shape, batch=batch, tokens=tokens,
                ms=round(1e3 * med, 3), min_ms=round(1e3 * lo, 3), max_ms=round(1e3 * hi, 3),
                tokens_per_s=round(tokens / med, 1) if tokens else 0)


def repeat_ids(text_ids, n):
    return [text_ids[i % len(text_ids)] for i in range(n)]


# ---- convert -------------------------------------------------------------------------


def quiet_transformers():
    """No progress bars on the workers' stderr (the driver's log stays readable)."""
    from transformers.utils import logging

    logging.disable_progress_bar()
    logging.set_verbosity_error()


def cmd_convert(a):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quiet_transformers()
    gdir, gname = os.path.split(os.path.abspath(a.gguf))
    tok = AutoTokenizer.from_pretrained(gdir, gguf_file=gname)
    model = AutoModelForCausalLM.from_pretrained(gdir, gguf_file=gname, dtype=torch.float32)
    # transformers marks a GGUF-loaded model as quantized and will not save it, though
    # its weights are plain f32 by now: copy them into an unmarked model of the config.
    cfg = model.config
    if hasattr(cfg, "quantization_config"):
        del cfg.quantization_config
    plain = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    plain.load_state_dict(model.state_dict())
    tmp = a.out + ".part"
    plain.save_pretrained(tmp, safe_serialization=True)
    tok.save_pretrained(tmp)
    os.replace(tmp, a.out)  # a half-written checkpoint never has the final name
    print(f"cpu_side_by_side.py: wrote {a.out}", file=sys.stderr)


# ---- PyTorch + PEFT worker -----------------------------------------------------------


def cmd_torch(a):
    import torch
    import transformers
    import peft
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quiet_transformers()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    emit(dict(impl="pytorch", name="versions", torch=torch.__version__,
              transformers=transformers.__version__, peft=peft.__version__,
              torch_threads=torch.get_num_threads()))
    tok = AutoTokenizer.from_pretrained(a.hf)
    model = AutoModelForCausalLM.from_pretrained(a.hf, dtype=torch.float32)
    model.config._attn_implementation = "sdpa"
    model.eval()
    text_ids = tok(BENCH_TEXT, add_special_tokens=True)["input_ids"]
    P, N = a.prompt, a.new
    for B in a.batches:
        ids = torch.tensor(repeat_ids(text_ids, B * P)).view(B, P)  # [B, P]
        torch_infer(model, ids, B, P, N, a.repeats)
    for T in a.sft_tokens:
        torch_sft(model, text_ids, T, a.lora_r, a.repeats)


def cache_name(model):
    """The KV cache's keyword and output field: `cache` since transformers 5.x renamed
    `past_key_values` (which still works there, with a warning, until 5.40)."""
    import inspect

    params = inspect.signature(model.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def torch_prefill(model, ids):
    import torch

    with torch.no_grad():
        out = model(input_ids=ids, use_cache=True, logits_to_keep=1)
    return out[cache_name(model)], out.logits[:, -1].argmax(-1, keepdim=True)  # [B, 1]


def torch_infer(model, ids, B, P, N, repeats):
    import torch

    emit(record("pytorch", "prefill", f"B{B}xT{P}", B, B * P,
                timed(lambda: torch_prefill(model, ids), repeats)))
    state, kv = {}, cache_name(model)

    def prefill_then_mark():
        state["cache"], state["next"] = torch_prefill(model, ids)

    def decode():
        cache, nxt = state["cache"], state["next"]
        with torch.no_grad():
            for _ in range(N):
                out = model(input_ids=nxt, use_cache=True, logits_to_keep=1, **{kv: cache})
                cache = out[kv]
                nxt = out.logits[:, -1].argmax(-1, keepdim=True)  # [B, 1]

    # Every run decodes from a fresh prefill (untimed), as seal bench does.
    secs = []
    for rep in range(repeats + 1):
        prefill_then_mark()
        t0 = time.perf_counter()
        decode()
        if rep > 0:
            secs.append(time.perf_counter() - t0)
    stat = (statistics.median(secs), min(secs), max(secs))
    emit(record("pytorch", "decode_greedy", f"B{B}xT{P}+{N}", B, B * N, stat))


def torch_sft(model, text_ids, T, r, repeats):
    import torch
    import peft

    cfg = peft.LoraConfig(r=r, lora_alpha=2 * r, lora_dropout=0.0, target_modules=ALL_PROJ,
                          bias="none", task_type="CAUSAL_LM")
    pm = peft.get_peft_model(model, cfg)
    pm.train()
    params = [p for p in pm.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0)
    ids = torch.tensor(repeat_ids(text_ids, T)).view(1, T)  # [1, T]
    losses = []

    def step():
        opt.zero_grad(set_to_none=True)
        out = pm(input_ids=ids, labels=ids, use_cache=False)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        losses.append(float(out.loss.detach()))

    rec = record("pytorch", "sft_step", f"B1xT{T}", 1, T, timed(step, repeats))
    rec.update(lora_r=r, lora_params=sum(p.numel() for p in params), loss_first=losses[0],
               loss_last=losses[-1])
    emit(rec)
    pm.unload()  # the base model back, without this adapter, for the next shape


# ---- llama.cpp worker ----------------------------------------------------------------


def cmd_llama(a):
    import numpy as np
    import llama_cpp

    emit(dict(impl="llama.cpp", name="versions", llama_cpp_python=llama_cpp.__version__))
    P, N = a.prompt, a.new
    llm = llama_cpp.Llama(model_path=a.gguf, n_ctx=P + N + 8, n_batch=max(P, 64),
                          n_threads=a.threads, n_threads_batch=a.threads, logits_all=False,
                          verbose=False)
    text_ids = llm.tokenize(BENCH_TEXT.encode(), add_bos=True, special=False)
    ids = repeat_ids(text_ids, P)

    def prefill():
        llm.reset()
        llm.eval(ids)

    n_vocab = llm.n_vocab()

    def last_argmax():
        # logits_all=False leaves Llama.scores unfilled: read the last decode's row.
        row = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
        return int(np.argmax(np.ctypeslib.as_array(row, shape=(n_vocab,))))

    def decode():
        for _ in range(N):
            llm.eval([last_argmax()])

    # Batch 1 only: llama-cpp-python's Llama holds one sequence; more rows would take
    # its low-level batch API, which is not how its users run it.
    emit(record("llama.cpp", "prefill", f"B1xT{P}", 1, P, timed(prefill, a.repeats)))
    secs = []
    for rep in range(a.repeats + 1):
        prefill()
        t0 = time.perf_counter()
        decode()
        if rep > 0:
            secs.append(time.perf_counter() - t0)
    emit(record("llama.cpp", "decode_greedy", f"B1xT{P}+{N}", 1, N,
                (statistics.median(secs), min(secs), max(secs))))


# ---- driver --------------------------------------------------------------------------


def run_child(argv, env):
    """Runs one worker; returns (its JSON records, peak RSS in bytes, exit status)."""
    print("+ " + " ".join(argv), file=sys.stderr, flush=True)
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, env=env, text=True)
    out = p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen.wait
    recs = []
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                recs.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    return recs, usage.ru_maxrss * 1024, p.returncode  # ru_maxrss is in KiB on Linux


def seal_commands(a, s):
    common = [a.seal, "bench", "--model", a.gguf, "--device", "cpu", "--json",
              "--repeats", str(a.repeats), "--lora-r", str(s["lora_r"])]
    main = common + ["--prompt-tokens", str(s["prompt"]), "--new-tokens", str(s["new"]),
                     "--batch", ",".join(map(str, s["batches"])),
                     "--train-tokens", str(s["sft_tokens"][0])]
    cmds = [main]
    for T in s["sft_tokens"][1:]:  # the other SFT lengths; its prefill/decode are dropped
        cmds.append(common + ["--prompt-tokens", "4", "--new-tokens", "1", "--batch", "1",
                              "--train-tokens", str(T)])
    return cmds


def worker_commands(a, s, impl):
    if impl == "seal":
        return seal_commands(a, s)
    shape = ["--prompt", str(s["prompt"]), "--new", str(s["new"]), "--repeats", str(a.repeats),
             "--threads", str(a.threads)]
    me = [sys.executable, os.path.abspath(__file__)]
    if impl == "pytorch":
        return [me + ["torch", "--hf", a.hf, "--batches", ",".join(map(str, s["batches"])),
                      "--sft-tokens", ",".join(map(str, s["sft_tokens"])),
                      "--lora-r", str(s["lora_r"])] + shape]
    return [me + ["llama", "--gguf", a.gguf] + shape]


def cmd_run(a):
    s = SMOKE if a.smoke else FULL
    impls = ["seal", "pytorch"] + ([] if a.skip_llama else ["llama.cpp"])
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
    raw = open(a.raw, "w") if a.raw else None
    # (impl, name, shape) -> per-round medians; impl -> peak RSS; impl -> versions
    times, peak, versions, failed = {}, {}, {}, []
    load_start = open("/proc/loadavg").read().split()[:3]
    t_start = time.time()
    for rnd in range(a.rounds):
        order = impls[rnd % len(impls):] + impls[:rnd % len(impls)]  # rotate: no fixed slot
        for impl in order:
            for i, argv in enumerate(worker_commands(a, s, impl)):
                recs, rss, rc = run_child(argv, env)
                if rc != 0:
                    failed.append(f"{impl} round {rnd} exited {rc}: {' '.join(argv)}")
                peak[impl] = max(peak.get(impl, 0), rss)
                for r in recs:
                    r.setdefault("impl", impl)
                    r["round"] = rnd
                    if raw:
                        raw.write(json.dumps(r) + "\n")
                    if r.get("name") == "versions":
                        versions[impl] = r
                        continue
                    if r.get("name") == "load" or "ms" not in r:
                        continue
                    if impl == "seal" and i > 0 and r["name"] != "sft_step":
                        continue  # the extra SFT-length runs' small prefill/decode
                    times.setdefault((impl, r["name"], r["shape"]), []).append(r["ms"])
    if raw:
        raw.close()
    print_table(a, s, impls, times, peak, versions, load_start, time.time() - t_start)
    for f in failed:
        print(f"FAILED: {f}", file=sys.stderr)
    return 1 if failed else 0


def cpu_facts():
    model, flags = "?", set()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        m = re.search(r"^Model name:\s*(.+)$", out, re.M)
        model = m.group(1).strip() if m else model
        m = re.search(r"^Flags:\s*(.+)$", out, re.M)
        flags = set(m.group(1).split()) if m else flags
    except OSError:
        pass
    wanted = ["avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16",
              "avx_vnni", "amx_tile", "amx_bf16", "amx_int8"]
    return model, [f for f in wanted if f in flags]


def blas_of(binary):
    try:
        out = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
    except OSError:
        return "?"
    libs = [line.split("=>")[1].split("(")[0].strip() for line in out.splitlines()
            if "=>" in line and re.search(r"blas|blis|dnnl|mkl", line)]
    resolved = [os.path.realpath(p) for p in libs if p]
    return ", ".join(sorted(set(resolved))) or "none linked"


def seal_commit(binary):
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        return subprocess.run(["git", "-C", here, "describe", "--always", "--dirty"],
                              capture_output=True, text=True).stdout.strip() or "?"
    except OSError:
        return "?"


def fmt_ms(v):
    return "–" if v is None else f"{v:,.1f}" if v < 100 else f"{v:,.0f}"


def fmt_ratio(x, y):
    return "–" if x is None or y is None or y == 0 else f"{x / y:.2f}"


def print_table(a, s, impls, times, peak, versions, load_start, wall):
    P, N = s["prompt"], s["new"]
    rows = []
    for B in s["batches"]:
        rows.append((f"prefill B{B}x{P}, ms", "prefill", f"B{B}xT{P}"))
    for B in s["batches"]:
        rows.append((f"decode B{B}, {N} tokens after {P}, ms", "decode_greedy",
                     f"B{B}xT{P}+{N}"))
    for T in s["sft_tokens"]:
        rows.append((f"LoRA r{s['lora_r']} all-projection SFT step B1xT{T}, ms", "sft_step",
                     f"B1xT{T}"))

    def med(impl, name, shape):
        v = times.get((impl, name, shape))
        return statistics.median(v) if v else None

    model, flags = cpu_facts()
    tv, lv = versions.get("pytorch", {}), versions.get("llama.cpp", {})
    print(f"## {datetime.date.today().isoformat()}, CPU side by side"
          f"{' (--smoke: tiny shapes, numbers mean nothing)' if a.smoke else ''}\n")
    print(f"- machine: {model}; {os.cpu_count()} CPUs; flags: {' '.join(flags) or 'none of note'}")
    print(f"- threads: {a.threads} (OMP_NUM_THREADS for seal, torch.set_num_threads, "
          f"llama.cpp n_threads); OPENBLAS_CORETYPE="
          f"{os.environ.get('OPENBLAS_CORETYPE', 'unset')}")
    print(f"- seal {seal_commit(a.seal)} ({a.seal}); BLAS: {blas_of(a.seal)}")
    print(f"- PyTorch {tv.get('torch', '?')}, transformers {tv.get('transformers', '?')}, "
          f"PEFT {tv.get('peft', '?')} (f32 checkpoint dequantised from the GGUF); "
          f"llama-cpp-python {lv.get('llama_cpp_python', 'not run' if a.skip_llama else '?')}"
          f" (the Q4_1 GGUF); Python {platform.python_version()}")
    if a.command:
        print(f"- command: `{a.command}`")
    print(f"- model: {os.path.basename(a.gguf)}; {a.rounds} interleaved round(s), "
          f"{a.repeats} timed repeat(s) per measurement per round after a warm-up")
    print(f"- load average at start {' '.join(load_start)}, at end "
          f"{' '.join(open('/proc/loadavg').read().split()[:3])}; {wall:.0f} s in all\n")
    print(f"| row (median of {a.rounds} interleaved round(s)) | seal | PyTorch | llama.cpp | "
          "seal / PyTorch | seal / llama.cpp |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, name, shape in rows:
        v = {i: med(i, name, shape) for i in ("seal", "pytorch", "llama.cpp")}
        print(f"| {label} | {fmt_ms(v['seal'])} | {fmt_ms(v['pytorch'])} | "
              f"{fmt_ms(v['llama.cpp'])} | {fmt_ratio(v['seal'], v['pytorch'])} | "
              f"{fmt_ratio(v['seal'], v['llama.cpp'])} |")
    gb = {i: peak[i] / 1e9 if i in peak else None for i in ("seal", "pytorch", "llama.cpp")}

    def fmt_gb(x):
        return "–" if x is None else f"{x:.2f} GB"

    print(f"| peak memory (max RSS) of a benchmark process | {fmt_gb(gb['seal'])} | "
          f"{fmt_gb(gb['pytorch'])} | {fmt_gb(gb['llama.cpp'])} | "
          f"{fmt_ratio(gb['seal'], gb['pytorch'])} | {fmt_ratio(gb['seal'], gb['llama.cpp'])} |")
    print("\nRatios are seal's time (or memory) over the other's: below 1 means seal is "
          "faster (smaller). '–': not measured (llama.cpp runs batch 1 inference only).")


# ---- command line --------------------------------------------------------------------


def int_list(text):
    try:
        vals = [int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a comma-separated list of integers")
    if not vals or min(vals) < 1:
        raise argparse.ArgumentTypeError(f"'{text}': every value must be at least 1")
    return vals


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    c = sub.add_parser("convert")
    c.add_argument("gguf")
    c.add_argument("out")
    for name in ("torch", "llama"):
        w = sub.add_parser(name)
        w.add_argument("--hf" if name == "torch" else "--gguf", required=True)
        w.add_argument("--prompt", type=int, required=True)
        w.add_argument("--new", type=int, required=True)
        w.add_argument("--repeats", type=int, default=1)
        w.add_argument("--threads", type=int, default=os.cpu_count())
        if name == "torch":
            w.add_argument("--batches", type=int_list, required=True)
            w.add_argument("--sft-tokens", type=int_list, required=True)
            w.add_argument("--lora-r", type=int, required=True)
    r = sub.add_parser("run")
    r.add_argument("--seal", required=True, help="the seal binary")
    r.add_argument("--gguf", required=True, help="the GGUF model (seal and llama.cpp)")
    r.add_argument("--hf", required=True, help="its f32 HF checkpoint (PyTorch), from convert")
    r.add_argument("--rounds", type=int, default=4)
    r.add_argument("--repeats", type=int, default=1)
    r.add_argument("--threads", type=int, default=os.cpu_count())
    r.add_argument("--smoke", action="store_true", help="tiny shapes")
    r.add_argument("--skip-llama", action="store_true")
    r.add_argument("--raw", help="also write every worker record (JSON lines) here")
    r.add_argument("--command", help="the command line to print in the table's header")
    a = ap.parse_args(argv)
    for field in ("rounds", "repeats", "threads", "prompt", "new", "lora_r"):
        if getattr(a, field, 1) < 1:
            ap.error(f"--{field.replace('_', '-')} must be at least 1")
    return {"convert": cmd_convert, "torch": cmd_torch, "llama": cmd_llama,
            "run": cmd_run}[a.mode](a) or 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""bench/cpu_side_by_side.py — seal, PyTorch + PEFT and llama.cpp on one CPU, on the
same model and shapes (issue 15, item 4). bench/cpu-side-by-side.sh makes the
virtual environment and calls this file; run it by hand only inside that venv.

Modes:
  convert GGUF OUT_DIR       dequantise the GGUF (transformers + gguf) to an HF f32
                             checkpoint with its tokenizer, once; PyTorch loads that
  torch   --hf DIR ...       the PyTorch + PEFT worker: one JSON line per measurement
  torch-uow --hf DIR --fixture FILE ...
                             SEAL's unit of work with PyTorch + PEFT: one knowledge
                             self-edit evaluation (inner loop and answering) from
                             the fixture seal's `bench --unit-of-work` runs; one line
  llama   --gguf FILE ...    the llama.cpp worker (llama-cpp-python), same JSON keys
  run     --seal BIN ...     the driver: R interleaved rounds of the workers (one
                             process each per round: seal, seal on cpu:q8 and on
                             cpu:q4, PyTorch, llama.cpp), then one Markdown table

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
  unit_of_work     one knowledge self-edit evaluation from bench/unit-of-work.json (the
                   demo job's inner loop: LoRA r16 alpha 32 on the seven projections,
                   5 epochs at batch 1, AdamW lr 3e-3 linear, clip 1.0; then greedy
                   answers of at most 24 tokens with the adapter, graded `contains`):
                   training s and answering s, no warm-up (seal: `seal bench
                   --unit-of-work`, the trainer's own seal_inner_evaluate; PyTorch:
                   cmd_torch_uow below); --smoke runs it at 1 epoch. With --threads
                   above 1 it also runs per core, as a job on a many-core box runs it
                   (seal's demo: one MPI rank per core): --threads one-thread processes
                   at once, seal's and then PyTorch's, each evaluation costing its own
                   seconds of one core (--skip-per-core leaves that row out)
seal (cpu:q8) is seal with the base matrices in int8 blocks (`--device cpu:q8`), seal
(cpu:q4) in 4-bit blocks (`--device cpu:q4`, the file's own Q4_1): each its own worker,
prefill and decode at batch 1 only (the rows llama.cpp has), in rows of its own.
Token ids are the model's own tokenization of the text cmd/bench.c uses, repeated to
the lengths asked for (the unit of work: of the fixture's texts; the driver checks
that seal's and PyTorch's ids are the same). Each worker does one untimed warm-up of every measurement,
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
# uow_epochs: the unit of work's inner-loop epochs (None: the fixture's, the demo's 5).
FULL = dict(prompt=64, new=128, batches=[1, 8], sft_tokens=[256, 40], lora_r=32, uow_epochs=None)
SMOKE = dict(prompt=8, new=4, batches=[1, 2], sft_tokens=[16, 8], lora_r=4, uow_epochs=1)
UNIT_OF_WORK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "unit-of-work.json")


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


# ---- PyTorch + PEFT: SEAL's unit of work -------------------------------------------
# One knowledge self-edit evaluation from the fixture (bench/unit-of-work.json), the
# loop of trainer/inner.c written with PyTorch + PEFT: a fresh LoRA trained on the
# fixture's examples (every token but the first carries loss, as seal's knowledge
# plans do: loss_from 0), then greedy answers with the adapter, graded as seal does.

SHORT_TO_PROJ = {"q": "q_proj", "k": "k_proj", "v": "v_proj", "o": "o_proj",
                 "gate": "gate_proj", "up": "up_proj", "down": "down_proj"}


def squad_normalize(text):
    """evaluator/grade.c's seal_squad_normalize: SQuAD's normalize_answer."""
    import string

    text = "".join(c for c in text.lower() if c not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def answer_from_completion(completion):
    """evaluator/knowledge.c's seal_answer_from_completion: the first non-empty line."""
    lines = completion.split("\n")
    for i, line in enumerate(lines):
        if line.strip() or i == len(lines) - 1:
            return line.strip()
    return ""


def grade_answer(mode, answer, gold):
    p, g = squad_normalize(answer), squad_normalize(gold)
    if mode == "em":
        return p == g
    if mode == "contains":
        return p == "" if g == "" else f" {g} " in f" {p} "
    raise ValueError(f"grading '{mode}' is not implemented in the PyTorch loop")


def cmd_torch_uow(a):
    import torch
    import peft
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quiet_transformers()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    fx = json.load(open(a.fixture))
    inner = fx["inner_loop"]
    if "examples" not in fx or "prompts" not in fx:
        sys.exit(f"{a.fixture}: the PyTorch loop needs its examples and prompts")
    epochs = a.epochs or inner["epochs"]
    targets = ALL_PROJ if inner["targets"] == "all" else [
        SHORT_TO_PROJ.get(t.strip(), t.strip()) for t in inner["targets"].split(",")]
    tok = AutoTokenizer.from_pretrained(a.hf)
    model = AutoModelForCausalLM.from_pretrained(a.hf, dtype=torch.float32)
    model.config._attn_implementation = "sdpa"
    # The ids seal_engine_encode_prompt makes (checked against seal's by the driver).
    ex_ids = [tok(t, add_special_tokens=True)["input_ids"] for t in fx["examples"]]
    pr_ids = [tok(t, add_special_tokens=True)["input_ids"] for t in fx["prompts"]]
    recs = []
    for _ in range(a.repeats):  # each with a fresh adapter, as seal's repeats
        recs.append(torch_uow_once(a, fx, epochs, targets, tok, model, ex_ids, pr_ids))
    rec = recs[-1]
    rec["repeats"] = a.repeats
    for key in ("train_s", "answer_s", "ms"):
        rec[key] = statistics.median(r[key] for r in recs)
    emit(rec)


def torch_uow_once(a, fx, epochs, targets, tok, model, ex_ids, pr_ids):
    import torch
    import peft

    inner = fx["inner_loop"]
    cfg = peft.LoraConfig(r=inner["r"], lora_alpha=inner["alpha"], lora_dropout=0.0,
                          target_modules=targets, bias="none", task_type="CAUSAL_LM")
    pm = peft.get_peft_model(model, cfg)
    params = [p for p in pm.parameters() if p.requires_grad]
    rows = [torch.tensor(x).view(1, -1) for x in ex_ids]  # each [1, n]

    def loss_of(ids):  # mean next-token loss over all but the first token
        return pm(input_ids=ids, labels=ids, use_cache=False).loss

    with torch.no_grad():  # LoRA B = 0: the base model's loss on the same tokens
        pm.eval()
        base = sum(float(loss_of(x)) * (x.shape[1] - 1) for x in rows)
        loss_tokens = sum(x.shape[1] - 1 for x in rows)
    bs = inner["batch_size"]
    per_epoch = (len(rows) + bs - 1) // bs
    total = epochs * per_epoch
    pm.train()
    t0 = time.perf_counter()
    opt = torch.optim.AdamW(params, lr=inner["lr"], betas=(0.9, 0.999), eps=1e-8,
                            weight_decay=inner["weight_decay"])
    sched = {"constant": lambda s: 1.0, "linear": lambda s: max(0.0, 1.0 - s / total)}[
        inner["schedule"]] if inner["warmup_steps"] == 0 else None
    if sched is None:
        sys.exit(f"{a.fixture}: inner_loop.warmup_steps > 0 is not implemented here")
    lr_sched = torch.optim.lr_scheduler.LambdaLR(opt, sched)
    order = list(range(len(rows)))
    rng = __import__("random").Random(fx.get("seed", 0))
    losses, tokens = [], 0
    for _ in range(epochs):
        rng.shuffle(order)  # seal reshuffles every epoch too (its own generator)
        for s in range(per_epoch):
            batch = [rows[i] for i in order[s * bs:(s + 1) * bs]]
            opt.zero_grad(set_to_none=True)
            n_loss = sum(x.shape[1] - 1 for x in batch)
            # the mean over every loss-bearing token of the batch, as seal's
            loss = sum(loss_of(x) * (x.shape[1] - 1) for x in batch) / n_loss
            loss.backward()
            if inner["grad_clip"] > 0:
                torch.nn.utils.clip_grad_norm_(params, inner["grad_clip"])
            opt.step()
            lr_sched.step()
            losses.append(float(loss.detach()))
            tokens += sum(x.shape[1] for x in batch)
    train_s = time.perf_counter() - t0

    pm.eval()
    t1 = time.perf_counter()
    stop = [i for i in {tok.eos_token_id, tok.convert_tokens_to_ids("<|im_end|>"),
                        tok.convert_tokens_to_ids("<|endoftext|>")} if i is not None and i >= 0]
    pad = tok.pad_token_id if tok.pad_token_id is not None else stop[0]
    P = max(len(x) for x in pr_ids)
    ids = torch.tensor([[pad] * (P - len(x)) + x for x in pr_ids])  # [Q, P], left-padded
    mask = torch.tensor([[0] * (P - len(x)) + [1] * len(x) for x in pr_ids])  # [Q, P]
    with torch.no_grad():
        out = pm.generate(input_ids=ids, attention_mask=mask, do_sample=False,
                          max_new_tokens=fx["answer_max_tokens"], eos_token_id=stop,
                          pad_token_id=pad, num_beams=1)
    completions = []
    for row in out[:, P:].tolist():
        cut = next((i for i, t in enumerate(row) if t in stop), len(row))
        completions.append(tok.decode(row[:cut], skip_special_tokens=True))
    golds = [q["answer"] if isinstance(q.get("answer"), str) else q["answers"]
             for q in fx["passage"]["questions"]]
    correct = []
    for c, g in zip(completions, golds):
        ans = answer_from_completion(c)
        gl = [g] if isinstance(g, str) else g
        correct.append(any(grade_answer(fx["grading"], ans, x) for x in gl))
    answer_s = time.perf_counter() - t1
    pm.unload()  # the base model back, without this adapter
    return (dict(impl="pytorch", name="unit_of_work", train_s=round(train_s, 4),
              answer_s=round(answer_s, 4), ms=round(1e3 * (train_s + answer_s), 3),
              steps=len(losses), examples=len(rows), tokens=tokens,
              loss_tokens=epochs * loss_tokens, base_loss=base / loss_tokens,
              first_loss=losses[0], last_loss=losses[-1], questions=len(pr_ids),
              correct=sum(correct),
              answers=[dict(answer=answer_from_completion(c), correct=k)
                       for c, k in zip(completions, correct)],
              example_ids=ex_ids, prompt_ids=pr_ids))


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
    if a.unit_of_work:
        cmds.append(uow_command(a, s, "seal", a.threads))
    for T in s["sft_tokens"][1:]:  # the other SFT lengths; its prefill/decode are dropped
        cmds.append(common + ["--prompt-tokens", "4", "--new-tokens", "1", "--batch", "1",
                              "--train-tokens", str(T)])
    return cmds


# The compact-weight workers: impl -> its seal device.
QUANT_DEVICES = {"seal-q8": "cpu:q8", "seal-q4": "cpu:q4"}


def seal_quant_commands(a, s, device):
    """seal on cpu:q8 or cpu:q4: prefill and decode at batch 1; its SFT step (4 tokens)
    is dropped."""
    return [[a.seal, "bench", "--model", a.gguf, "--device", device, "--json", "--repeats",
             str(a.repeats), "--lora-r", str(s["lora_r"]), "--prompt-tokens", str(s["prompt"]),
             "--new-tokens", str(s["new"]), "--batch", "1", "--train-tokens", "4"]]


def uow_command(a, s, impl, threads):
    """The unit-of-work worker of impl (seal or pytorch) at the given thread count."""
    epochs = ["--epochs", str(s["uow_epochs"])] if s["uow_epochs"] else []
    if impl == "seal":
        return [a.seal, "bench", "--model", a.gguf, "--device", "cpu", "--json", "--repeats",
                str(a.repeats), "--unit-of-work", a.unit_of_work] + epochs
    return [sys.executable, os.path.abspath(__file__), "torch-uow", "--hf", a.hf, "--fixture",
            a.unit_of_work, "--threads", str(threads), "--repeats", str(a.repeats)] + epochs


def run_per_core(a, s, impl, env):
    """The unit of work as a job on a many-core box runs it: --threads processes of one
    thread each, started together (seal's demo runs one MPI rank per core so; the same
    for PyTorch's loop). Returns every process's unit-of-work records and the failures."""
    one = dict(env, OMP_NUM_THREADS="1")
    argv = uow_command(a, s, impl, 1)
    print(f"+ {a.threads} at once: " + " ".join(argv), file=sys.stderr, flush=True)
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, env=one, text=True)
             for _ in range(a.threads)]
    recs, failed = [], []
    for p in procs:
        out, _ = p.communicate()
        if p.returncode != 0:
            failed.append(f"{impl} per-core unit of work exited {p.returncode}: {' '.join(argv)}")
        for line in out.splitlines():
            try:
                r = json.loads(line) if line.startswith("{") else None
            except json.JSONDecodeError:
                r = None
            if r and r.get("name") == "unit_of_work":
                recs.append(r)
    return recs, failed


def worker_commands(a, s, impl):
    if impl == "seal":
        return seal_commands(a, s)
    if impl in QUANT_DEVICES:
        return seal_quant_commands(a, s, QUANT_DEVICES[impl])
    shape = ["--prompt", str(s["prompt"]), "--new", str(s["new"]), "--repeats", str(a.repeats),
             "--threads", str(a.threads)]
    me = [sys.executable, os.path.abspath(__file__)]
    if impl == "pytorch":
        cmds = [me + ["torch", "--hf", a.hf, "--batches", ",".join(map(str, s["batches"])),
                      "--sft-tokens", ",".join(map(str, s["sft_tokens"])),
                      "--lora-r", str(s["lora_r"])] + shape]
        if a.unit_of_work:  # its own process, as seal's: its own peak memory and warm-up
            cmds.append(uow_command(a, s, "pytorch", a.threads))
        return cmds
    return [me + ["llama", "--gguf", a.gguf] + shape]


def cmd_run(a):
    s = SMOKE if a.smoke else FULL
    impls = ["seal"] + ([] if a.skip_q8 else ["seal-q8"]) + \
        ([] if a.skip_q4 else ["seal-q4"]) + ["pytorch"] + \
        ([] if a.skip_llama else ["llama.cpp"])
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
    raw = open(a.raw, "w") if a.raw else None
    # (impl, name, shape) -> per-round medians; impl -> peak RSS; impl -> versions
    times, peak, versions, failed = {}, {}, {}, []
    uow = {}  # impl -> its unit-of-work records, one per round
    uow_pc = {}  # impl -> the per-core runs' records, --threads per round
    per_core = bool(a.unit_of_work) and a.threads > 1 and not a.skip_per_core
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
                    if r.get("name") == "unit_of_work":
                        uow.setdefault(impl, []).append(r)
                        continue
                    if r.get("name") == "load" or "ms" not in r:
                        continue
                    if impl == "seal" and i > 0 and r["name"] != "sft_step":
                        continue  # the extra SFT-length runs' small prefill/decode
                    if impl in QUANT_DEVICES and r["name"] == "sft_step":
                        continue  # its 4-token step only completes the run
                    times.setdefault((impl, r["name"], r["shape"]), []).append(r["ms"])
        for impl in (["seal", "pytorch"] if rnd % 2 == 0 else ["pytorch", "seal"]) * per_core:
            recs, bad = run_per_core(a, s, impl, env)
            for r in recs:
                r.update(impl=impl, round=rnd, per_core=True)
                if raw:
                    raw.write(json.dumps(r) + "\n")
            uow_pc.setdefault(impl, []).extend(recs)
            failed += bad
    if raw:
        raw.close()
    print_table(a, s, impls, times, peak, versions, load_start, time.time() - t_start, uow,
                uow_pc)
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


def uow_rows(a, uow):
    """The unit-of-work rows: (label, seal value, PyTorch value, ratio) in the table's
    formatting, from the per-round records (medians over rounds)."""
    def med(impl, key):
        v = [r[key] for r in uow.get(impl, [])]
        return statistics.median(v) if v else None

    sr = (uow.get("seal") or uow.get("pytorch") or [{}])[0]
    what = (f"{sr.get('steps', '?')} steps, {sr.get('tokens', '?'):,} tokens"
            if sr else "not run")
    train = {i: med(i, "train_s") for i in ("seal", "pytorch")}
    answer = {i: med(i, "answer_s") for i in ("seal", "pytorch")}
    # A CPU-hour: one hour of one of the --threads cores every implementation is given.
    rate = {i: None if train[i] is None or answer[i] is None
            else 3600.0 / ((train[i] + answer[i]) * a.threads) for i in train}

    def sec(x):
        return "–" if x is None else f"{x:,.2f}" if x < 100 else f"{x:,.0f}"

    def per_h(x):
        return "–" if x is None else f"{x:,.1f}"

    return [
        (f"SEAL's unit of work: one self-edit evaluation ({what}), training, s",
         sec(train["seal"]), sec(train["pytorch"]), fmt_ratio(train["seal"], train["pytorch"])),
        (f"the same evaluation's answering ({sr.get('questions', '?')} questions), s",
         sec(answer["seal"]), sec(answer["pytorch"]),
         fmt_ratio(answer["seal"], answer["pytorch"])),
        ("self-edit evaluations per CPU-hour (ratio: PyTorch's time over seal's)",
         per_h(rate["seal"]), per_h(rate["pytorch"]), fmt_ratio(rate["seal"], rate["pytorch"])),
    ]


def per_core_rows(a, uow_pc):
    """The per-core row: evaluations per CPU-hour when each of --threads cores runs its
    own one-thread process (an evaluation then costs its own seconds of one core)."""
    if not uow_pc:
        return []
    rate = {}
    for impl in ("seal", "pytorch"):
        v = [r["train_s"] + r["answer_s"] for r in uow_pc.get(impl, [])]
        rate[impl] = 3600.0 / statistics.median(v) if v else None

    def per_h(x):
        return "–" if x is None else f"{x:,.1f}"

    return [(f"the same, one 1-thread process per core ({a.threads} at once), evaluations per "
             "CPU-hour", per_h(rate["seal"]), per_h(rate["pytorch"]),
             fmt_ratio(rate["seal"], rate["pytorch"]))]


def uow_same_tokens(uow):
    """One line: whether seal and PyTorch trained and answered on the same tokens."""
    s, t = (uow.get("seal") or [None])[0], (uow.get("pytorch") or [None])[0]
    if not s or not t:
        return "unit of work: not compared (one side did not run)"
    same_ex = s["example_ids"] == t["example_ids"]
    same_pr = s["prompt_ids"] == t["prompt_ids"]
    return (f"unit of work, same input: example token ids {'identical' if same_ex else 'DIFFER'},"
            f" prompt token ids {'identical' if same_pr else 'DIFFER'}; loss tokens "
            f"{s['loss_tokens']:,} (seal) and {t['loss_tokens']:,} (PyTorch); the base model's "
            f"mean token loss on the examples (LoRA B = 0) {s['base_loss']:.5f} and "
            f"{t['base_loss']:.5f} (|diff| {abs(s['base_loss'] - t['base_loss']):.1e}); "
            f"questions answered correctly {s['correct']} and {t['correct']} of "
            f"{s['questions']} (greedy decoding after different training orders and "
            f"LoRA A initialisations: they may differ)")


def print_table(a, s, impls, times, peak, versions, load_start, wall, uow, uow_pc):
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
    for q in (q for q in QUANT_DEVICES if q in impls):
        dev = QUANT_DEVICES[q]
        for label, name, shape in ((f"seal ({dev}) prefill B1x{P}, ms", "prefill", f"B1xT{P}"),
                                   (f"seal ({dev}) decode B1, {N} tokens after {P}, ms",
                                    "decode_greedy", f"B1xT{P}+{N}")):
            v = {i: med(i, name, shape) for i in (q, "pytorch", "llama.cpp")}
            print(f"| {label} | {fmt_ms(v[q])} | {fmt_ms(v['pytorch'])} | "
                  f"{fmt_ms(v['llama.cpp'])} | {fmt_ratio(v[q], v['pytorch'])} | "
                  f"{fmt_ratio(v[q], v['llama.cpp'])} |")
    if a.unit_of_work:
        for label, sv, tv, ratio in uow_rows(a, uow) + per_core_rows(a, uow_pc):
            print(f"| {label} | {sv} | {tv} | – | {ratio} | – |")
    gb = {i: peak[i] / 1e9 if i in peak else None
          for i in ("seal", *QUANT_DEVICES, "pytorch", "llama.cpp")}

    def fmt_gb(x):
        return "–" if x is None else f"{x:.2f} GB"

    print(f"| peak memory (max RSS) of a benchmark process | {fmt_gb(gb['seal'])} | "
          f"{fmt_gb(gb['pytorch'])} | {fmt_gb(gb['llama.cpp'])} | "
          f"{fmt_ratio(gb['seal'], gb['pytorch'])} | {fmt_ratio(gb['seal'], gb['llama.cpp'])} |")
    for q in (q for q in QUANT_DEVICES if q in impls):
        print(f"| peak memory, seal ({QUANT_DEVICES[q]}) prefill and decode B1 only | "
              f"{fmt_gb(gb[q])} | {fmt_gb(gb['pytorch'])} | {fmt_gb(gb['llama.cpp'])} | "
              f"{fmt_ratio(gb[q], gb['pytorch'])} | "
              f"{fmt_ratio(gb[q], gb['llama.cpp'])} |")
    print("\nRatios are seal's time (or memory) over the other's: below 1 means seal is "
          "faster (smaller). '–': not measured (llama.cpp runs batch 1 inference only).")
    if a.unit_of_work:
        short = f", {s['uow_epochs']} epoch(s) instead of its 5" if s["uow_epochs"] else ""
        print(f"\nThe unit of work is {os.path.basename(a.unit_of_work)} (jobs/demo.yaml's "
              f"inner loop{short}), timed without a warm-up; {uow_same_tokens(uow)}.")


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
    u = sub.add_parser("torch-uow")
    u.add_argument("--hf", required=True)
    u.add_argument("--fixture", required=True, help="bench/unit-of-work.json")
    u.add_argument("--epochs", type=int, default=0, help="instead of the fixture's (0: keep)")
    u.add_argument("--repeats", type=int, default=1)
    u.add_argument("--threads", type=int, default=os.cpu_count())
    r = sub.add_parser("run")
    r.add_argument("--seal", required=True, help="the seal binary")
    r.add_argument("--gguf", required=True, help="the GGUF model (seal and llama.cpp)")
    r.add_argument("--hf", required=True, help="its f32 HF checkpoint (PyTorch), from convert")
    r.add_argument("--rounds", type=int, default=4)
    r.add_argument("--repeats", type=int, default=1)
    r.add_argument("--threads", type=int, default=os.cpu_count())
    r.add_argument("--smoke", action="store_true", help="tiny shapes")
    r.add_argument("--skip-llama", action="store_true")
    r.add_argument("--skip-q8", action="store_true", help="no seal (cpu:q8) rows")
    r.add_argument("--skip-q4", action="store_true", help="no seal (cpu:q4) rows")
    r.add_argument("--skip-per-core", action="store_true",
                   help="no unit-of-work row with one 1-thread process per core")
    r.add_argument("--raw", help="also write every worker record (JSON lines) here")
    r.add_argument("--command", help="the command line to print in the table's header")
    r.add_argument("--unit-of-work", default=UNIT_OF_WORK,
                   help="the unit-of-work fixture ('' leaves those rows out)")
    a = ap.parse_args(argv)
    for field in ("rounds", "repeats", "threads", "prompt", "new", "lora_r"):
        if getattr(a, field, 1) < 1:
            ap.error(f"--{field.replace('_', '-')} must be at least 1")
    return {"convert": cmd_convert, "torch": cmd_torch, "llama": cmd_llama,
            "torch-uow": cmd_torch_uow, "run": cmd_run}[a.mode](a) or 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""bench/pytorch_baseline.py — the PyTorch + transformers + PEFT side of the GPU
comparison (docs/perf.md, "GPU comparison"): the same shapes `seal bench` measures, run the
way a researcher would run them in Python, printing one JSON object per
measurement on stdout.

Measurements (random weights in bf16, fp32 LoRA parameters as PEFT makes them):
  Llama-3.2-1B shape
    prefill          forward of B8 x T512 (no grad, no cache)
    sft_step         LoRA r32 alpha 64 on all linear layers, forward + backward +
                     grad-norm clip 1.0 + AdamW, at B1 x T256 and B8 x T512
    decode_greedy    batch 1, 64-token prompt, 128 new tokens (generate, KV cache)
    decode_sample    batch 16, same lengths, temperature 1.0, top-p 0.95
  Qwen2.5-7B shape
    sft_step         LoRA r32 alpha 64 on q_proj and v_proj, B1 x T2048 (the
                     reference SEAL code pads every inner-loop sequence to 2048)
                     and B1 x T40 (a typical unpadded self-edit line)

Each number is the median of --repeats timed runs after --warmup untimed ones;
the clock is read after torch.cuda.synchronize() on a GPU.

  /root/gold/venv/bin/python bench/pytorch_baseline.py                 # full, on cuda
  /root/gold/venv/bin/python bench/pytorch_baseline.py --tiny --device cpu
  ... --only llama                                                      # one model shape

--tiny swaps both shapes for small configs of the same architectures (and
shorter sequences) so that every code path runs on a CPU in seconds; its numbers
mean nothing.

--save-random DIR writes the random models instead of timing them, as Hugging
Face checkpoints `seal bench --model DIR/<name>` reads (config.json, bf16
model.safetensors, and a small byte-level BPE tokenizer.json trained here: the
speed does not depend on the weights' values or on which ids the text becomes).
"""
import argparse
import json
import platform
import statistics
import sys
import time

import torch
import transformers
import peft
from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

# ---- model shapes ------------------------------------------------------------------

LLAMA_3_2_1B = dict(
    vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
    num_attention_heads=32, num_key_value_heads=8, head_dim=64, max_position_embeddings=131072,
    rms_norm_eps=1e-5, rope_theta=500000.0, tie_word_embeddings=True,
    rope_scaling=dict(rope_type="llama3", factor=32.0, low_freq_factor=1.0, high_freq_factor=4.0,
                      original_max_position_embeddings=8192),
    bos_token_id=128000, eos_token_id=128001)

QWEN2_5_7B = dict(
    vocab_size=152064, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
    num_attention_heads=28, num_key_value_heads=4, max_position_embeddings=32768,
    rms_norm_eps=1e-6, rope_theta=1000000.0, tie_word_embeddings=False,
    bos_token_id=151643, eos_token_id=151643)

# Small configs of the same architectures: GQA, llama3 RoPE scaling, Qwen2 biases.
LLAMA_TINY = dict(LLAMA_3_2_1B, vocab_size=512, hidden_size=64, intermediate_size=160,
                  num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                  max_position_embeddings=1024, bos_token_id=1, eos_token_id=2,
                  rope_scaling=dict(LLAMA_3_2_1B["rope_scaling"],
                                    original_max_position_embeddings=256))
QWEN_TINY = dict(QWEN2_5_7B, vocab_size=512, hidden_size=64, intermediate_size=160,
                 num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                 max_position_embeddings=1024, bos_token_id=1, eos_token_id=2)

# (B, T) of each measurement: full size, and --tiny.
SHAPES = {
    "llama_prefill": ((8, 512), (2, 32)),
    "llama_sft": ([(1, 256), (8, 512)], [(1, 16), (2, 32)]),
    "decode": ((64, 128), (8, 8)),  # prompt tokens, new tokens
    "decode_batches": ((1, 16), (1, 4)),  # greedy batch, sampling batch
    "qwen_sft": ([(1, 2048), (1, 40)], [(1, 64), (1, 8)]),
}

ALL_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device, warmup, repeats):
    """Median, min and max seconds of fn() over the repeats, after warm-up runs."""
    for _ in range(warmup):
        fn()
    secs = []
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        secs.append(time.perf_counter() - t0)
    return statistics.median(secs), min(secs), max(secs)


class Reporter:
    def __init__(self, args, device):
        self.common = {
            "impl": "pytorch",
            "device": torch.cuda.get_device_name(device) if device.type == "cuda"
            else platform.processor() or platform.machine(),
            "dtype": args.dtype,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "peft": peft.__version__,
            "tiny": args.tiny,
        }

    def emit(self, model, name, batch, seq, tokens, stat, **extra):
        median, lo, hi = stat
        rec = dict(self.common, model=model, name=name, shape=f"B{batch}xT{seq}", batch=batch,
                   seq=seq, tokens=tokens, ms=round(1e3 * median, 3), min_ms=round(1e3 * lo, 3),
                   max_ms=round(1e3 * hi, 3), tokens_per_s=round(tokens / median, 1), **extra)
        print(json.dumps(rec), flush=True)


def make_model(config_cls, fields, dtype, device, seed):
    torch.manual_seed(seed)
    cfg = config_cls(**fields)
    cfg._attn_implementation = "sdpa"
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(cfg, dtype=dtype)
    model.eval()
    return model


def random_ids(vocab, batch, seq, device, seed):
    g = torch.Generator().manual_seed(seed)
    # Stay clear of the special ids at the top and bottom of the vocabulary.
    return torch.randint(3, vocab - 1, (batch, seq), generator=g).to(device)


# ---- measurements ------------------------------------------------------------------


def bench_prefill(model, name, rep, args, device, B, T):
    ids = random_ids(model.config.vocab_size, B, T, device, 1)

    @torch.no_grad()
    def run():
        model(input_ids=ids, use_cache=False)

    rep.emit(name, "prefill", B, T, B * T, timed(run, device, args.warmup, args.repeats))


def bench_decode(model, name, rep, args, device, B, prompt, new, sample):
    ids = random_ids(model.config.vocab_size, B, prompt, device, 2)
    mask = torch.ones_like(ids)
    kwargs = dict(do_sample=True, temperature=1.0, top_p=0.95, top_k=0) if sample else dict(
        do_sample=False)

    @torch.no_grad()
    def run():
        # min_new_tokens: random weights may draw EOS early; every run makes `new` tokens.
        out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=new,
                             min_new_tokens=new, pad_token_id=0, **kwargs)
        assert out.shape[1] == prompt + new, out.shape

    stat = timed(run, device, args.warmup, args.repeats)
    rep.emit(name, "decode_sample" if sample else "decode_greedy", B, prompt, B * new, stat,
             new_tokens=new, note="includes the prompt's prefill, as generate() does")


def bench_sft(model, name, rep, args, device, shapes, targets, r, alpha):
    lcfg = peft.LoraConfig(r=r, lora_alpha=alpha, lora_dropout=0.0, target_modules=targets,
                           bias="none", task_type="CAUSAL_LM")
    pm = peft.get_peft_model(model, lcfg)  # adapter weights in fp32 (autocast_adapter_dtype)
    pm.train()
    params = [p for p in pm.parameters() if p.requires_grad]
    n_params = sum(p.numel() for p in params)
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0)
    for B, T in shapes:
        ids = random_ids(model.config.vocab_size, B, T, device, 3)
        losses = []

        def step():
            out = pm(input_ids=ids, labels=ids, use_cache=False)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            losses.append(out.loss.detach())

        stat = timed(step, device, args.warmup, args.repeats)
        rep.emit(name, "sft_step", B, T, B * T, stat, lora_r=r, lora_alpha=alpha,
                 targets=targets if isinstance(targets, str) else ",".join(targets),
                 lora_params=n_params, loss_last=round(float(losses[-1]), 4))
    pm.unload()  # give the base model back without the adapter


def run_llama(args, device, dtype, rep):
    i = 1 if args.tiny else 0
    name = "llama-3.2-1b" + ("-tiny" if args.tiny else "")
    model = make_model(LlamaConfig, LLAMA_TINY if args.tiny else LLAMA_3_2_1B, dtype, device, 0)
    B, T = SHAPES["llama_prefill"][i]
    bench_prefill(model, name, rep, args, device, B, T)
    prompt, new = SHAPES["decode"][i]
    greedy_b, sample_b = SHAPES["decode_batches"][i]
    bench_decode(model, name, rep, args, device, greedy_b, prompt, new, sample=False)
    bench_decode(model, name, rep, args, device, sample_b, prompt, new, sample=True)
    bench_sft(model, name, rep, args, device, SHAPES["llama_sft"][i], "all-linear", 32, 64)
    del model


def run_qwen(args, device, dtype, rep):
    i = 1 if args.tiny else 0
    name = "qwen2.5-7b" + ("-tiny" if args.tiny else "")
    model = make_model(Qwen2Config, QWEN_TINY if args.tiny else QWEN2_5_7B, dtype, device, 0)
    bench_sft(model, name, rep, args, device, SHAPES["qwen_sft"][i], ["q_proj", "v_proj"], 32, 64)
    del model


TOKENIZER_TEXT = (
    "The river runs past the mill and under the stone bridge before it reaches the sea. "
    "In spring the water is high and fast, and the fishermen wait on the bank for the "
    "current to slow. Their children learn to mend nets and to read the weather. ")


def save_random(model, out_dir):
    """The random model as an HF checkpoint, with a small byte-level BPE tokenizer."""
    import os
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    os.makedirs(out_dir, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=384, special_tokens=["<|bos|>", "<|eos|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([TOKENIZER_TEXT] * 4, trainer)
    assert tok.get_vocab_size() <= model.config.vocab_size
    tok.save(os.path.join(out_dir, "tokenizer.json"))
    print(json.dumps({"saved": out_dir, "model_type": model.config.model_type,
                      "parameters": sum(p.numel() for p in model.parameters())}), flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default="bf16", choices=["bf16", "fp32"])
    ap.add_argument("--tiny", action="store_true", help="small configs and sequences (CPU check)")
    ap.add_argument("--only", choices=["llama", "qwen"], help="one model shape only")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--save-random", metavar="DIR",
                    help="write the random models as HF checkpoints under DIR; time nothing")
    args = ap.parse_args(argv)
    if args.repeats < 1 or args.warmup < 0:
        ap.error("--repeats must be at least 1 and --warmup at least 0")
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("pytorch_baseline.py: --device cuda asked for, but torch sees no GPU "
                 "(use --device cpu --tiny to check the script on a CPU)")
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    torch.backends.cuda.matmul.allow_tf32 = True
    rep = Reporter(args, device)
    if args.save_random:
        import os
        for which, cls, full, tiny in (("llama", LlamaConfig, LLAMA_3_2_1B, LLAMA_TINY),
                                       ("qwen", Qwen2Config, QWEN2_5_7B, QWEN_TINY)):
            if args.only in (None, which):
                model = make_model(cls, tiny if args.tiny else full, dtype, device, 0)
                name = {"llama": "llama-3.2-1b", "qwen": "qwen2.5-7b"}[which]
                save_random(model, os.path.join(args.save_random,
                                                name + ("-tiny" if args.tiny else "")))
                del model
        return
    if args.only in (None, "llama"):
        run_llama(args, device, dtype, rep)
    if args.only in (None, "qwen"):
        run_qwen(args, device, dtype, rep)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Check that the fixtures in tests/fixtures/models are self-consistent.

Run from the repository root:

    /root/gold/venv/bin/python tests/golden/check_fixtures.py

It reloads every checkpoint and adapter with transformers/PEFT and recomputes what
golden.safetensors claims. Where docs/fixtures.md gives a formula (masked loss,
LoRA scaling, llama3 RoPE frequencies, gradient clipping, AdamW), the check
recomputes it by hand instead of through the library, so the documentation is
tested too. Exits non-zero on the first group of failures.
"""

import json
import math
import struct
import sys
from pathlib import Path

import numpy as np
import torch
from peft import PeftModel
from safetensors import safe_open
from transformers import AutoModelForCausalLM

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "tests" / "fixtures" / "models"
MAIN_SETS = ["tiny-llama", "tiny-qwen2"]
VARIANTS = {  # directory -> (stored dtype, config style)
    "tiny-llama-bf16": ("BF16", "rope_parameters"),
    "tiny-llama-f16": ("F16", "rope_scaling"),
    "tiny-llama-sharded": ("F32", "rope_parameters"),
}
LORA_SCALING = 8 / 4  # lora_alpha / r
ADAMW_LR, ADAMW_B1, ADAMW_B2, ADAMW_EPS, ADAMW_WD = 1e-2, 0.9, 0.999, 1e-8, 0.01
ADAMW_STEPS, CLIP_NORM = 5, 1.0
MAX_SET_BYTES = 1 << 20

failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def close(name, got, want, atol, rtol=0.0):
    got, want = torch.as_tensor(got).double(), torch.as_tensor(want).double()
    if got.shape != want.shape:
        check(False, f"{name}: shape {tuple(got.shape)} != {tuple(want.shape)}")
        return
    err = (got - want).abs().max().item() if got.numel() else 0.0
    ok = torch.allclose(got, want, atol=atol, rtol=rtol)
    check(ok, f"{name}: max abs diff {err:.3g} (atol {atol:g}, rtol {rtol:g})")


def load_golden(path):
    with safe_open(str(path), "pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    for k, t in tensors.items():
        if t.dtype != torch.float32:
            check(False, f"{path.name}: {k} is {t.dtype}, want float32")
    return tensors


def safetensors_dtypes(path):
    """The dtype strings of a safetensors header, read by hand (8-byte LE length + JSON)."""
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    return {v["dtype"] for k, v in header.items() if k != "__metadata__"}


def load_base(directory):
    model = AutoModelForCausalLM.from_pretrained(
        directory, dtype=torch.float32, attn_implementation="eager"
    )
    return model.eval()


def masked_loss_numpy(logits, input_ids, loss_mask):
    """docs/fixtures.md: label of position t is input_ids[t+1]; mean over mask."""
    logits = logits.double().numpy()  # [B, T, V]
    ids = input_ids.numpy().astype(np.int64)  # [B, T]
    mask = loss_mask.numpy()  # [B, T]
    total, count = 0.0, 0.0
    for b in range(ids.shape[0]):
        for t in range(ids.shape[1] - 1):
            if mask[b, t] == 0:
                continue
            row = logits[b, t]
            lse = row.max() + math.log(np.exp(row - row.max()).sum())
            total += lse - row[ids[b, t + 1]]
            count += 1
    return total / count


def masked_loss_torch(logits, input_ids, loss_mask):
    logp = torch.log_softmax(logits[:, :-1], dim=-1)
    nll = -logp.gather(-1, input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)
    mask = loss_mask[:, :-1]
    return (nll * mask).sum() / mask.sum()


def llama3_inv_freq(config):
    """The llama3 rule of docs/fixtures.md, in float64, from config.json alone."""
    rope = config.get("rope_parameters") or dict(config["rope_scaling"], rope_theta=config["rope_theta"])
    head_dim = config["hidden_size"] // config["num_attention_heads"]
    base = np.array([rope["rope_theta"] ** (-(2 * i) / head_dim) for i in range(head_dim // 2)])
    if rope.get("rope_type", "default") == "default":
        return base
    factor, low, high = rope["factor"], rope["low_freq_factor"], rope["high_freq_factor"]
    old = rope["original_max_position_embeddings"]
    out = []
    for f in base:
        wavelen = 2 * math.pi / f
        if wavelen < old / high:
            out.append(f)
        elif wavelen > old / low:
            out.append(f / factor)
        else:
            smooth = (old / wavelen - low) / (high - low)
            out.append((1 - smooth) * f / factor + smooth * f)
    return np.array(out)


def check_inputs(name, g):
    ids, mask = g["input_ids"], g["loss_mask"]
    check(tuple(ids.shape) == (2, 11), f"{name}: input_ids shape {tuple(ids.shape)}")
    check(bool((ids == ids.round()).all()), f"{name}: input_ids are whole numbers")
    want = torch.zeros(2, 11)
    want[0, 4:10] = 1
    want[1, 6:10] = 1
    check(bool((mask == want).all()), f"{name}: loss_mask is rows [4,10) and [6,10)")


def check_base(name, directory, g, config):
    ids = g["input_ids"].long()
    model = load_base(directory)
    captured = {}
    hooks = [model.model.embed_tokens.register_forward_hook(lambda m, i, o: captured.__setitem__("hidden.embed", o))]
    hooks.append(model.model.norm.register_forward_hook(lambda m, i, o: captured.__setitem__("hidden.final_norm", o)))
    for idx, layer in enumerate(model.model.layers):
        hooks.append(layer.register_forward_hook(
            lambda m, i, o, idx=idx: captured.__setitem__(f"hidden.layer{idx}", o[0] if isinstance(o, tuple) else o)))
    with torch.no_grad():
        logits = model(input_ids=ids).logits
    for h in hooks:
        h.remove()
    close(f"{name}: logits", logits, g["logits"], atol=1e-5)
    for key, value in captured.items():
        close(f"{name}: {key}", value, g[key], atol=1e-5)
    close(f"{name}: loss vs numpy CE of stored logits",
          masked_loss_numpy(g["logits"], g["input_ids"], g["loss_mask"]), g["loss"][0], atol=1e-5)
    close(f"{name}: rope.inv_freq vs llama3/default formula",
          llama3_inv_freq(config), g["rope.inv_freq"], atol=0, rtol=1e-6)
    close(f"{name}: rope.inv_freq vs transformers", model.model.rotary_emb.inv_freq, g["rope.inv_freq"], atol=0)
    return model


def check_greedy(name, model, g):
    """Greedy decoding without a KV cache: full forward each step, argmax at the end."""
    seq = g["gen.prompt"].long().unsqueeze(0)  # [1, 5]
    with torch.no_grad():
        for _ in range(g["gen.ids"].numel()):
            logits = model(input_ids=seq, use_cache=False).logits[0, -1]
            seq = torch.cat([seq, logits.argmax().view(1, 1)], dim=1)
    close(f"{name}: gen.ids (no-cache greedy)", seq[0, 5:], g["gen.ids"], atol=0)
    check(bool((g["input_ids"][0, :5] == g["gen.prompt"]).all()), f"{name}: gen.prompt = input_ids[0,:5]")


def lora_names(g):
    return sorted(k for k in g if ".lora_" in k and k.endswith(".weight"))


def check_adapter(name, directory, g, base_model):
    ids, mask = g["input_ids"].long(), g["loss_mask"]
    cfg = json.loads((directory / "peft_adapter" / "adapter_config.json").read_text())
    check(cfg["r"] == 4 and cfg["lora_alpha"] == 8 and not cfg["use_rslora"],
          f"{name}: adapter_config r=4 alpha=8 rslora off")
    with safe_open(str(directory / "peft_adapter" / "adapter_model.safetensors"), "pt") as f:
        stored = {k: f.get_tensor(k) for k in f.keys()}
    names = lora_names(g)
    check(sorted(stored) == names and len(names) == 2 * 7 * 2,
          f"{name}: adapter holds the 28 golden lora tensors ({len(stored)})")
    for k in names:
        if not torch.equal(stored[k], g[k]):
            check(False, f"{name}: adapter tensor {k} differs from golden")

    model = PeftModel.from_pretrained(load_base(directory), directory / "peft_adapter", is_trainable=True)
    logits = model(input_ids=ids).logits
    loss = masked_loss_torch(logits, ids, mask)
    loss.backward()
    close(f"{name}: lora.logits (PEFT)", logits.detach(), g["lora.logits"], atol=1e-5)
    close(f"{name}: lora.loss", loss.detach(), g["lora.loss"][0], atol=1e-6)
    close(f"{name}: lora.loss vs numpy CE", masked_loss_numpy(g["lora.logits"], g["input_ids"], mask),
          g["lora.loss"][0], atol=1e-5)
    grads = {n.replace(".default.", "."): p.grad for n, p in model.named_parameters() if "lora_" in n}
    worst = max((grads[k] - g[k + ".grad"]).abs().max().item() for k in names)
    scale = max(g[k + ".grad"].abs().max().item() for k in names)
    check(worst <= 1e-6 + 1e-4 * scale, f"{name}: 28 lora grads, max abs diff {worst:.3g} (max |grad| {scale:.3g})")
    check(min(g[k + ".grad"].abs().max().item() for k in names) > 0, f"{name}: every lora grad is non-zero")

    # W' = W + (alpha/r) B A by hand, then a plain transformers forward.
    merged = load_base(directory)
    params = dict(merged.named_parameters())
    with torch.no_grad():
        for k in names:
            if ".lora_A." in k:
                module = k[len("base_model.model."):-len(".lora_A.weight")]
                b = g[k.replace(".lora_A.", ".lora_B.")]
                params[module + ".weight"] += LORA_SCALING * (b @ g[k])
        merged_logits = merged(input_ids=ids).logits
    close(f"{name}: merged.logits vs hand-merged W+(alpha/r)BA", merged_logits, g["merged.logits"], atol=1e-5)
    close(f"{name}: merged.logits vs lora.logits", g["merged.logits"], g["lora.logits"], atol=1e-4)
    check((g["lora.logits"] - g["logits"]).abs().max().item() > 1e-2,
          f"{name}: the adapter changes the logits visibly")
    return model


def check_adamw(name, model, g):
    """Clip + AdamW written out by hand (docs/fixtures.md), gradients from PEFT."""
    ids, mask = g["input_ids"].long(), g["loss_mask"]
    named = [(n.replace(".default.", "."), p) for n, p in model.named_parameters() if "lora_" in n]
    with torch.no_grad():
        for k, p in named:
            p.copy_(g[k])
    m = {k: torch.zeros_like(p, dtype=torch.float64) for k, p in named}
    v = {k: torch.zeros_like(p, dtype=torch.float64) for k, p in named}
    losses, norms = [], []
    for step in range(1, ADAMW_STEPS + 1):
        model.zero_grad(set_to_none=True)
        loss = masked_loss_torch(model(input_ids=ids).logits, ids, mask)
        loss.backward()
        total = math.sqrt(sum(p.grad.double().pow(2).sum().item() for _, p in named))
        coef = min(1.0, CLIP_NORM / (total + 1e-6))
        losses.append(loss.item())
        norms.append(total)
        with torch.no_grad():
            for k, p in named:
                grad = p.grad.double() * coef
                w = p.double() * (1 - ADAMW_LR * ADAMW_WD)
                m[k] = ADAMW_B1 * m[k] + (1 - ADAMW_B1) * grad
                v[k] = ADAMW_B2 * v[k] + (1 - ADAMW_B2) * grad * grad
                m_hat = m[k] / (1 - ADAMW_B1**step)
                v_hat = v[k] / (1 - ADAMW_B2**step)
                p.copy_(w - ADAMW_LR * m_hat / (v_hat.sqrt() + ADAMW_EPS))
    with torch.no_grad():
        final_loss = masked_loss_torch(model(input_ids=ids).logits, ids, mask).item()
    close(f"{name}: adamw.losses (hand AdamW)", losses, g["adamw.losses"], atol=1e-4)
    close(f"{name}: adamw.grad_norms", norms, g["adamw.grad_norms"], atol=1e-4)
    close(f"{name}: adamw.final_loss", final_loss, g["adamw.final_loss"][0], atol=1e-4)
    worst = max((p.detach() - g[k + ".final"]).abs().max().item() for k, p in named)
    check(worst < 1e-4, f"{name}: 28 lora .final tensors, max abs diff {worst:.3g}")
    check(g["adamw.losses"][0] == g["lora.loss"][0], f"{name}: adamw.losses[0] == lora.loss")
    check(min(g["adamw.grad_norms"]).item() > CLIP_NORM, f"{name}: every step is clipped (norm > 1)")


def check_variant(vname, main_logits):
    directory = MODELS / vname
    want_dtype, style = VARIANTS[vname]
    g = load_golden(directory / "golden.safetensors")
    files = sorted(directory.glob("model*.safetensors"))
    dtypes = set().union(*(safetensors_dtypes(f) for f in files))
    check(dtypes == {want_dtype}, f"{vname}: stored dtypes {sorted(dtypes)}")
    config = json.loads((directory / "config.json").read_text())
    check(style in config, f"{vname}: config.json uses {style}")
    if vname.endswith("sharded"):
        index = json.loads((directory / "model.safetensors.index.json").read_text())
        shards = sorted(set(index["weight_map"].values()))
        check(2 <= len(shards) <= 3 and [f.name for f in files] == shards,
              f"{vname}: {len(shards)} shards, index names exactly the files")
    model = load_base(directory)
    with torch.no_grad():
        logits = model(input_ids=g["input_ids"].long()).logits
    close(f"{vname}: logits", logits, g["logits"], atol=1e-5)
    tol = {"F32": 0.0, "F16": 0.02, "BF16": 0.1}[want_dtype]
    close(f"{vname}: logits vs float32 model", g["logits"], main_logits, atol=tol)
    close(f"{vname}: rope.inv_freq from its config", llama3_inv_freq(config),
          model.model.rotary_emb.inv_freq, atol=0, rtol=1e-6)


def check_sizes():
    for directory in sorted(p for p in MODELS.iterdir() if p.is_dir()):
        size = sum(f.stat().st_size for f in directory.rglob("*") if f.is_file())
        check(size < MAX_SET_BYTES, f"{directory.name}: {size / 1024:.0f} KiB < 1 MiB")


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    main_logits = {}
    for name in MAIN_SETS:
        directory = MODELS / name
        g = load_golden(directory / "golden.safetensors")
        config = json.loads((directory / "config.json").read_text())
        check_inputs(name, g)
        base = check_base(name, directory, g, config)
        check_greedy(name, base, g)
        lora = check_adapter(name, directory, g, base)
        check_adamw(name, lora, g)
        main_logits[name] = g["logits"]
    for vname in VARIANTS:
        check_variant(vname, main_logits["tiny-llama"])
    check_sizes()
    versions = json.loads((MODELS / "versions.json").read_text())
    print(f"fixtures made with torch {versions['torch']}, transformers {versions['transformers']}, "
          f"peft {versions['peft']} on {versions['device']}")
    if failures:
        print(f"{len(failures)} check(s) FAILED")
        return 1
    print("all fixture checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

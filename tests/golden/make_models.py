#!/usr/bin/env python3
"""Make the golden fixtures for the transformer engine: two tiny random models with
awkward shapes (a Llama with llama3 RoPE scaling, 5:1 GQA and tied embeddings; a
Qwen2 with q/k/v biases), saved as Hugging Face checkpoints, plus what PyTorch,
transformers and PEFT compute from them (logits, masked loss, LoRA gradients, AdamW
steps, a merged adapter, greedy generation).

Run from the repository root:

    /root/gold/venv/bin/python tests/golden/make_models.py

It rewrites tests/fixtures/models/ completely. Everything runs on the CPU in float32
with fixed seeds and one thread, so a rerun with the same library versions gives the
same bytes. The format of every file is documented in docs/fixtures.md.
"""

import copy
import json
import math
import platform
import shutil
import sys
from pathlib import Path

import numpy as np
import peft
import safetensors
import torch
import transformers
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "fixtures" / "models"

BATCH, SEQ = 2, 11
# Positions (per row) before which no loss counts: a completion-only mask.
PROMPT_LEN = (4, 6)
GEN_PROMPT_LEN, GEN_NEW_TOKENS = 5, 8
LORA_RANK, LORA_ALPHA = 4, 8
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
ADAMW = dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
ADAMW_STEPS, CLIP_NORM = 5, 1.0
# The smallest gap between the best and second-best logit that a greedy step may
# have; below it a float32 engine could legitimately pick another token.
MIN_GREEDY_MARGIN = 1e-3


def set_determinism():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(0)


def llama_config():
    # head_dim 12 with original_max_position_embeddings 64 puts the six RoPE
    # frequencies into all three llama3 regimes (kept, smoothed, divided by 8);
    # check_llama3_scaling verifies it.
    return LlamaConfig(
        hidden_size=60,
        num_attention_heads=5,
        num_key_value_heads=1,
        intermediate_size=136,
        num_hidden_layers=2,
        vocab_size=263,
        max_position_embeddings=256,
        rms_norm_eps=1e-5,
        rope_theta=500000.0,
        rope_scaling={
            "rope_type": "llama3",
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 64,
        },
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=None,
        pad_token_id=None,
        attn_implementation="eager",
    )


def qwen2_config():
    return Qwen2Config(
        hidden_size=64,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=112,
        num_hidden_layers=2,
        vocab_size=301,
        max_position_embeddings=256,
        rope_theta=1000000.0,
        rms_norm_eps=1e-6,
        tie_word_embeddings=False,
        bos_token_id=None,
        eos_token_id=None,
        pad_token_id=None,
        attn_implementation="eager",
    )


def randomize_weights(model, seed, embed_std):
    """Overwrite every parameter from a seeded generator, in named_parameters order.

    Linear weights are N(0, 1/in_features) so that activations stay O(1): with the
    usual std 0.02 the attention scores of so small a model are ~0.01 and attention
    is uniform, which would hide RoPE, masking and softmax bugs. Norm weights are
    1 + N(0, 0.1^2) and biases N(0, 0.2^2) so that those paths matter too. The
    embedding is N(0, embed_std^2): 0.1 for the tied Llama (with more, the tied
    output matrix makes the model predict its current token and greedy decoding
    repeats one token), 0.25 for the untied Qwen2.
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.1 * noise)
            elif name.endswith(".bias"):
                p.copy_(0.2 * noise)
            elif name.endswith("embed_tokens.weight"):
                p.copy_(embed_std * noise)
            else:  # [out, in] Linear weight, lm_head included
                p.copy_(noise / math.sqrt(p.shape[1]))


def make_batch(vocab, seed):
    gen = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(0, vocab, (BATCH, SEQ), generator=gen)  # [B, T]
    loss_mask = torch.zeros(BATCH, SEQ)  # [B, T]
    for row, start in enumerate(PROMPT_LEN):
        loss_mask[row, start : SEQ - 1] = 1.0  # the last position has no target
    return input_ids, loss_mask


def masked_loss(logits, input_ids, loss_mask):
    """Mean over masked positions of -log softmax(logits[b,t])[input_ids[b,t+1]]."""
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)  # [B, T-1, V]
    targets = input_ids[:, 1:]  # [B, T-1]
    nll = -logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # [B, T-1]
    mask = loss_mask[:, :-1]  # [B, T-1]
    return (nll * mask).sum() / mask.sum()


def hf_labels(input_ids, loss_mask):
    """The same loss expressed as Hugging Face labels (-100 = ignored)."""
    labels = input_ids.clone()  # [B, T]; HF shifts: logits[t] predicts labels[t+1]
    labels[:, 1:][loss_mask[:, :-1] == 0] = -100
    labels[:, 0] = -100
    return labels


def check_loss_matches_hf(model, input_ids, loss_mask, loss):
    out = model(input_ids=input_ids, labels=hf_labels(input_ids, loss_mask))
    diff = abs(out.loss.item() - loss.item())
    assert diff < 1e-6, f"masked loss {loss.item()} != HF loss {out.loss.item()}"


def forward_with_hidden(model, input_ids):
    """Logits plus the residual stream: embedding output, each decoder layer's
    output, and the final RMSNorm output (captured with hooks, so the meaning does
    not depend on how a transformers version fills hidden_states)."""
    captured = {}
    inner = model.model
    hooks = [
        inner.embed_tokens.register_forward_hook(
            lambda m, i, o: captured.__setitem__("hidden.embed", o)
        ),
        inner.norm.register_forward_hook(
            lambda m, i, o: captured.__setitem__("hidden.final_norm", o)
        ),
    ]
    for idx, layer in enumerate(inner.layers):
        hooks.append(
            layer.register_forward_hook(
                lambda m, i, o, idx=idx: captured.__setitem__(
                    f"hidden.layer{idx}", o[0] if isinstance(o, tuple) else o
                )
            )
        )
    with torch.no_grad():
        logits = model(input_ids=input_ids).logits
    for h in hooks:
        h.remove()
    return logits, captured


def unscaled_inv_freq(config):
    head_dim = config.hidden_size // config.num_attention_heads
    theta = config.rope_parameters["rope_theta"]
    return 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))


def check_llama3_scaling(unscaled, scaled, factor):
    """The llama3 rule must keep some frequencies, divide some by the factor and
    smooth some in between; otherwise the fixture would not test it."""
    kept = torch.isclose(scaled, unscaled, rtol=1e-6)
    divided = torch.isclose(scaled, unscaled / factor, rtol=1e-6)
    smoothed = ~(kept | divided)
    assert kept.any() and divided.any() and smoothed.any(), (
        f"llama3 scaling does not hit all regimes: {unscaled} -> {scaled}"
    )
    return int(kept.sum()), int(smoothed.sum()), int(divided.sum())


def peft_name(param_name):
    """named_parameters name -> name in adapter_model.safetensors (no adapter name)."""
    return param_name.replace(".default.", ".")


def lora_params(peft_model):
    return [(n, p) for n, p in peft_model.named_parameters() if "lora_" in n]


def make_lora_model(base, seed):
    """PEFT model with a random (not B=0) initial adapter, so gradients of A are
    non-zero. A ~ U(-1/sqrt(in), 1/sqrt(in)) (the bound of PEFT's kaiming_uniform
    with a=sqrt(5)), B ~ N(0, 0.02^2); drawn from one generator in
    named_parameters order, A before B of each module."""
    config = LoraConfig(
        r=LORA_RANK,
        lora_alpha=LORA_ALPHA,
        target_modules=LORA_TARGETS,
        lora_dropout=0.0,
        bias="none",
        init_lora_weights=True,
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(copy.deepcopy(base), config)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in lora_params(model):
            if ".lora_A." in name:
                bound = 1.0 / math.sqrt(p.shape[1])
                p.copy_((torch.rand(p.shape, generator=gen) * 2.0 - 1.0) * bound)
            else:
                p.copy_(0.02 * torch.randn(p.shape, generator=gen))
    return model


def save_adapter(model, directory):
    """PEFT's save_pretrained, made reproducible: target_modules comes from a set,
    so its order depends on PYTHONHASHSEED; sort it. The generated model card
    (README.md) is not part of the adapter format and is dropped."""
    model.save_pretrained(directory, safe_serialization=True)
    config_path = directory / "adapter_config.json"
    config = json.loads(config_path.read_text())
    config["target_modules"] = sorted(config["target_modules"])
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    (directory / "README.md").unlink(missing_ok=True)


def lora_forward_backward(model, input_ids, loss_mask):
    model.zero_grad(set_to_none=True)
    logits = model(input_ids=input_ids).logits  # [B, T, V]
    loss = masked_loss(logits, input_ids, loss_mask)
    loss.backward()
    grads = {peft_name(n) + ".grad": p.grad.detach().clone() for n, p in lora_params(model)}
    return logits.detach(), loss.detach(), grads


def run_adamw(model, input_ids, loss_mask):
    params = [p for _, p in lora_params(model)]
    opt = torch.optim.AdamW(params, **ADAMW)
    losses, norms = [], []
    for _ in range(ADAMW_STEPS):
        opt.zero_grad(set_to_none=True)
        loss = masked_loss(model(input_ids=input_ids).logits, input_ids, loss_mask)
        loss.backward()
        norms.append(torch.nn.utils.clip_grad_norm_(params, CLIP_NORM).item())
        losses.append(loss.item())
        opt.step()
    with torch.no_grad():
        final_loss = masked_loss(model(input_ids=input_ids).logits, input_ids, loss_mask)
    final = {peft_name(n) + ".final": p.detach().clone() for n, p in lora_params(model)}
    return losses, norms, final_loss.item(), final


def greedy_generate(model, prompt):
    """model.generate with the KV cache; no eos (the configs have none), so it always
    makes GEN_NEW_TOKENS tokens. Returns the new ids and each step's top-1/top-2 gap."""
    model.generation_config.eos_token_id = None
    model.generation_config.bos_token_id = None
    model.generation_config.pad_token_id = 0
    with torch.no_grad():
        out = model.generate(
            input_ids=prompt,
            attention_mask=torch.ones_like(prompt),
            do_sample=False,
            max_new_tokens=GEN_NEW_TOKENS,
            min_new_tokens=0,
            output_scores=True,
            return_dict_in_generate=True,
        )
    new_ids = out.sequences[0, prompt.shape[1] :]
    assert new_ids.numel() == GEN_NEW_TOKENS, f"generated {new_ids.numel()} tokens"
    margins = []
    for scores in out.scores:
        top2 = torch.topk(scores[0], 2).values
        margins.append((top2[0] - top2[1]).item())
    assert min(margins) > MIN_GREEDY_MARGIN, f"greedy step too close to a tie: {margins}"
    return new_ids, margins


def f32(x):
    return torch.as_tensor(x, dtype=torch.float32).contiguous()


def write_golden(path, tensors):
    # One metadata key only: safetensors writes __metadata__ from a Rust HashMap, so
    # with two keys their order (and the file's bytes) would change from run to run.
    tensors = {k: f32(v) for k, v in tensors.items()}
    save_file(tensors, str(path), metadata={"format": "pt"})


def logits_of_checkpoint(directory, input_ids, cls):
    model = cls.from_pretrained(directory, dtype=torch.float32, attn_implementation="eager")
    model.eval()
    with torch.no_grad():
        return model(input_ids=input_ids).logits


def make_model_set(name, cls, config, seeds):
    directory = OUT / name
    base = cls(config)
    randomize_weights(base, seeds["weights"], seeds["embed_std"])
    base.eval()
    base.save_pretrained(directory, safe_serialization=True)

    input_ids, loss_mask = make_batch(config.vocab_size, seeds["batch"])
    logits, hidden = forward_with_hidden(base, input_ids)
    loss = masked_loss(logits, input_ids, loss_mask)
    check_loss_matches_hf(base, input_ids, loss_mask, loss)

    golden = {"input_ids": input_ids, "loss_mask": loss_mask, "logits": logits, "loss": [loss]}
    golden.update(hidden)
    unscaled = unscaled_inv_freq(config)
    scaled = base.model.rotary_emb.inv_freq.detach().clone()
    golden["rope.inv_freq"] = scaled
    golden["rope.inv_freq_unscaled"] = unscaled
    info = {"loss": loss.item()}
    if config.rope_parameters.get("rope_type") == "llama3":
        info["llama3_kept_smoothed_divided"] = check_llama3_scaling(
            unscaled, scaled, config.rope_parameters["factor"]
        )

    lora = make_lora_model(base, seeds["lora"])
    lora.eval()  # dropout is 0 anyway; eval keeps it explicit
    initial = {peft_name(n): p.detach().clone() for n, p in lora_params(lora)}
    lora_logits, lora_loss, grads = lora_forward_backward(lora, input_ids, loss_mask)
    lora.zero_grad(set_to_none=True)
    save_adapter(lora, directory / "peft_adapter")
    golden.update(initial)
    golden.update(grads)
    golden["lora.logits"] = lora_logits
    golden["lora.loss"] = [lora_loss]
    info["lora_loss"] = lora_loss.item()
    info["lora_logits_max_change"] = (lora_logits - logits).abs().max().item()

    merged = copy.deepcopy(lora).merge_and_unload()
    with torch.no_grad():
        golden["merged.logits"] = merged(input_ids=input_ids).logits

    losses, norms, final_loss, final = run_adamw(copy.deepcopy(lora), input_ids, loss_mask)
    golden["adamw.losses"] = losses
    golden["adamw.grad_norms"] = norms
    golden["adamw.final_loss"] = [final_loss]
    golden.update(final)
    info.update(adamw_losses=losses, adamw_grad_norms=norms, adamw_final_loss=final_loss)

    prompt = input_ids[:1, :GEN_PROMPT_LEN]  # [1, 5]
    # A copy, so the generation settings do not leak into the variants' configs.
    gen_ids, margins = greedy_generate(copy.deepcopy(base), prompt)
    golden["gen.prompt"] = prompt[0]
    golden["gen.ids"] = gen_ids
    golden["gen.margins"] = margins
    info.update(gen_ids=gen_ids.tolist(), gen_min_margin=min(margins))

    write_golden(
        directory / "golden.safetensors",
        golden,
    )
    return base, input_ids, info


def legacy_llama_config_json(path):
    """Rewrite a transformers-5 config.json in the older Hub style (Llama 3.2 on the
    Hub looks like this): rope_theta at top level, rope_scaling dict, torch_dtype."""
    cfg = json.loads(path.read_text())
    rope = cfg.pop("rope_parameters")
    cfg["rope_theta"] = rope.pop("rope_theta")
    cfg["rope_scaling"] = rope
    cfg["torch_dtype"] = cfg.pop("dtype")
    path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")


def make_llama_variants(base, input_ids, main_name):
    """Copies of the Llama in other storage forms. Each gets a golden.safetensors whose
    logits come from loading that copy back into float32 (so bf16/f16 rounding of the
    weights is part of the expected result, the arithmetic is float32)."""
    variants = {}
    for suffix, dtype in (("bf16", torch.bfloat16), ("f16", torch.float16)):
        directory = OUT / f"{main_name}-{suffix}"
        copy.deepcopy(base).to(dtype).save_pretrained(directory, safe_serialization=True)
        variants[directory] = dtype
    legacy_llama_config_json(OUT / f"{main_name}-f16" / "config.json")

    sharded = OUT / f"{main_name}-sharded"
    base.save_pretrained(sharded, safe_serialization=True, max_shard_size="150KB")
    index = json.loads((sharded / "model.safetensors.index.json").read_text())
    shards = sorted(set(index["weight_map"].values()))
    assert 2 <= len(shards) <= 3, f"expected 2-3 shards, got {shards}"
    variants[sharded] = torch.float32

    main_logits = logits_of_checkpoint(OUT / main_name, input_ids, LlamaForCausalLM)
    info = {}
    for directory, dtype in variants.items():
        logits = logits_of_checkpoint(directory, input_ids, LlamaForCausalLM)
        write_golden(
            directory / "golden.safetensors",
            {"input_ids": input_ids, "logits": logits},
        )
        info[directory.name] = {
            "dtype": str(dtype),
            "max_abs_diff_to_f32_logits": (logits - main_logits).abs().max().item(),
        }
    info[sharded.name]["shards"] = shards
    assert info[sharded.name]["max_abs_diff_to_f32_logits"] == 0.0
    return info


def write_versions(path, info):
    versions = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
        "safetensors": safetensors.__version__,
        "numpy": np.__version__,
        "device": "cpu",
        "dtype": "float32",
        "threads": torch.get_num_threads(),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "attn_implementation": "eager",
        "generated_by": "tests/golden/make_models.py",
        "summary": info,
    }
    path.write_text(json.dumps(versions, indent=2) + "\n")


def main():
    set_determinism()
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    info = {}
    llama, llama_ids, info["tiny-llama"] = make_model_set(
        "tiny-llama", LlamaForCausalLM, llama_config(), {"weights": 1, "embed_std": 0.1, "batch": 2, "lora": 3},
    )
    info["variants"] = make_llama_variants(llama, llama_ids, "tiny-llama")
    _, _, info["tiny-qwen2"] = make_model_set(
        "tiny-qwen2", Qwen2ForCausalLM, qwen2_config(), {"weights": 11, "embed_std": 0.25, "batch": 12, "lora": 13},
    )
    write_versions(OUT / "versions.json", info)
    print(json.dumps(info, indent=2))
    total = sum(f.stat().st_size for f in OUT.rglob("*") if f.is_file())
    print(f"wrote {OUT.relative_to(ROOT)} ({total / 1024:.0f} KiB)", file=sys.stderr)


if __name__ == "__main__":
    main()

"""Fixtures for tests/model/test_loaders*.c (checkpoint readers).

Run from the source root:  /root/gold/venv/bin/python tests/golden/loaders_fixtures.py
Writes tests/fixtures/loaders/:
  rope/{llama3,llama3_params,qwen2}/config.json + rope_expected.safetensors
      RoPE inverse frequencies as transformers computes them for each config.
  quant.gguf + quant_expected.safetensors
      one tensor of each type seal dequantises (F32, F16, BF16, Q4_0, Q4_1, Q8_0,
      Q6_K), quantised by gguf-py, with gguf-py's dequantised values; metadata of
      every GGUF value type; alignment 64.
  tiny_llama_hf/   a random tiny Llama (GQA, untied), BF16, sharded in two files,
                   with a generation_config.json that adds eos id 5.
  tiny_llama.gguf  the same weights written the way llama.cpp's converter does
                   (F32, q/k rows permuted for interleaved RoPE, tokenizer metadata).
  tiny_qwen2_hf/   a random tiny Qwen2 (q/k/v biases, tied embeddings), F16.
  tiny_qwen2.gguf  the same weights as a qwen2 GGUF (no permutation).
  permute.safetensors  a known q weight and its llama.cpp permutation.
  llama3_{std,odd}.gguf + llama3_gguf_expected.safetensors
      minimal llamas whose llama3 rope scaling travels as llama.cpp's
      rope_freqs.weight tensor, and transformers' inv_freq for their configs.
"""
import json
import math
import os
import shutil

import numpy as np
import torch
from safetensors.numpy import save_file
from transformers import AutoConfig, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM
from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding
from transformers.models.qwen2.modeling_qwen2 import Qwen2RotaryEmbedding

import gguf
from gguf import GGMLQuantizationType as Q
from gguf import quants

OUT = "tests/fixtures/loaders"


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


# ---- RoPE ---------------------------------------------------------------------

ROPE_CONFIGS = {
    # Llama-3.2-1B's rope with older `rope_scaling` keys and an eos list.
    "llama3": {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "vocab_size": 128256, "hidden_size": 192, "intermediate_size": 512,
        "num_hidden_layers": 2, "num_attention_heads": 3, "num_key_value_heads": 1,
        "max_position_embeddings": 131072, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
        "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                         "original_max_position_embeddings": 8192, "rope_type": "llama3"},
        "tie_word_embeddings": True, "bos_token_id": 128000,
        "eos_token_id": [128001, 128008, 128009], "hidden_act": "silu",
    },
    # transformers 5 style: everything in rope_parameters; head_dim explicit and
    # different from hidden / heads; unusual factors.
    "llama3_params": {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "vocab_size": 1000, "hidden_size": 96, "intermediate_size": 200,
        "num_hidden_layers": 1, "num_attention_heads": 4, "head_dim": 40,
        "max_position_embeddings": 4096,
        "rope_parameters": {"rope_type": "llama3", "rope_theta": 10000.0, "factor": 8.0,
                            "low_freq_factor": 2.0, "high_freq_factor": 8.0,
                            "original_max_position_embeddings": 1024},
        "eos_token_id": 7,
    },
    # Qwen2.5-0.5B's shape (no scaling).
    "qwen2": {
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
        "vocab_size": 151936, "hidden_size": 896, "intermediate_size": 4864,
        "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2,
        "max_position_embeddings": 32768, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
        "tie_word_embeddings": True, "bos_token_id": 151643, "eos_token_id": 151645,
        "use_sliding_window": False, "sliding_window": 32768, "max_window_layers": 21,
        "hidden_act": "silu",
    },
}


def make_rope():
    expected = {}
    for name, cfg in ROPE_CONFIGS.items():
        d = f"{OUT}/rope/{name}"
        write_json(f"{d}/config.json", cfg)
        config = AutoConfig.from_pretrained(d)
        rot = (Qwen2RotaryEmbedding if cfg["model_type"] == "qwen2" else LlamaRotaryEmbedding)(config)
        expected[name] = rot.inv_freq.detach().float().numpy().copy()
    save_file(expected, f"{OUT}/rope/rope_expected.safetensors")


# ---- GGUF of every tensor type -------------------------------------------------

def make_quant_gguf():
    rng = np.random.default_rng(1234)
    tensors = {}
    w = gguf.GGUFWriter(f"{OUT}/quant.gguf", "llama")
    w.add_custom_alignment(64)
    # metadata of every value type
    w.add_uint8("test.u8", 200)
    w.add_int8("test.i8", -100)
    w.add_uint16("test.u16", 60000)
    w.add_int16("test.i16", -30000)
    w.add_uint32("test.u32", 4000000000)
    w.add_int32("test.i32", -2000000000)
    w.add_float32("test.f32", 0.15625)
    w.add_bool("test.bool", True)
    w.add_string("test.str", "héllo")
    w.add_uint64("test.u64", 1 << 40)
    w.add_int64("test.i64", -(1 << 40))
    w.add_float64("test.f64", 2.718281828459045)
    w.add_array("test.arr_i32", [1, -2, 3])
    w.add_array("test.arr_str", ["a", "", "ccc"])
    w.add_key_value("test.arr_f32", [0.5, -1.25], gguf.GGUFValueType.ARRAY, gguf.GGUFValueType.FLOAT32)
    w.add_array("test.arr_nested", [[1, 2], [3]])

    def add(name, ftype, shape, values=None):
        x = values if values is not None else rng.standard_normal(shape).astype(np.float32)
        if ftype == Q.F32:
            raw, deq = x, x
            w.add_tensor(name, raw)
        elif ftype == Q.F16:
            raw = x.astype(np.float16)
            deq = raw.astype(np.float32)
            w.add_tensor(name, raw)
        else:
            raw = quants.quantize(x, ftype)
            deq = quants.dequantize(raw, ftype)
            w.add_tensor(name, raw, raw_shape=raw.shape, raw_dtype=ftype)
        tensors[name] = np.ascontiguousarray(deq.reshape(shape).astype(np.float32))

    add("f32", Q.F32, (3, 5))
    add("f16", Q.F16, (7, 5))
    add("bf16", Q.BF16, (2, 6))
    add("q4_0", Q.Q4_0, (3, 64))
    add("q4_1", Q.Q4_1, (3, 64))
    add("q8_0", Q.Q8_0, (2, 96))
    # gguf-py cannot quantise Q6_K: random blocks are valid Q6_K data.
    nblk = 3
    q6 = rng.integers(0, 256, size=(nblk, 210), dtype=np.uint8)
    d = (rng.uniform(0.001, 0.02, size=nblk).astype(np.float16)).view(np.uint8).reshape(nblk, 2)
    q6[:, 208:210] = d
    w.add_tensor("q6_k", q6, raw_shape=q6.shape, raw_dtype=Q.Q6_K)
    tensors["q6_k"] = quants.dequantize(q6, Q.Q6_K).reshape(nblk, 256).astype(np.float32)

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    save_file(tensors, f"{OUT}/quant_expected.safetensors")


# ---- tiny models ----------------------------------------------------------------

def permute(weights, n_head, n_head_kv):
    """convert_hf_to_gguf.py LlamaModel.permute"""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2)
            .reshape(weights.shape))


def hf_to_gguf_name(name):
    table = {
        "model.embed_tokens.weight": "token_embd.weight",
        "model.norm.weight": "output_norm.weight",
        "lm_head.weight": "output.weight",
    }
    if name in table:
        return table[name]
    parts = name.split(".")
    layer, rest = parts[2], ".".join(parts[3:])
    sub = {
        "input_layernorm.weight": "attn_norm.weight",
        "self_attn.q_proj.weight": "attn_q.weight", "self_attn.q_proj.bias": "attn_q.bias",
        "self_attn.k_proj.weight": "attn_k.weight", "self_attn.k_proj.bias": "attn_k.bias",
        "self_attn.v_proj.weight": "attn_v.weight", "self_attn.v_proj.bias": "attn_v.bias",
        "self_attn.o_proj.weight": "attn_output.weight",
        "post_attention_layernorm.weight": "ffn_norm.weight",
        "mlp.gate_proj.weight": "ffn_gate.weight",
        "mlp.up_proj.weight": "ffn_up.weight",
        "mlp.down_proj.weight": "ffn_down.weight",
    }[rest]
    return f"blk.{layer}.{sub}"


def add_tokenizer(w, n):
    tokens = ["<unk>", "<s>", "</s>", "<|eot|>"] + [f"t{i}" for i in range(4, n)]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("smollm")
    w.add_token_list(tokens)
    w.add_token_types([2, 3, 3, 3] + [1] * (n - 4))
    w.add_token_merges(["t 4", "t4 5", "t 1"])
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_eot_token_id(3)
    w.add_unk_token_id(0)
    w.add_pad_token_id(2)
    w.add_add_bos_token(True)
    w.add_chat_template("{{ messages }}")


def write_gguf(path, arch, cfg, state, permute_qk):
    w = gguf.GGUFWriter(path, arch)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_rope_freq_base(cfg.rope_parameters["rope_theta"])
    w.add_vocab_size(cfg.vocab_size)
    hd = cfg.hidden_size // cfg.num_attention_heads
    w.add_rope_dimension_count(hd)
    add_tokenizer(w, cfg.vocab_size)
    for name, t in state.items():
        x = t.float().numpy()
        if permute_qk and "q_proj" in name:
            x = permute(x, cfg.num_attention_heads, cfg.num_attention_heads)
        if permute_qk and "k_proj" in name:
            x = permute(x, cfg.num_attention_heads, cfg.num_key_value_heads)
        w.add_tensor(hf_to_gguf_name(name), np.ascontiguousarray(x.astype(np.float32)))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def make_tiny_llama():
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=37, hidden_size=48, intermediate_size=40, num_hidden_layers=2,
                      num_attention_heads=3, num_key_value_heads=1, max_position_embeddings=64,
                      rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=False,
                      bos_token_id=1, eos_token_id=2)
    model = LlamaForCausalLM(cfg).to(torch.bfloat16)
    with torch.no_grad():  # norms away from 1 so a mix-up shows
        for n, p in model.named_parameters():
            if "norm" in n:
                p.copy_(torch.randn_like(p))
    d = f"{OUT}/tiny_llama_hf"
    shutil.rmtree(d, ignore_errors=True)
    model.save_pretrained(d, max_shard_size="40KB")
    for f in os.listdir(d):  # keep only what the loader reads
        if f not in ("config.json", "model.safetensors.index.json") and not f.endswith(".safetensors"):
            os.remove(os.path.join(d, f))
    write_json(f"{d}/generation_config.json", {"bos_token_id": 1, "eos_token_id": [2, 5]})
    state = {k: v for k, v in model.state_dict().items()}
    write_gguf(f"{OUT}/tiny_llama.gguf", "llama", cfg, state, permute_qk=True)


def make_tiny_qwen2():
    torch.manual_seed(1)
    cfg = Qwen2Config(vocab_size=29, hidden_size=32, intermediate_size=24, num_hidden_layers=1,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                      rms_norm_eps=1e-6, rope_theta=1000000.0, tie_word_embeddings=True,
                      bos_token_id=None, eos_token_id=2)
    model = Qwen2ForCausalLM(cfg).to(torch.float16)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "bias" in n or "norm" in n:
                p.copy_(torch.randn_like(p))
    d = f"{OUT}/tiny_qwen2_hf"
    shutil.rmtree(d, ignore_errors=True)
    model.save_pretrained(d)
    for f in os.listdir(d):
        if f not in ("config.json", "model.safetensors"):
            os.remove(os.path.join(d, f))
    state = {k: v for k, v in model.state_dict().items() if k != "lm_head.weight"}
    write_gguf(f"{OUT}/tiny_qwen2.gguf", "qwen2", cfg, state, permute_qk=False)


def make_permute():
    n_head, hd, cols = 3, 8, 5
    q = np.arange(n_head * hd * cols, dtype=np.float32).reshape(n_head * hd, cols)
    save_file({"hf": q, "gguf": np.ascontiguousarray(permute(q, n_head, n_head))},
              f"{OUT}/permute.safetensors")


def rope_factors(inv_freq, factor, low, high, old):
    """convert_hf_to_gguf.py LlamaModel.generate_extra_tensors (llama3)"""
    low_wl, high_wl = old / low, old / high
    out = []
    for freq in inv_freq:
        wavelen = 2 * math.pi / freq
        if wavelen < high_wl:
            out.append(1)
        elif wavelen > low_wl:
            out.append(factor)
        else:
            smooth = (old / wavelen - low) / (high - low)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)


def make_llama3_gguf():
    """One layer, hidden 16, one head of 64: just enough model around rope_freqs."""
    expected = {}
    variants = {
        "std": dict(theta=500000.0, factor=32.0, low=1.0, high=4.0, old=8192),
        "odd": dict(theta=10000.0, factor=8.0, low=2.0, high=8.0, old=1024),
    }
    rng = np.random.default_rng(7)
    for name, v in variants.items():
        cfg = LlamaConfig(vocab_size=8, hidden_size=16, intermediate_size=8, num_hidden_layers=1,
                          num_attention_heads=1, num_key_value_heads=1, head_dim=64,
                          max_position_embeddings=32768, rms_norm_eps=1e-5,
                          rope_parameters={"rope_type": "llama3", "rope_theta": v["theta"],
                                           "factor": v["factor"], "low_freq_factor": v["low"],
                                           "high_freq_factor": v["high"],
                                           "original_max_position_embeddings": v["old"]})
        expected[name] = LlamaRotaryEmbedding(cfg).inv_freq.float().numpy().copy()
        base = (1.0 / (v["theta"] ** (torch.arange(0, 64, 2, dtype=torch.float32) / 64))).numpy()
        w = gguf.GGUFWriter(f"{OUT}/llama3_{name}.gguf", "llama")
        w.add_block_count(1)
        w.add_context_length(32768)
        w.add_embedding_length(16)
        w.add_feed_forward_length(8)
        w.add_head_count(1)
        w.add_head_count_kv(1)
        w.add_key_length(64)
        w.add_value_length(64)
        w.add_layer_norm_rms_eps(1e-5)
        w.add_rope_freq_base(v["theta"])
        w.add_tensor("rope_freqs.weight", rope_factors(base, v["factor"], v["low"], v["high"], v["old"]))
        shapes = {"token_embd.weight": (8, 16), "output_norm.weight": (16,), "output.weight": (8, 16),
                  "blk.0.attn_norm.weight": (16,), "blk.0.attn_q.weight": (64, 16),
                  "blk.0.attn_k.weight": (64, 16), "blk.0.attn_v.weight": (64, 16),
                  "blk.0.attn_output.weight": (16, 64), "blk.0.ffn_norm.weight": (16,),
                  "blk.0.ffn_gate.weight": (8, 16), "blk.0.ffn_up.weight": (8, 16),
                  "blk.0.ffn_down.weight": (16, 8)}
        for tname, shape in shapes.items():
            w.add_tensor(tname, rng.standard_normal(shape).astype(np.float16))
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
    save_file(expected, f"{OUT}/llama3_gguf_expected.safetensors")


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    make_rope()
    make_quant_gguf()
    make_tiny_llama()
    make_tiny_qwen2()
    make_permute()
    make_llama3_gguf()
    print("wrote", OUT)

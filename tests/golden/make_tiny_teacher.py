#!/usr/bin/env python3
"""tests/golden/make_tiny_teacher.py — the teacher of the teacher-student end-to-end test.

Run from the source root:  python3 tests/golden/make_tiny_teacher.py

Writes tests/fixtures/tiny-teacher/ (about 150 KB), used by tests/e2e/seal_teacher.sh as
the `teacher:` of tests/fixtures/tiny-seal's job: a random Qwen2ForCausalLM that differs
from tiny-seal's Llama in architecture (Qwen2: q/k/v biases) and in every size (hidden 32,
3 layers, 2 heads of 16, 1 kv head, intermediate 80), so that its policy LoRA cannot be
merged into the student, nor the student's inner-loop LoRA into it. It shares tiny-seal's
tokenizer (copied: tokenizer.json, tokenizer_config.json), because a random model writing
with another tokenizer's pieces would only write bytes the student's tokenizer never saw;
the self-edit still travels as text (decoded by the teacher, encoded by the student).

Plain Python (struct, random) and no third-party package: the weights are
N(0, 0.02) from random.Random(2025), norms 1, biases 0; deterministic.
"""
import json
import os
import random
import shutil
import struct

OUT = "tests/fixtures/tiny-teacher"
SRC = "tests/fixtures/tiny-seal"
HIDDEN, LAYERS, HEADS, KV_HEADS, HEAD_DIM, INTER, VOCAB = 32, 3, 2, 1, 16, 80, 512


def tensors():
    rng = random.Random(2025)

    def normal(*shape):
        n = 1
        for d in shape:
            n *= d
        return shape, [rng.gauss(0.0, 0.02) for _ in range(n)]

    def const(v, *shape):
        n = 1
        for d in shape:
            n *= d
        return shape, [v] * n

    t = {"model.embed_tokens.weight": normal(VOCAB, HIDDEN)}
    q, kv = HEADS * HEAD_DIM, KV_HEADS * HEAD_DIM
    for l in range(LAYERS):
        p = f"model.layers.{l}."
        t[p + "input_layernorm.weight"] = const(1.0, HIDDEN)
        t[p + "self_attn.q_proj.weight"] = normal(q, HIDDEN)
        t[p + "self_attn.q_proj.bias"] = const(0.0, q)
        t[p + "self_attn.k_proj.weight"] = normal(kv, HIDDEN)
        t[p + "self_attn.k_proj.bias"] = const(0.0, kv)
        t[p + "self_attn.v_proj.weight"] = normal(kv, HIDDEN)
        t[p + "self_attn.v_proj.bias"] = const(0.0, kv)
        t[p + "self_attn.o_proj.weight"] = normal(HIDDEN, q)
        t[p + "post_attention_layernorm.weight"] = const(1.0, HIDDEN)
        t[p + "mlp.gate_proj.weight"] = normal(INTER, HIDDEN)
        t[p + "mlp.up_proj.weight"] = normal(INTER, HIDDEN)
        t[p + "mlp.down_proj.weight"] = normal(HIDDEN, INTER)
    t["model.norm.weight"] = const(1.0, HIDDEN)
    return t


def write_safetensors(path, t):
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(t):
        shape, values = t[name]
        blob = struct.pack(f"<{len(values)}f", *values)
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [off, off + len(blob)]}
        blobs.append(blob)
        off += len(blob)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main():
    os.makedirs(OUT, exist_ok=True)
    config = {
        "architectures": ["Qwen2ForCausalLM"],
        "model_type": "qwen2",
        "hidden_size": HIDDEN,
        "intermediate_size": INTER,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "num_key_value_heads": KV_HEADS,
        "head_dim": HEAD_DIM,
        "vocab_size": VOCAB,
        "max_position_embeddings": 1024,
        "rms_norm_eps": 1e-6,
        "rope_theta": 1000000.0,
        "hidden_act": "silu",
        "tie_word_embeddings": True,
        "bos_token_id": None,
        "eos_token_id": 0,
        "torch_dtype": "float32",
    }
    with open(os.path.join(OUT, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    for name in ("tokenizer.json", "tokenizer_config.json", "generation_config.json"):
        shutil.copyfile(os.path.join(SRC, name), os.path.join(OUT, name))
    write_safetensors(os.path.join(OUT, "model.safetensors"), tensors())


if __name__ == "__main__":
    main()

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

It also writes three variants, for tests/e2e/seal_teacher_kinds.sh and
tests/trainer/test_teacher_tokens.c:

  tests/fixtures/tiny-teacher.gguf   the same model as a GGUF file (version 3, F32, the
      llama.cpp tensor names of qwen2, no q/k permutation), its tokenizer (tiny-seal's
      BPE: tokens in id order, merges, token types, eos) as GGUF metadata, so that a
      GGUF teacher beside the HF student computes what the HF teacher does.
  tests/fixtures/tiny-seal.gguf      tiny-seal (the student) as a llama GGUF, its q and k
      rows permuted as llama.cpp's converter does, for a GGUF student beside an HF
      teacher.
  tests/fixtures/tiny-teacher-tok/   another random Qwen2 of the same sizes with a
      tokenizer of its own: tiny-seal's base symbols and only its first 200 merges,
      every id shuffled (random.Random(12)) and the three special tokens moved to the
      end (<|endoftext|>, the eos, is id 299 of 300, the student's is 0). The same text
      is other ids, and mostly more of them, on the teacher's side than on the student's.

Plain Python (struct, random) and no third-party package: the weights are
N(0, 0.02) from random.Random(2025) (random.Random(2026) for tiny-teacher-tok), norms 1,
biases 0; deterministic.
"""
import json
import os
import random
import shutil
import struct

OUT = "tests/fixtures/tiny-teacher"
GGUF_OUT = "tests/fixtures/tiny-teacher.gguf"
STUDENT_GGUF_OUT = "tests/fixtures/tiny-seal.gguf"
TOK_OUT = "tests/fixtures/tiny-teacher-tok"
SRC = "tests/fixtures/tiny-seal"
HIDDEN, LAYERS, HEADS, KV_HEADS, HEAD_DIM, INTER, VOCAB = 32, 3, 2, 1, 16, 80, 512
TOK_MERGES = 200  # tiny-teacher-tok keeps this many of tiny-seal's 412 merges


def tensors(seed=2025, vocab=VOCAB):
    rng = random.Random(seed)

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

    t = {"model.embed_tokens.weight": normal(vocab, HIDDEN)}
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


def config_json(vocab, eos):
    return {
        "architectures": ["Qwen2ForCausalLM"],
        "model_type": "qwen2",
        "hidden_size": HIDDEN,
        "intermediate_size": INTER,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "num_key_value_heads": KV_HEADS,
        "head_dim": HEAD_DIM,
        "vocab_size": vocab,
        "max_position_embeddings": 1024,
        "rms_norm_eps": 1e-6,
        "rope_theta": 1000000.0,
        "hidden_act": "silu",
        "tie_word_embeddings": True,
        "bos_token_id": None,
        "eos_token_id": eos,
        "torch_dtype": "float32",
    }


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


# ---- GGUF (version 3), as llama.cpp's gguf-py writes it ---------------------------------

GGUF_U32, GGUF_F32, GGUF_STRING, GGUF_ARRAY = 4, 6, 8, 9
GGUF_ALIGN = 32


def gguf_str(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gguf_kv(key, vtype, value):
    out = gguf_str(key) + struct.pack("<I", vtype)
    if vtype == GGUF_U32:
        return out + struct.pack("<I", value)
    if vtype == GGUF_F32:
        return out + struct.pack("<f", value)
    if vtype == GGUF_STRING:
        return out + gguf_str(value)
    elem, items = value  # GGUF_ARRAY
    out += struct.pack("<IQ", elem, len(items))
    for v in items:
        out += gguf_str(v) if elem == GGUF_STRING else struct.pack("<i", v)
    return out


def gguf_name(hf):
    top = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight"}
    if hf in top:
        return top[hf]
    layer, rest = hf.split(".")[2], ".".join(hf.split(".")[3:])
    sub = {
        "input_layernorm.weight": "attn_norm.weight",
        "post_attention_layernorm.weight": "ffn_norm.weight",
        "self_attn.o_proj.weight": "attn_output.weight",
        "mlp.gate_proj.weight": "ffn_gate.weight",
        "mlp.up_proj.weight": "ffn_up.weight",
        "mlp.down_proj.weight": "ffn_down.weight",
    }
    if rest in sub:
        return f"blk.{layer}.{sub[rest]}"
    proj, kind = rest.split(".")[1], rest.split(".")[2]  # self_attn.q_proj.weight
    return f"blk.{layer}.attn_{proj[0]}.{kind}"


def permute_rows(tensor, n_head):
    """convert_hf_to_gguf.py's LlamaModel.permute: within each head of D rows, GGUF row
    2i + j is Hugging Face row j * D/2 + i (interleaved RoPE pairs)."""
    shape, values = tensor
    rows, cols = shape
    d = rows // n_head
    out = []
    for h in range(n_head):
        for r in range(d):
            i, j = r // 2, r % 2
            src = h * d + j * (d // 2) + i
            out.extend(values[src * cols:(src + 1) * cols])
    return shape, out


def read_safetensors(path):
    """The F32 tensors of a safetensors file: name -> (shape, values)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    t = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", (name, info["dtype"])
        a, b = info["data_offsets"]
        t[name] = (tuple(info["shape"]), list(struct.unpack(f"<{(b - a) // 4}f", data[a:b])))
    return t


def write_gguf(path, arch, sizes, t, tok):
    """A GGUF of tensors t (architecture arch, sizes: hidden, layers, heads, kv_heads,
    head_dim, inter, eps, theta) with the tokenizer.json tok as tokenizer.ggml.*
    metadata. A llama's q and k rows are permuted as llama.cpp's converter does."""
    vocab = tok["model"]["vocab"]
    tokens = [None] * len(vocab)
    for piece, i in vocab.items():
        tokens[i] = piece
    special = {a["id"] for a in tok["added_tokens"] if a["special"]}
    eos = vocab["<|endoftext|>"]
    z = sizes
    kv = [
        gguf_kv("general.architecture", GGUF_STRING, arch),
        gguf_kv("general.alignment", GGUF_U32, GGUF_ALIGN),
        gguf_kv(f"{arch}.block_count", GGUF_U32, z["layers"]),
        gguf_kv(f"{arch}.context_length", GGUF_U32, 1024),
        gguf_kv(f"{arch}.embedding_length", GGUF_U32, z["hidden"]),
        gguf_kv(f"{arch}.feed_forward_length", GGUF_U32, z["inter"]),
        gguf_kv(f"{arch}.attention.head_count", GGUF_U32, z["heads"]),
        gguf_kv(f"{arch}.attention.head_count_kv", GGUF_U32, z["kv_heads"]),
        gguf_kv(f"{arch}.attention.key_length", GGUF_U32, z["head_dim"]),
        gguf_kv(f"{arch}.attention.layer_norm_rms_epsilon", GGUF_F32, z["eps"]),
        gguf_kv(f"{arch}.rope.freq_base", GGUF_F32, z["theta"]),
        gguf_kv("tokenizer.ggml.model", GGUF_STRING, "gpt2"),
        gguf_kv("tokenizer.ggml.pre", GGUF_STRING, "gpt2"),
        gguf_kv("tokenizer.ggml.tokens", GGUF_ARRAY, (GGUF_STRING, tokens)),
        gguf_kv("tokenizer.ggml.token_type", GGUF_ARRAY,
                (5, [3 if i in special else 1 for i in range(len(tokens))])),  # 5: INT32
        gguf_kv("tokenizer.ggml.merges", GGUF_ARRAY,
                (GGUF_STRING, [" ".join(m) for m in tok["model"]["merges"]])),
        gguf_kv("tokenizer.ggml.eos_token_id", GGUF_U32, eos),
    ]
    if arch == "llama":
        t = dict(t)
        for name in t:
            if name.endswith("q_proj.weight"):
                t[name] = permute_rows(t[name], z["heads"])
            elif name.endswith("k_proj.weight"):
                t[name] = permute_rows(t[name], z["kv_heads"])
    infos, blobs, off = b"", [], 0
    for name in sorted(t):
        shape, values = t[name]
        blob = struct.pack(f"<{len(values)}f", *values)
        dims = list(reversed(shape))  # GGUF lists the innermost dimension first
        infos += gguf_str(gguf_name(name)) + struct.pack(f"<I{len(dims)}Q", len(dims), *dims)
        infos += struct.pack("<IQ", 0, off)  # 0: F32
        blob += b"\0" * (-len(blob) % GGUF_ALIGN)
        blobs.append(blob)
        off += len(blob)
    head = b"GGUF" + struct.pack("<IQQ", 3, len(t), len(kv)) + b"".join(kv) + infos
    head += b"\0" * (-len(head) % GGUF_ALIGN)
    with open(path, "wb") as f:
        f.write(head + b"".join(blobs))


# ---- tiny-teacher-tok's tokenizer ----------------------------------------------------------


def own_tokenizer(src):
    """tiny-seal's BPE cut to its first TOK_MERGES merges, ids shuffled, specials last."""
    tok = json.loads(json.dumps(src))
    vocab, merges = src["model"]["vocab"], src["model"]["merges"]
    specials = [a["content"] for a in sorted(src["added_tokens"], key=lambda a: a["id"])]
    merged = {a + b for a, b in merges}
    base = sorted(p for p in vocab if p not in merged and p not in specials)
    kept = merges[:TOK_MERGES]
    pieces = base + [a + b for a, b in kept]
    random.Random(12).shuffle(pieces)
    order = pieces + specials[1:] + specials[:1]  # <|im_start|>, <|im_end|>, <|endoftext|>
    tok["model"]["vocab"] = {p: i for i, p in enumerate(order)}
    tok["model"]["merges"] = kept
    for a in tok["added_tokens"]:
        a["id"] = tok["model"]["vocab"][a["content"]]
    tok["added_tokens"].sort(key=lambda a: a["id"])
    return tok


def write_model_dir(out, vocab, eos, t, tok):
    os.makedirs(out, exist_ok=True)
    write_json(os.path.join(out, "config.json"), config_json(vocab, eos))
    write_safetensors(os.path.join(out, "model.safetensors"), t)
    if tok is None:
        for name in ("tokenizer.json", "tokenizer_config.json", "generation_config.json"):
            shutil.copyfile(os.path.join(SRC, name), os.path.join(out, name))
        return
    with open(os.path.join(out, "tokenizer.json"), "w") as f:
        json.dump(tok, f, ensure_ascii=False, separators=(",", ":"))
    shutil.copyfile(os.path.join(SRC, "tokenizer_config.json"), os.path.join(out, "tokenizer_config.json"))
    with open(os.path.join(SRC, "generation_config.json")) as f:
        gen = json.load(f)
    gen["eos_token_id"] = eos
    write_json(os.path.join(out, "generation_config.json"), gen)


def main():
    with open(os.path.join(SRC, "tokenizer.json")) as f:
        src_tok = json.load(f)
    t = tensors()
    write_model_dir(OUT, VOCAB, 0, t, None)
    write_gguf(GGUF_OUT, "qwen2", dict(hidden=HIDDEN, layers=LAYERS, heads=HEADS, kv_heads=KV_HEADS,
                                       head_dim=HEAD_DIM, inter=INTER, eps=1e-6, theta=1000000.0),
               t, src_tok)
    with open(os.path.join(SRC, "config.json")) as f:
        c = json.load(f)
    student = dict(hidden=c["hidden_size"], layers=c["num_hidden_layers"],
                   heads=c["num_attention_heads"], kv_heads=c["num_key_value_heads"],
                   head_dim=c["head_dim"], inter=c["intermediate_size"], eps=c["rms_norm_eps"],
                   theta=c["rope_parameters"]["rope_theta"])
    write_gguf(STUDENT_GGUF_OUT, "llama", student,
               read_safetensors(os.path.join(SRC, "model.safetensors")), src_tok)
    tok = own_tokenizer(src_tok)
    n = len(tok["model"]["vocab"])
    write_model_dir(TOK_OUT, n, tok["model"]["vocab"]["<|endoftext|>"], tensors(2026, n), tok)


if __name__ == "__main__":
    main()

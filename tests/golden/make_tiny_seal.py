#!/usr/bin/env python3
"""tests/golden/make_tiny_seal.py — a tiny real model and job for end-to-end SEAL runs.

Run from the source root:  /root/gold/venv/bin/python tests/golden/make_tiny_seal.py

Writes tests/fixtures/tiny-seal/ (about 200 KB), used by tests/e2e/seal_*.sh:
  tokenizer.json         byte-level BPE (GPT-2 regex) trained here with `tokenizers` on
                         the passages of data/demo (train + eval) and SEAL's prompt texts;
                         specials <|endoftext|> (id 0), <|im_start|>, <|im_end|>. Its
                         alphabet is the printable ASCII bytes plus tab and newline (the
                         data is ASCII), not all 256 bytes: a random model sampling lone
                         bytes >= 0x80 writes self-edits that are not valid UTF-8, which
                         the trainer drops from JSON (jansson refuses them). That is a
                         trainer bug of its own, reproducible with --full-byte-alphabet
                         DIR, and is not what these end-to-end tests are about.
  tokenizer_config.json  eos_token <|endoftext|>, no bos.
  config.json,           a random LlamaForCausalLM (hidden 48, 2 layers, 4 heads, 2 kv
  model.safetensors,     heads, intermediate 96, float32, tied embeddings) whose vocab_size
  generation_config.json is the tokenizer's size; eos_token_id = <|endoftext|>.
  data.json              6 short passages in SEAL's grouped SQuAD form, 2 questions each:
                         the first sentences of 6 data/demo passages, with questions whose
                         answers are in those sentences.
  job.yaml               a 2-round job over them that takes a few seconds on one rank.

The weights are random, so rewards are mostly 0; the end-to-end tests compare the
real-valued per-item results (losses, F1) and the policy tensors as well.
Everything is deterministic (fixed seeds, one thread).
"""
import argparse
import json
import math
import re
from pathlib import Path

import torch
from safetensors.torch import load_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM

OUT = Path("tests/fixtures/tiny-seal")
DEMO = Path("data/demo")
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
VOCAB_SIZE = 512
WEIGHT_SEED = 1234

# SEAL's prompt texts (evaluator/prompts.c), so that their words are merges too.
PROMPT_TEXTS = [
    "Let's read the following passage and produce a list of implications derived "
    "directly or indirectly from the content.\n\nPassage:\n",
    "\n\nImplications:\n",
    "Let's answer a question directly and concisely.\nQuestion: Topic: ",
    "\nAnswer:\n",
]

# (train.json title, sentences kept, question indices kept): each kept question's
# answer lies in the kept sentences (checked below).
PASSAGES = [
    ("Velmora Saltworks", 3, [0, 2]),
    ("Quillan Fesk", 3, None),
    ("Order of the Copper Heron", 3, None),
    ("Ombrel", 3, None),
    ("Hesperine Vall", 3, None),
    ("Karduun Observatory", 3, None),
]

JOB_YAML = """\
# tests/fixtures/tiny-seal/job.yaml — the end-to-end tests' job (tests/e2e/seal_*.sh):
# a random 2-layer Llama on 6 short passages, 2 rounds of 3 passages x 2 self-edits
# x 2 scorings. A run takes a few seconds on one CPU rank. Written by
# tests/golden/make_tiny_seal.py.
task: knowledge
model: tests/fixtures/tiny-seal
device: cpu
seed: 7
output: runs/tiny-seal
rounds: 2
repeats: 2

data:
  train: tests/fixtures/tiny-seal/data.json
  eval: tests/fixtures/tiny-seal/data.json
  contexts_per_round: 3
  n_eval: 2

selfedit:
  prompt: implications
  k: 2
  temperature: 1.0
  top_p: 0.95
  max_tokens: 12

inner_loop:
  lora: {r: 4, alpha: 8, targets: [q, v]}
  epochs: 2
  lr: 1.0e-2
  batch_size: 1

answer:
  max_tokens: 6

grading:
  mode: contains

rest_em:
  lora: {r: 4, alpha: 8, targets: [q, k, v, o, gate, up, down]}
  lr: 1.0e-3
  epochs: 1
  batch_size: 2

evaluation:
  protocols: [single-passage]
"""


def load_demo():
    train = json.loads((DEMO / "train.json").read_text(encoding="utf-8"))
    evals = json.loads((DEMO / "eval.json").read_text(encoding="utf-8"))
    return train, evals


def sentences(text):
    return re.split(r"(?<=\.)\s+", text.strip())


def tiny_passages(train):
    by_title = {p["title"]: p for p in train}
    out = []
    for title, n_sentences, keep in PASSAGES:
        p = by_title[title]
        context = " ".join(sentences(p["context"])[:n_sentences])
        answerable = [q for q in p["questions"] if q["answer"].lower() in context.lower()]
        questions = [p["questions"][i] for i in keep] if keep else answerable[:2]
        assert len(questions) == 2, f"{title}: {len(answerable)} answerable questions"
        for q in questions:
            assert q["answer"].lower() in context.lower(), f"{title}: {q['answer']} not in text"
        out.append({"title": title, "context": context,
                    "questions": [{"question": q["question"], "answer": q["answer"]}
                                  for q in questions]})
    return out


def corpus(train, evals):
    for rep in range(3):
        for p in train + evals:
            yield p["title"]
            yield p["context"]
            for q in p["questions"]:
                yield f"{q['question']} {q['answer']}"
        for t in PROMPT_TEXTS:
            yield t


def byte_to_unicode():
    """GPT-2's byte -> character table that ByteLevel pre-tokenization uses."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def ascii_alphabet():
    """Printable ASCII, space, tab and newline as ByteLevel characters. Every token of
    the vocabulary is then ASCII, so whatever the random model samples decodes to
    valid UTF-8 (see the module docstring)."""
    table = byte_to_unicode()
    return [table[b] for b in [9, 10] + list(range(32, 127))]


def make_tokenizer(train, evals, out, full_alphabet):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    alphabet = pre_tokenizers.ByteLevel.alphabet() if full_alphabet else ascii_alphabet()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, special_tokens=SPECIALS,
                                  initial_alphabet=alphabet, show_progress=False)
    tok.train_from_iterator(corpus(train, evals), trainer)
    path = out / "tokenizer.json"
    path.write_text(tok.to_str(), encoding="utf-8")
    config = {"bos_token": None, "eos_token": "<|endoftext|>", "add_bos_token": False,
              "model_max_length": 512, "tokenizer_class": "PreTrainedTokenizerFast"}
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=1) + "\n",
                                               encoding="utf-8")
    tok = Tokenizer.from_file(str(path))
    for i, s in enumerate(SPECIALS):
        assert tok.token_to_id(s) == i, f"{s} has id {tok.token_to_id(s)}, not {i}"
    return tok


def randomize_weights(model, seed):
    """As tests/golden/make_models.py: Linear weights N(0, 1/in), norms 1 + N(0, 0.1^2),
    the tied embedding N(0, 0.1^2), so activations stay O(1) and sampling is varied."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.1 * noise)
            elif name.endswith("embed_tokens.weight"):
                p.copy_(0.1 * noise)
            else:
                p.copy_(noise / math.sqrt(p.shape[1]))


def make_model(out, vocab_size, eos_id):
    config = LlamaConfig(hidden_size=48, num_attention_heads=4, num_key_value_heads=2,
                         intermediate_size=96, num_hidden_layers=2, vocab_size=vocab_size,
                         max_position_embeddings=1024, rms_norm_eps=1e-5, rope_theta=10000.0,
                         tie_word_embeddings=True, bos_token_id=None, eos_token_id=eos_id,
                         pad_token_id=None, attn_implementation="eager")
    model = LlamaForCausalLM(config).to(torch.float32)
    randomize_weights(model, WEIGHT_SEED)
    model.save_pretrained(out, safe_serialization=True)
    # Round trip: the file holds exactly the weights (tied: no lm_head tensor).
    saved = load_file(str(out / "model.safetensors"))
    assert "lm_head.weight" not in saved
    assert all(t.dtype == torch.float32 for t in saved.values())
    return model


def check_tokens(tok, model, data):
    """A self-edit prompt fits the model's context with room to spare; returns its
    length and the model's greedy continuation (printed, for the record)."""
    p = data[0]
    prompt = PROMPT_TEXTS[0] + p["title"] + "\n" + p["context"] + PROMPT_TEXTS[1]
    ids = tok.encode(prompt).ids
    assert len(ids) + 64 < model.config.max_position_embeddings, len(ids)
    with torch.no_grad():
        out = model.generate(torch.tensor([ids]), max_new_tokens=8, do_sample=False)
    new = out[0, len(ids):].tolist()
    return len(ids), new


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full-byte-alphabet", metavar="DIR", type=Path,
                        help="write the same set with all 256 byte tokens into DIR instead "
                        "(not committed; reproduces self-edits that are not valid UTF-8)")
    args = parser.parse_args()
    out = args.full_byte_alphabet or OUT
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(0)
    out.mkdir(parents=True, exist_ok=True)
    train, evals = load_demo()
    data = tiny_passages(train)
    (out / "data.json").write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n",
                                   encoding="utf-8")
    tok = make_tokenizer(train, evals, out, args.full_byte_alphabet is not None)
    model = make_model(out, tok.get_vocab_size(), tok.token_to_id("<|endoftext|>"))
    job = JOB_YAML.replace("tests/fixtures/tiny-seal", str(out))
    (out / "job.yaml").write_text(job, encoding="utf-8")
    n_prompt, greedy = check_tokens(tok, model, data)
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    assert total < 400 * 1024, f"{out} is {total} bytes"
    print(f"make_tiny_seal: wrote {out} ({total / 1024:.0f} KiB): vocab {tok.get_vocab_size()}, "
          f"self-edit prompt {n_prompt} tokens, greedy continuation {greedy}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""tests/golden/make_tokenizer.py — golden fixtures for model/tokenizer.c and model/chat.c.

Run from the source root:  /root/gold/venv/bin/python tests/golden/make_tokenizer.py

Writes tests/fixtures/tokenizer/:
  llama3/tokenizer.json  byte-level BPE trained here (tokenizers), Llama-3's Split regex
                       (Isolated) + ByteLevel(use_regex=false); merges as [a, b] pairs
                       (what tokenizers 0.23 writes); Llama-3 special tokens plus a
                       non-special added token and two specials where one is a prefix
                       of the other (leftmost-longest matching); beside it a
                       tokenizer_config.json with bos/eos and the Llama-3.2 chat template.
  llama3_strings.json  the same tokenizer with merges rewritten as "a b" strings.
  llama3_ignore.json   the same with ignore_merges=true and a few extra whole-word
                       vocab entries that the merges cannot build.
  qwen2.json           NFC normalizer (inside a Sequence) + Qwen2's regex, trained here.
  gpt2.json            ByteLevel(use_regex=true) alone (GPT-2 regex), trained here.
  smollm.json          Digits(individual_digits=true) + ByteLevel(use_regex=true), as
                       SmolLM2's tokenizer.json, trained here.
  expected.json        {name: [{text, ids, decoded}]} from `tokenizers` for each tokenizer.
  chat.json            chat templates rendered by transformers' apply_chat_template.
  templates/*.jinja    the template texts, for seal_chat_detect.
  smollm2_gguf.json    (only when the real SmolLM2 GGUF is in ~/.cache/seal/models)
                       ids of a few prompts from a `tokenizers` tokenizer built from the
                       GGUF's tokens and merges.

Everything is deterministic: the training corpus is written below.
"""
import copy
import json
import os
import sys
from pathlib import Path

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
from tokenizers import pre_tokenizers, trainers

OUT = Path("tests/fixtures/tokenizer")

LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
               r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

LLAMA3_SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                   "<|end_header_id|>", "<|eot_id|>", "<|ab|>", "<|ab|>cd"]
CHATML_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
VOCAB_SIZE = 1000

# ---- training corpus ----------------------------------------------------------

CORPUS_LINES = [
    "The quick brown fox jumps over the lazy dog. The dog didn't care; it's lazy.",
    "I'm sure you're right, but we've seen they'll say I'd rather not. It's HE'S, She'Ll.",
    "Language models read text as tokens: words, pieces of words, digits and bytes.",
    "In 2024 the model saw 1,234,567 documents and 3.14159 percent were code.",
    "Numbers like 42, 1000, 65536 and 4294967296 show up in logs and tables.",
    "def train(model, data):\n    for step, batch in enumerate(data):\n        loss = model(batch)\n",
    "    return {\"loss\": loss.item(), \"step\": step}  # report progress\n",
    "if (x != NULL && y->next) { printf(\"%d\\n\", x[i]); }",
    "https://example.com/index.html?query=tokenizer&page=2#section",
    "Le café est très bon, n'est-ce pas ? Déjà vu, naïve façade, coöperation.",
    "Über die Brücke gehen Mädchen und Jungen; die Straße ist groß.",
    "El niño comió piña en la mañana. ¿Dónde está la estación?",
    "Привет, мир! Как дела? Всё хорошо, спасибо.",
    "Γειά σου Κόσμε. Η γλώσσα είναι όμορφη.",
    "日本語の文章を分割します。東京は大きな都市です。",
    "中文分词是一个有趣的问题，我们今天学习自然语言处理。",
    "한국어 문장도 포함됩니다. 안녕하세요 여러분.",
    "مرحبا بالعالم، هذه جملة باللغة العربية.",
    "हिन्दी में भी कुछ शब्द हैं।",
    "Emoji time 😀😃😄😁 👍🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️ ✨",
    "Tabs\tand\tspaces   and\nnewlines\r\nmixed  \n\n  together.",
    "   Indented lines\n        deeper indentation\n\treturn value;\n",
    "Questions? Answers! Exclamations!!! Ellipses... (parentheses) [brackets] {braces}",
    "SEAL adapts models by writing self-edits and fine-tuning on them with LoRA.",
    "The passage says the capital of France is Paris, and Paris is on the Seine.",
    "What is the capital of France? It is Paris. What is the capital of Japan? Tokyo.",
]


def corpus():
    # Repeated with small variations, so frequent pairs become merges.
    for rep in range(40):
        for i, line in enumerate(CORPUS_LINES):
            yield line
            if (rep + i) % 3 == 0:
                yield line.upper()
            if (rep + i) % 5 == 0:
                yield f"{rep * 37 + i} {line.lower()} {i * 1009}"


def train(pre_tokenizer, specials, normalizer=None):
    tok = Tokenizer(models.BPE())
    if normalizer is not None:
        tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(corpus(), trainer)
    return tok


# ---- awkward strings ------------------------------------------------------------

CASES = [
    "",
    " ",
    "  ",
    "Hello world",
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "I'm you're he's we've they'll I'd can't don't",
    "I'M YOU'RE HE'S WE'VE THEY'LL I'D CAN'T",
    "It'S mIxEd'Ll cAsE'Ve 'd 'M",
    "1234567890",
    "3.14159 and 2,718,281,828",
    "7" * 301,
    "Ran 12345678901234567890 laps in 2024",
    "    leading spaces",
    "trailing spaces    ",
    "a  b   c    d     e",
    "\n",
    "\n\n\n",
    "line1\nline2\r\nline3\r\n\r\nend",
    "\ttab\tseparated\t\tvalues\t",
    " \n \n  \n",
    "   \n   x",
    "\r\n\r\n",
    " " * 200 + "x",
    "\n" * 50,
    "日本語のテキストです。",
    "中文分词测试，包括标点符号！",
    "한국어 텍스트",
    "emoji 😀😃😄",
    "family 👨‍👩‍👧‍👦 zwj",
    "thumbs 👍🏽👍🏿👍",
    "flags 🇫🇷🇯🇵",
    "café (composed)",
    "cafe\u0301 (decomposed)",
    "A\u030angstro\u0308m and n\u0303",
    "naïve façade coöperate",
    "Привет, мир!",
    "Γειά σου Κόσμε",
    "مرحبا بالعالم",
    "हिन्दी",
    "Hello世界123abc😀мир",
    "non\u00a0breaking\u2003em\u3000ideographic",
    "\u2028line sep\u2029para sep",
    "zero\u200bwidth\u200djoiner",
    "<|begin_of_text|>Hello<|eot_id|>",
    "text<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
    "<|eot_id|><|eot_id|>",
    "almost <|eot_id| special and <|eot_id",
    "x<|ab|>cd y<|ab|>c <|ab|>",
    "<tool_call>{\"a\": 1}</tool_call>",
    "<|im_start|>user\nHi<|im_end|>\n",
    "def f(x):\n    return x ** 2  # square\n",
    "{\"key\": [1, 2, 3], 'b': null}",
    "https://example.com/path?q=1&r=2#frag",
    "!!!???...,,,;;;",
    "\ufb01 ligature \ufb00",
    "\uff26\uff55\uff4c\uff4c\uff57\uff49\uff44\uff54\uff48",
    "the zyxwvut is here, zyxwvut! 999 ZYXWVUT",
    "What is the capital of France?",
    "it\u2019s curly, it'\u017f long s, 'K vs '\u212a kelvin",
    "\u0085NEL \u180eMVS x\u000by\u000cz\u001fus soft\u00adhyphen",
]


def expected_for(tok):
    out = []
    for text in CASES:
        enc = tok.encode(text, add_special_tokens=False)
        ids = list(enc.ids)
        out.append({"text": text, "ids": ids,
                    "decoded": tok.decode(ids, skip_special_tokens=False),
                    "decoded_skip": tok.decode(ids, skip_special_tokens=True)})
    return out


def check_added_ids(tok, tok_json, name):
    for added in tok_json["added_tokens"]:
        got = tok.token_to_id(added["content"])
        assert got == added["id"], f"{name}: {added['content']} has id {got}, not {added['id']}"


def save(tok_json, name):
    path = OUT / f"{name}.json"
    if name == "llama3":
        # In a folder of its own, beside a tokenizer_config.json (bos/eos, chat template).
        path = OUT / "llama3" / "tokenizer.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        config = {"bos_token": "<|begin_of_text|>",
                  "eos_token": {"content": "<|eot_id|>", "special": True},
                  "chat_template": LLAMA32_TEMPLATE}
        (path.parent / "tokenizer_config.json").write_text(
            json.dumps(config, ensure_ascii=False, indent=1), encoding="utf-8")
    path.write_text(json.dumps(tok_json, ensure_ascii=False, separators=(",", ":")),
                    encoding="utf-8")
    tok = Tokenizer.from_file(str(path))
    check_added_ids(tok, tok_json, name)
    return tok


def make_tokenizers():
    expected = {}

    # Llama-3 style.
    llama3 = train(pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]), LLAMA3_SPECIALS)
    llama3.add_tokens([AddedToken("<tool_call>", special=False, normalized=False)])
    j = json.loads(llama3.to_str())
    merges = j["model"]["merges"]
    assert merges and isinstance(merges[0], list), "tokenizers now writes merges as strings?"
    tok = save(j, "llama3")
    expected["llama3"] = expected_for(tok)

    js = copy.deepcopy(j)
    js["model"]["merges"] = [f"{a} {b}" for a, b in merges]
    tok = save(js, "llama3_strings")
    expected["llama3_strings"] = expected_for(tok)
    assert expected["llama3_strings"] == expected["llama3"]

    ji = copy.deepcopy(j)
    ji["model"]["ignore_merges"] = True
    vocab = ji["model"]["vocab"]
    # New vocabulary ids follow the model's; the added tokens outside the model's
    # vocabulary move after them (`tokenizers` gives those ids from the vocab size).
    next_id = len(vocab)
    extra = ["Ġzyxwvut", "zyxwvut", "ĠZYXWVUT", "999"]
    for word in extra:
        assert word not in vocab
        vocab[word] = next_id
        next_id += 1
    for added in ji["added_tokens"]:
        if added["content"] not in vocab:
            added["id"] = next_id
            next_id += 1
    tok = save(ji, "llama3_ignore")
    expected["llama3_ignore"] = expected_for(tok)
    # The extra words must be reached only through ignore_merges.
    by_text = {c["text"]: c["ids"] for c in expected["llama3_ignore"]}
    plain = {c["text"]: c["ids"] for c in expected["llama3"]}
    probe = "the zyxwvut is here, zyxwvut! 999 ZYXWVUT"
    assert by_text[probe] != plain[probe]
    assert vocab["Ġzyxwvut"] in by_text[probe]

    # Qwen2 style: NFC normalizer inside a Sequence, Qwen2's regex.
    qwen2 = train(pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]), CHATML_SPECIALS,
        normalizer=normalizers.Sequence([normalizers.NFC()]))
    tok = save(json.loads(qwen2.to_str()), "qwen2")
    expected["qwen2"] = expected_for(tok)

    # GPT-2 style: the ByteLevel pre-tokenizer's own regex.
    gpt2 = train(pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
                 CHATML_SPECIALS)
    tok = save(json.loads(gpt2.to_str()), "gpt2")
    expected["gpt2"] = expected_for(tok)

    # SmolLM2 style: digits split one by one, then the GPT-2 regex.
    smollm = train(pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]), CHATML_SPECIALS)
    tok = save(json.loads(smollm.to_str()), "smollm")
    expected["smollm"] = expected_for(tok)

    (OUT / "expected.json").write_text(json.dumps(expected, ensure_ascii=False, indent=0),
                                       encoding="utf-8")
    return llama3


# ---- chat templates -------------------------------------------------------------

# meta-llama/Llama-3.2-1B-Instruct tokenizer_config.json "chat_template", as the JSON
# string it is stored as there (decoded below).
LLAMA32_TEMPLATE_JSON = r'''"{{- bos_token }}\n{%- if custom_tools is defined %}\n    {%- set tools = custom_tools %}\n{%- endif %}\n{%- if not tools_in_user_message is defined %}\n    {%- set tools_in_user_message = true %}\n{%- endif %}\n{%- if not date_string is defined %}\n    {%- if strftime_now is defined %}\n        {%- set date_string = strftime_now(\"%d %b %Y\") %}\n    {%- else %}\n        {%- set date_string = \"26 Jul 2024\" %}\n    {%- endif %}\n{%- endif %}\n{%- if not tools is defined %}\n    {%- set tools = none %}\n{%- endif %}\n\n{#- This block extracts the system message, so we can slot it into the right place. #}\n{%- if messages[0]['role'] == 'system' %}\n    {%- set system_message = messages[0]['content']|trim %}\n    {%- set messages = messages[1:] %}\n{%- else %}\n    {%- set system_message = \"\" %}\n{%- endif %}\n\n{#- System message #}\n{{- \"<|start_header_id|>system<|end_header_id|>\\n\\n\" }}\n{%- if tools is not none %}\n    {{- \"Environment: ipython\\n\" }}\n{%- endif %}\n{{- \"Cutting Knowledge Date: December 2023\\n\" }}\n{{- \"Today Date: \" + date_string + \"\\n\\n\" }}\n{%- if tools is not none and not tools_in_user_message %}\n    {{- \"You have access to the following functions. To call a function, please respond with JSON for a function call.\" }}\n    {{- 'Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}.' }}\n    {{- \"Do not use variables.\\n\\n\" }}\n    {%- for t in tools %}\n        {{- t | tojson(indent=4) }}\n        {{- \"\\n\\n\" }}\n    {%- endfor %}\n{%- endif %}\n{{- system_message }}\n{{- \"<|eot_id|>\" }}\n\n{#- Custom tools are passed in a user message with some extra guidance #}\n{%- if tools_in_user_message and not tools is none %}\n    {#- Extract the first user message so we can plug it in here #}\n    {%- if messages | length != 0 %}\n        {%- set first_user_message = messages[0]['content']|trim %}\n        {%- set messages = messages[1:] %}\n    {%- else %}\n        {{- raise_exception(\"Cannot put tools in the first user message when there's no first user message!\") }}\n{%- endif %}\n    {{- '<|start_header_id|>user<|end_header_id|>\\n\\n' -}}\n    {{- \"Given the following functions, please respond with a JSON for a function call \" }}\n    {{- \"with its proper arguments that best answers the given prompt.\\n\\n\" }}\n    {{- 'Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}.' }}\n    {{- \"Do not use variables.\\n\\n\" }}\n    {%- for t in tools %}\n        {{- t | tojson(indent=4) }}\n        {{- \"\\n\\n\" }}\n    {%- endfor %}\n    {{- first_user_message + \"<|eot_id|>\"}}\n{%- endif %}\n\n{%- for message in messages %}\n    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}\n        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}\n    {%- elif 'tool_calls' in message %}\n        {%- if not message.tool_calls|length == 1 %}\n            {{- raise_exception(\"This model only supports single tool-calls at once!\") }}\n        {%- endif %}\n        {%- set tool_call = message.tool_calls[0].function %}\n        {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}\n        {{- '{\"name\": \"' + tool_call.name + '\", ' }}\n        {{- '\"parameters\": ' }}\n        {{- tool_call.arguments | tojson }}\n        {{- \"}\" }}\n        {{- \"<|eot_id|>\" }}\n    {%- elif message.role == \"tool\" or message.role == \"ipython\" %}\n        {{- \"<|start_header_id|>ipython<|end_header_id|>\\n\\n\" }}\n        {%- if message.content is mapping or message.content is iterable %}\n            {{- message.content | tojson }}\n        {%- else %}\n            {{- message.content }}\n        {%- endif %}\n        {{- \"<|eot_id|>\" }}\n    {%- endif %}\n{%- endfor %}\n{%- if add_generation_prompt %}\n    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}\n{%- endif %}\n"'''
LLAMA32_TEMPLATE = json.loads(LLAMA32_TEMPLATE_JSON)

# meta-llama/Meta-Llama-3-8B-Instruct (Llama 3.0): no system header of its own.
LLAMA30_TEMPLATE = r"""{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"""

# Qwen/Qwen2.5-*-Instruct tokenizer_config.json "chat_template".
QWEN25_TEMPLATE = r'''{%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
    {%- for tool in tools %}
        {{- "\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{{\"name\": <function-name>, \"arguments\": <args-json-object>}}\n</tool_call><|im_end|>\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}
    {%- else %}
        {{- '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\n<tool_call>\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' }}
        {{- message.content }}
        {{- '\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
'''

# HuggingFaceTB/SmolLM2-*-Instruct tokenizer_config.json "chat_template" (its string
# literals hold real newlines, as the JSON "\n" there decodes to).
SMOLLM2_TEMPLATE = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != "
                    "'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named "
                    "SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' "
                    "+ message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
                    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}"
                    "{% endif %}")

TEMPLATES = {"llama3.2": LLAMA32_TEMPLATE, "llama3.0": LLAMA30_TEMPLATE,
             "qwen2.5": QWEN25_TEMPLATE, "smollm2": SMOLLM2_TEMPLATE}

CONVERSATIONS = [
    ([{"role": "user", "content": "Hello!"}], True),
    ([{"role": "user", "content": "Hello!"}], False),
    ([{"role": "system", "content": "You are a pirate."},
      {"role": "user", "content": "Who are you?"}], True),
    ([{"role": "system", "content": "Answer briefly."},
      {"role": "user", "content": "What is 2+2?"},
      {"role": "assistant", "content": "4"},
      {"role": "user", "content": "And 3+3?"}], True),
    ([{"role": "user", "content": "Tell me a joke."},
      {"role": "assistant", "content": "Why did the tokenizer split? It saw a space."},
      {"role": "user", "content": "Another one, in 日本語 😀"}], False),
    ([{"role": "system", "content": "  Padded system.\n\n"},
      {"role": "user", "content": "\n  What is   spacing?  \t\n"},
      {"role": "assistant", "content": " lots \n"}], True),
    ([{"role": "user", "content": "first"},
      {"role": "system", "content": "a late system message"},
      {"role": "user", "content": "second"}], True),
    ([{"role": "system", "content": "Only a system message."}], True),
    ([{"role": "user", "content": ""}], True),
]


def make_chat(tok):
    from transformers import PreTrainedTokenizerFast
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|begin_of_text|>",
                                 eos_token="<|eot_id|>")
    (OUT / "templates").mkdir(parents=True, exist_ok=True)
    cases = []
    for name, template in TEMPLATES.items():
        (OUT / "templates" / f"{name}.jinja").write_text(template, encoding="utf-8")
        for messages, gen in CONVERSATIONS:
            text = hf.apply_chat_template(messages, chat_template=template, tokenize=False,
                                          add_generation_prompt=gen, date_string="26 Jul 2024")
            cases.append({"template": name, "messages": messages,
                          "add_generation_prompt": gen, "expected": text})
    (OUT / "chat.json").write_text(json.dumps(cases, ensure_ascii=False, indent=1),
                                   encoding="utf-8")


# ---- the real SmolLM2 GGUF, when present ------------------------------------------

GGUF_PROMPTS = [
    "What is the capital of France?",
    "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n",
    "In 2024, 12345 tokens weren't enough: café, 日本語, 😀!",
]


def make_gguf_reference():
    cache = Path(os.environ.get("SEAL_CACHE", Path.home() / ".cache" / "seal"))
    path = cache / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    out = OUT / "smollm2_gguf.json"
    if not path.exists():
        print(f"make_tokenizer: {path} is absent; keeping any existing {out}", file=sys.stderr)
        return
    import gguf
    reader = gguf.GGUFReader(str(path))

    def field_strings(key):
        f = reader.fields[key]
        return [bytes(f.parts[i]).decode("utf-8") for i in f.data]

    def field_ints(key):
        f = reader.fields[key]
        return [int(f.parts[i][0]) for i in f.data]

    tokens = field_strings("tokenizer.ggml.tokens")
    merges = field_strings("tokenizer.ggml.merges")
    types = field_ints("tokenizer.ggml.token_type")
    pre = field_strings("tokenizer.ggml.pre")[0] if "tokenizer.ggml.pre" in reader.fields else ""
    assert pre == "smollm", f"unexpected tokenizer.ggml.pre {pre!r}"
    vocab = {t: i for i, t in enumerate(tokens)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[tuple(m.split(" ", 1)) for m in merges]))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                            for t, ty in zip(tokens, types) if ty == 3])
    tok.add_tokens([AddedToken(t, special=False, normalized=False)
                    for t, ty in zip(tokens, types) if ty == 4])
    cases = [{"text": p, "ids": tok.encode(p, add_special_tokens=False).ids}
             for p in GGUF_PROMPTS]
    out.write_text(json.dumps({"file": path.name, "n_tokens": len(tokens), "cases": cases},
                              ensure_ascii=False, indent=1), encoding="utf-8")


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    llama3 = make_tokenizers()
    make_chat(llama3)
    make_gguf_reference()
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"make_tokenizer: wrote {OUT} ({total / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""tests/golden/make_arc_fixtures.py — fixtures for the ARC library (evaluator/arc*.c),
computed by the SEAL reference's own few-shot code (pure numpy).

Run from the source root (about 10 s):

    /work/venv-arc/bin/python tests/golden/make_arc_fixtures.py \
        [--mirror /work/.mirror/Continual-Intelligence+SEAL/repo]

The venv needs numpy, scipy, matplotlib and xxhash (the reference's arclib imports
them), jinja2 (to render the chat templates as transformers does) and tokenizers
(for the loss boundary on the repository's small Llama-3-style tokenizer).

The script exports the reference's files with `git show HEAD:few-shot/...` from
the mirror into a temporary folder and imports them unchanged; functions that
live in self-edit.py (whose imports need torch and vLLM) are lifted out of its
source with `ast` and executed as written. It writes tests/fixtures/arc/:

  augment.json   every deterministic augmenter of get_augmenters (and the identity)
                 applied to grids from 1x1 to 30x30, and the reference's inverse()
                 where it has one, applied to each result.
  ttt.json       leave-n problems and deduplicated augmented problem counts of
                 get_test_time_train_data (deterministic augmenters, permute_n=0).
  render.json    GPTTextMessageRepresenterV2 messages of a few problems, their texts
                 through the Llama-3.2 and SmolLM2 templates (as the reference
                 renders them and as seal does), and the token ranges the
                 reference's _tokenize_and_process puts in the loss.
  selfedit.json  self-edit.py's get_prompt, and the same as messages through the
                 Llama-3.0 template.
  vote.json      arclib/voting.py's vote on crafted prediction lists, and what
                 seal's vote gives (the reference's code with the changes that
                 docs/arc.md lists).
  answers.json   model outputs decoded as eval-self-edits.py decodes them, and what
                 seal's parser gives.

docs/fixtures.md describes every file. Output is deterministic (all randomness is
numpy RandomState with fixed seeds; vote order uses tuple hashes, which Python does
not randomise).
"""
import argparse
import ast
import contextlib
import io
import itertools
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import jinja2
import numpy as np
from tokenizers import Tokenizer

OUT = Path("tests/fixtures/arc")
TEMPLATES = Path("tests/fixtures/tokenizer/templates")
TOKENIZER = Path("tests/fixtures/tokenizer/llama3/tokenizer.json")
DATE = "26 Jul 2024"  # the date the Llama-3.2 template shows when none is given

REF_FILES = [
    "arclib/__init__.py", "arclib/arc.py", "arclib/augmenters.py", "arclib/representers.py",
    "arclib/messagers.py", "arclib/voting.py", "utils/__init__.py", "utils/np_cache.py",
    "utils/prompts.py", "inference/__init__.py", "inference/preprocess.py", "self-edit.py",
]


def export_reference(mirror, dest):
    for f in REF_FILES:
        text = subprocess.run(["git", "-C", mirror, "show", f"HEAD:few-shot/{f}"],
                              check=True, capture_output=True).stdout
        path = Path(dest) / f
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text)


def lift_functions(path, names, namespace):
    """Executes the named top-level functions of a file, as written, in namespace."""
    tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    nodes = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in names]
    assert {n.name for n in nodes} == set(names), names
    exec(compile(ast.Module(body=nodes, type_ignores=[]), str(path), "exec"), namespace)


# ---- grids as JSON: a list of row strings of digits ----------------------------------------

def rows(grid):
    return ["".join(str(int(v)) for v in row) for row in np.asarray(grid)]


def grid_of(rows_):
    return np.array([[int(c) for c in r] for r in rows_], dtype=np.int64)


def random_grid(rng, h, w):
    return rng.randint(0, 10, size=(h, w)).astype(np.int64)


# ---- augment.json ---------------------------------------------------------------------------

SHAPES = [(1, 1), (1, 7), (7, 1), (2, 2), (3, 3), (4, 4), (5, 5), (2, 5), (5, 2), (3, 8),
          (6, 4), (15, 15), (30, 1), (1, 30), (30, 30)]


def make_augment(ref):
    A = ref["augmenters"]
    rng = np.random.RandomState(1)
    grids = [random_grid(rng, h, w) for h, w in SHAPES]
    augs = [a for a in ref["get_augmenters"]() if not isinstance(a, A.RandomTranslateXY)]
    augs.append(A.IdentityAugmenter())
    ops = []
    for aug in augs:
        inv = A.inverse(aug)
        outs = [aug.apply_to_grid(g) for g in grids]
        ops.append({
            "name": str(aug),
            "outputs": [rows(o) for o in outs],
            "inverse": str(inv) if inv is not None else None,
            "inverse_of_outputs": [rows(inv.apply_to_grid(o)) for o in outs] if inv else None,
        })
    return {"grids": [rows(g) for g in grids], "ops": ops}


# ---- ttt.json -------------------------------------------------------------------------------

def demo_task(ref, demos, test=None):
    Example, Task = ref["Example"], ref["Task"]
    ex = [Example(grid_of(i), grid_of(o)) for i, o in demos]
    t = Example(grid_of(test[0]), grid_of(test[1])) if test else ex[0]
    return Task(train_examples=ex, test_example=t, name="")


def distinct_demos(n):
    """n demonstrations that differ from each other: input [[k]], output [[k+1]]."""
    return [([str(k)], [str(k + 1)]) for k in range(n)]


def leave_n_structure(ref, n_demos, n):
    task = demo_task(ref, distinct_demos(n_demos))
    tasks = ref["get_test_time_train_data"](task, [], n=n, permute_n=0, seed=0)
    key = lambda ex: int(ex.input[0, 0])  # demo k has input [[k]]
    structure = sorted([key(t.test_example), [key(e) for e in t.train_examples]] for t in tasks)
    return structure


TTT_TASKS = {
    # 3x3 grids that are symmetric under some of the ops, so that deduplication matters
    "symmetric": [(["101", "010", "101"], ["010", "101", "010"]),
                  (["111", "000", "111"], ["000", "111", "000"]),
                  (["120", "000", "021"], ["021", "000", "120"])],
    # a 16x16 input: every size-doubling op makes it 32 high or wide and is dropped
    "large": [(["0123456789012345"] * 16, ["12", "34"]),
              (["98"] * 3, ["7"]),
              (["5"], ["6"] * 15)],
    # two equal demonstrations: leave-one-out gives equal problems
    "repeated": [(["12", "34"], ["21", "43"]), (["12", "34"], ["21", "43"]),
                 (["56", "78"], ["65", "87"]), (["90", "01"], ["09", "10"])],
}


def make_ttt(ref):
    A = ref["augmenters"]
    det = [a for a in ref["get_augmenters"]() if not isinstance(a, A.RandomTranslateXY)]
    leave_n = [{"n_demos": N, "n": n, "problems": leave_n_structure(ref, N, n)}
               for N in range(1, 7) for n in (1, 2)]
    cases = []
    for name, demos in TTT_TASKS.items():
        task = demo_task(ref, demos)
        for n in (1, 2):
            for label, augs in (("none", []), ("deterministic", det)):
                tasks = ref["get_test_time_train_data"](task, augs, n=n, permute_n=0, seed=0)
                cases.append({"task": name, "leave_n": n, "augmenters": label,
                              "count": len(tasks),
                              "max_side": max(max(t.max_height(), t.max_width()) for t in tasks)})
    return {"tasks": {k: [{"input": i, "output": o} for i, o in v] for k, v in TTT_TASKS.items()},
            "deterministic_augmenters": [str(a) for a in det],
            "leave_n": leave_n, "cases": cases}


# ---- render.json and selfedit.json -------------------------------------------------------------

def jinja_render(template_name, messages, add_generation_prompt):
    """A chat template rendered the way transformers renders it."""
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    template = env.from_string((TEMPLATES / f"{template_name}.jinja").read_text(encoding="utf-8"))
    return template.render(messages=messages, add_generation_prompt=add_generation_prompt,
                           bos_token="<|begin_of_text|>", date_string=DATE)


RENDER_PROBLEMS = {
    "two-demos": ([(["12", "34"], ["21", "43"]), (["505", "050"], ["050", "505"])],
                  (["78", "90"], ["87", "09"])),
    "no-demos": ([], (["3"], ["4", "4"])),
    "column-and-row": ([(["1", "2", "3"], ["123"])], (["4", "5"], ["45"])),
    "thirty-wide": ([(["0123456789" * 3] * 2, ["9876543210" * 3])], (["1" * 30], ["2" * 30])),
}


def loss_tokens(tok, text_ref):
    """_tokenize_and_process of the reference on the small Llama-3-style tokenizer: the
    real Llama-3 tokenizer's post-processor puts <|begin_of_text|> before the text,
    which starts with one already (this small one has no post-processor, so it is
    prepended here); labels are kept from the token after the third of the four
    (<|end_header_id|>, "\\n\\n") pairs."""
    end_header, blank = tok.token_to_id("<|end_header_id|>"), tok.token_to_id("ĊĊ")
    ids = [tok.token_to_id("<|begin_of_text|>")] + tok.encode(text_ref, add_special_tokens=False).ids
    special = [i + 1 for i in range(len(ids) - 1) if ids[i] == end_header and ids[i + 1] == blank]
    assert len(special) == 4, special
    return ids, special[2] + 1


def make_render(ref):
    formatter = ref["formatter"]
    tok = Tokenizer.from_file(str(TOKENIZER))
    gen_header = "<|start_header_id|>assistant<|end_header_id|>\n\n"
    cases = []
    for name, (demos, test) in RENDER_PROBLEMS.items():
        task = demo_task(ref, demos, test) if demos else ref["Task"](
            train_examples=[], test_example=ref["Example"](grid_of(test[0]), grid_of(test[1])))
        inp, out = formatter.encode(task)
        messages = inp + [out]
        ref_train = jinja_render("llama3.2", messages, True)  # as format_and_filter renders it
        seal_train = jinja_render("llama3.2", messages, False)
        ids_ref, label_start = loss_tokens(tok, ref_train)
        cases.append({
            "name": name,
            "train": [{"input": i, "output": o} for i, o in demos],
            "test": {"input": test[0], "output": test[1]},
            "messages": messages,
            "llama3.2_train_reference": ref_train,
            "llama3.2_train": seal_train,
            "llama3.2_query": jinja_render("llama3.2", inp, True),
            "smollm2_train": jinja_render("smollm2", messages, False),
            "smollm2_query": jinja_render("smollm2", inp, True),
            "tokens": {
                "reference_ids": ids_ref,
                "reference_label_start": label_start,
                "generation_prompt_ids": tok.encode(gen_header, add_special_tokens=False).ids,
                "seal_text_ids": tok.encode(seal_train, add_special_tokens=False).ids,
            },
        })
    return {"date": DATE, "cases": cases}


SELFEDIT_TASKS = {
    "two-demos": [(["12", "34"], ["21", "43"]), (["505", "050"], ["050", "505"])],
    "one-wide-demo": [(["0123456789"], ["9", "8"])],
}


def make_selfedit(ref):
    prompts = ref["prompts"]
    cases = []
    for name, demos in SELFEDIT_TASKS.items():
        task = demo_task(ref, demos)
        prompt = ref["get_prompt"](task, prompts.system_message, prompts.self_edit_prompt)
        user = prompt.split("<|start_header_id|>user<|end_header_id|>\n\n")[1].split("<|eot_id|>")[0]
        messages = [{"role": "system", "content": prompts.system_message},
                    {"role": "user", "content": user}]
        cases.append({"name": name, "train": [{"input": i, "output": o} for i, o in demos],
                      "reference_prompt": prompt, "messages": messages,
                      "llama3.0": jinja_render("llama3.0", messages, True)})
    return {"system_message": prompts.system_message,
            "self_edit_prompt": prompts.self_edit_prompt, "cases": cases}


# ---- vote.json: the reference's vote, and seal's ---------------------------------------------

def ordered_set(xs):
    return list(dict.fromkeys(xs))  # set() with the order of first occurrence


def seal_row_majority(outputs, transpose=False, to_tuple=None):
    # row_base_majority_voting with set() in first-seen order
    if transpose:
        outputs = [to_tuple(np.array(output).T) for output in outputs]
    unique_shapes = [np.array(output).shape for output in outputs]
    most_common_shape = max(ordered_set(unique_shapes), key=unique_shapes.count)
    output_rows = []
    for row in range(most_common_shape[0]):
        unique_rows = [output[row] for output in outputs
                       if len(output) > row and len(output[row]) == most_common_shape[1]]
        output_rows.append(max(ordered_set(unique_rows), key=unique_rows.count))
    output = np.array(output_rows)
    if transpose:
        output = output.T
    return to_tuple(output)


def seal_top_three(outputs, to_tuple):
    # get_all_type_of_votingsv2 with one ranking: by count, ties to the first seen
    if len(outputs) == 0:
        return (None, None, None)
    unique_outputs = ordered_set(outputs)
    counts = [outputs.count(output) for output in unique_outputs]
    order = sorted(range(len(unique_outputs)), key=lambda i: -counts[i])
    most_common = unique_outputs[order[0]]
    second_most_common = unique_outputs[order[1]] if len(order) > 1 else most_common
    third_most_common = unique_outputs[order[2]] if len(order) > 2 else most_common
    row_based_majority = seal_row_majority(outputs, False, to_tuple)
    col_based_majority = seal_row_majority(outputs, True, to_tuple)
    if second_most_common == most_common:
        second_most_common = (
            row_based_majority if row_based_majority != most_common else col_based_majority)
    if third_most_common in (most_common, second_most_common):
        third_most_common = (
            row_based_majority if row_based_majority not in (most_common, second_most_common)
            else col_based_majority)
    return most_common, second_most_common, third_most_common


def seal_vote(outputs, to_tuple):
    # vote() with the ranking above; a second and third with as many candidate votes
    # swap only when the third has more identity votes and is not the first attempt
    outputs_by_category = {}
    for d in outputs:
        inverter = d["inverter"] if d["inverter"] is not None else "identity"
        outputs_by_category.setdefault(inverter, []).append(to_tuple(d["output"]))
    outputs_all = []
    for key in outputs_by_category:
        outputs_all += outputs_by_category[key]
    outputs_by_category["all"] = outputs_all
    candidates = []
    for key in ["all", "identity", "Transpose()", "Flip(0)", "Flip(1)", "Rotate(180)",
                "Rotate(270)"]:
        if key in outputs_by_category:
            candidates += [c for c in seal_top_three(outputs_by_category[key], to_tuple)
                           if c is not None]
    C1, C2, C3 = seal_top_three(candidates, to_tuple)
    if (candidates.count(C2) == candidates.count(C3) and C3 != C1
            and "identity" in outputs_by_category):
        identity = outputs_by_category["identity"]
        if identity.count(C3) > identity.count(C2):
            C2 = C3
    return (C1, C2)


G = {  # small named grids for the crafted lists
    "A": ["12", "34"], "B": ["12", "35"], "C": ["99", "99"], "D": ["12", "34", "56"],
    "E": ["1"], "F": ["2"], "H": ["3"], "R": ["13", "24"], "T": ["55", "34"],
}

VOTE_CASES = {
    # name: [(group, grid name), ...]
    "one-answer": [("identity", "A")],
    "clear-majority": [("identity", "A"), ("identity", "A"), ("identity", "B"),
                       ("Transpose()", "A"), ("Flip(0)", "C")],
    "two-way-tie": [("identity", "A"), ("identity", "B"), ("identity", "A"), ("identity", "B")],
    "three-way-tie": [("identity", "E"), ("identity", "F"), ("identity", "H")],
    "tie-below-the-top": [("identity", "A"), ("identity", "A"), ("identity", "A"),
                          ("identity", "B"), ("identity", "C")],
    "tie-first-and-second": [("identity", "E"), ("identity", "E"), ("identity", "F"),
                             ("identity", "F"), ("identity", "H")],
    "row-majority-fallback": [("identity", "A"), ("identity", "A"), ("identity", "T"),
                              ("identity", "B")],
    "shapes-differ": [("identity", "D"), ("identity", "A"), ("Transpose()", "A"),
                      ("Flip(1)", "D"), ("Rotate(180)", "D")],
    "no-identity-group": [("Transpose()", "A"), ("Transpose()", "B"), ("Flip(0)", "B"),
                          ("Rotate(270)", "C"), ("Rotate(270)", "A")],
    "identity-breaks-tie": [("identity", "C"), ("Transpose()", "B"), ("Transpose()", "B"),
                            ("Flip(0)", "A"), ("Flip(0)", "A"), ("Flip(0)", "A"),
                            ("Flip(0)", "A")],
    "second-third-tie-kept": [("identity", "B"), ("Transpose()", "A"), ("Transpose()", "A"),
                            ("Flip(0)", "C"), ("Flip(0)", "C"), ("Flip(1)", "B"),
                            ("Rotate(180)", "R")],
    "third-is-first-again": [("identity", "A"), ("Flip(0)", "C"), ("Transpose()", "C"),
                             ("identity", "A"), ("Transpose()", "A"), ("Flip(0)", "C")],
    "every-group": [("identity", "A"), ("identity", "B"), ("Transpose()", "A"),
                    ("Flip(0)", "A"), ("Flip(1)", "B"), ("Rotate(180)", "C"),
                    ("Rotate(270)", "A"), ("identity", "C")],
}


def make_vote(ref):
    to_tuple = ref["to_tuple"]
    cases = []
    for name, items in VOTE_CASES.items():
        outputs = [{"output": to_tuple(grid_of(G[g])),
                    "inverter": None if group == "identity" else group} for group, g in items]
        reference = ref["vote"](outputs)
        seal = seal_vote(outputs, to_tuple)
        cases.append({"name": name,
                      "items": [{"group": group, "grid": G[g]} for group, g in items],
                      "reference": [rows(a) for a in reference],
                      "seal": [rows(a) for a in seal]})
    return {"grids": G, "cases": cases}


# ---- answers.json ---------------------------------------------------------------------------

ANSWERS = [
    "[[1 2]\n [3 4]]#",
    "[[1 2]\n [3 4]]",
    "  [[1 2]\n [3 4]]#\n\n",
    "[[1  2]\n [3   4]]#",
    "[[1 2 3 4]]#",
    "[[1 2] [3 4]]#",
    "[[1 2]\n [3 4]]#\n[[5 6]\n [7 8]]#",
    "[[1 2]]#[[3 4]]#",
    "```\n[[1 2]\n [3 4]]\n```",
    "Here you go:\n```\n[[5 6]\n [7 8]]\n```\nDone.",
    "```python\n[[1 2]]\n```",
    "[[1, 2], [3, 4]]",
    "[[1 2]\n [3]]#",
    "[[1 2]\n\n [3 4]]#",
    "",
    "#",
    "[[]]",
    "[[12 3]]",
    "[[-1 2]]",
    "[[+3 0_4]]",
    "[[256 1]]",
    "[[\u0663 1]]",
    "[[1\u00a02]]\u00a0",
    "[[1 2]\n [3 4]] The answer.",
    "[[" + " ".join("1" * 31) + "]]",
    "[[0]]" * 3,
    "\u0001garbage\u00ff",
]


def reference_decode(ref, output, inverter=None):
    """eval-self-edits.py's steps from the raw output to the predicted grid."""
    rep = ref["formatter"].task_representer.example_representer
    input = "[[0]] -> "
    output = output.replace("#", "")
    output = output.replace("  ", " ")
    if "```" in output:
        output = output.split("```")[1]
        output = output.strip()
    inverter_fn = eval("A." + inverter, {"A": ref["augmenters"]}) if inverter else np.array
    with contextlib.redirect_stdout(io.StringIO()):  # parse_numpy_from_str prints its errors
        try:
            decoded = rep.decode((input, output))
        except Exception:
            return None
        try:
            return ref["to_tuple"](inverter_fn(decoded.output))
        except Exception:
            return None


def seal_decode(output):
    """seal's parser: the reference's steps with ASCII integers, no int8 cast, and an
    ARC grid required (1..30 on a side, cells 0-9)."""
    output = output.replace("#", "")
    if "```" in output:
        output = output.split("```")[1]
    s = output.strip()
    n_rows = s.count("\n") + 1
    tokens = s.replace("[", "").replace("]", "").split()
    if not all(re.fullmatch(r"[+-]?[0-9](_?[0-9])*", t) for t in tokens):
        return None
    cells = [int(t) for t in tokens]
    if not cells or len(cells) % n_rows:
        return None
    cols = len(cells) // n_rows
    if n_rows > 30 or cols > 30 or any(c < 0 or c > 9 for c in cells):
        return None
    return tuple(tuple(cells[r * cols:(r + 1) * cols]) for r in range(n_rows))


def make_answers(ref):
    cases = []
    for text in ANSWERS:
        r = reference_decode(ref, text)
        s = seal_decode(text)
        cases.append({"text": text,
                      "reference": [" ".join(str(v) for v in row) for row in r] if r is not None else None,
                      "seal": rows(s) if s is not None else None})
    inv = []
    grid = grid_of(["123", "456"])
    for group in ["Transpose()", "Flip(0)", "Flip(1)", "Rotate(270)", "Rotate(180)"]:
        text = ref["formatter"].task_representer.example_representer.grid_representer.encode(grid) + "#"
        inv.append({"group": group, "text": text, "reference": rows(reference_decode(ref, text, group))})
    return {"cases": cases, "inverted": inv}


# ---- main -----------------------------------------------------------------------------------

def load_reference(folder):
    sys.path.insert(0, folder)
    import arclib.augmenters as augmenters
    import utils.prompts as prompts
    from arclib.arc import Example, Task, to_tuple
    from arclib.messagers import GPTTextMessageRepresenterV2
    from arclib.representers import PythonListGridRepresenter, TextExampleRepresenter
    from arclib.representers import TextTaskRepresenter
    from arclib.voting import vote

    ref = {"augmenters": augmenters, "prompts": prompts, "Example": Example, "Task": Task,
           "to_tuple": to_tuple, "vote": vote}
    # the formatter exactly as self-edit.py and eval-self-edits.py (--new_format) build it
    ref["formatter"] = GPTTextMessageRepresenterV2(task_representer=TextTaskRepresenter(
        example_representer=TextExampleRepresenter(
            io_sep=" -> ", input_header="", output_header="", output_footer="#",
            grid_representer=PythonListGridRepresenter())))
    ns = {"np": np, "itertools": itertools, "Task": Task, "List": list, "Augmenter": object}
    ns.update({k: getattr(augmenters, k) for k in dir(augmenters) if not k.startswith("_")})
    lift_functions(Path(folder) / "self-edit.py",
                   ["get_augmenters", "get_test_time_train_data", "get_prompt"], ns)
    with contextlib.redirect_stdout(io.StringIO()):
        ns["get_augmenters"]()  # it prints; check that it runs
    ref.update({k: ns[k] for k in ("get_augmenters", "get_test_time_train_data", "get_prompt")})
    return ref


def write(name, data):
    path = OUT / name
    # augment.json is mostly grids: one line per op keeps it small and still diffable
    indent = None if name == "augment.json" else 1
    text = json.dumps(data, indent=indent, ensure_ascii=False)
    if indent is None:
        text = text.replace(', {"name"', ',\n {"name"')
    path.write_text(text + "\n", encoding="utf-8")
    print(f"wrote {path} ({path.stat().st_size} bytes)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mirror", default="/work/.mirror/Continual-Intelligence+SEAL/repo")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        export_reference(args.mirror, tmp)
        ref = load_reference(tmp)
        with contextlib.redirect_stdout(io.StringIO()) as quiet:
            data = {"augment.json": make_augment(ref), "ttt.json": make_ttt(ref),
                    "render.json": make_render(ref), "selfedit.json": make_selfedit(ref),
                    "vote.json": make_vote(ref), "answers.json": make_answers(ref)}
        del quiet
    for name, d in data.items():
        write(name, d)


if __name__ == "__main__":
    main()

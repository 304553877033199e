#!/usr/bin/env python3
"""
The garden against mergekit itself: the same mergekit YAML, run by `mergekit-yaml` and by
`garden recipe --from-mergekit` + `garden breed` + `garden export --hf`, on the same Hugging Face
folders, and every output tensor compared bit for bit.

Not part of `npm test`: it needs torch, transformers and mergekit (scripts/reference/setup.sh builds
that environment from local wheels and a mergekit checkout). Run from the repository root:

    scripts/reference/setup.sh /path/to/mergekit-checkout     # once
    .reference-venv/bin/python scripts/reference/mergekit_parity.py [--keep DIR]

It prints one Markdown table row per method: tensors bit-identical, the largest difference in ULP
(float32 bit patterns) and in absolute value, and the first differing tensor. Methods whose
masks are random (DARE, DELLA: mergekit draws from torch's global generator, the garden from its
counter-based one) cannot agree element for element; they are run with settings that make them
deterministic (density 1, so nothing is dropped) and listed as such.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch
from safetensors.torch import load_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GARDEN = ["node", os.path.join(ROOT, "bin", "garden.mjs")]
MERGEKIT = os.path.join(os.path.dirname(sys.executable), "mergekit-yaml")

PARENTS = ["base", "a", "b", "c"]


def write_tokenizer(folder: str) -> None:
    """A byte-level BPE tokenizer.json (257 ids, within the configs' vocab_size of 272)."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(
        ["the quick brown fox jumps over the lazy dog " * 20],
        trainers.BpeTrainer(vocab_size=255, special_tokens=["<|endoftext|>"],
                            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False),
    )
    tok.save(os.path.join(folder, "tokenizer.json"))


def write_models(root: str) -> None:
    """Four tiny Llama checkpoints in HF layout: a base and three fine-tunes of it (seeded)."""
    cfg = LlamaConfig(
        vocab_size=272, hidden_size=64, intermediate_size=128, num_hidden_layers=3,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    base = LlamaForCausalLM(cfg)
    for i, name in enumerate(PARENTS):
        m = LlamaForCausalLM(cfg)
        torch.manual_seed(100 + i)
        with torch.no_grad():
            for p, q in zip(m.parameters(), base.parameters()):
                # fine-tunes: the base plus a seeded delta of a different scale per model
                p.copy_(q if name == "base" else q + 0.01 * i * torch.randn_like(q))
        m.save_pretrained(os.path.join(root, name), safe_serialization=True)
        write_tokenizer(os.path.join(root, name))


def models_block(names, per_model):
    return [{"model": n, "parameters": per_model(i)} for i, n in enumerate(names)]


W = [1.0, 0.5, 0.7]
CASES = [
    ("linear", {"merge_method": "linear", "models": models_block(["a", "b", "c"], lambda i: {"weight": W[i]})}),
    ("task_arithmetic", {"merge_method": "task_arithmetic", "base_model": "base",
                         "models": models_block(["a", "b", "c"], lambda i: {"weight": W[i]})}),
    ("ties", {"merge_method": "ties", "base_model": "base",
              "models": models_block(["a", "b", "c"], lambda i: {"weight": W[i], "density": 0.3})}),
    ("ties (normalize: false, λ 0.8)", {"merge_method": "ties", "base_model": "base",
                                        "parameters": {"normalize": False, "lambda": 0.8},
                                        "models": models_block(["a", "b", "c"], lambda i: {"weight": W[i], "density": 0.5})}),
    ("breadcrumbs", {"merge_method": "breadcrumbs", "base_model": "base",
                     "models": models_block(["a", "b", "c"], lambda i: {"weight": W[i], "density": 0.8, "gamma": 0.05})}),
    ("breadcrumbs_ties", {"merge_method": "breadcrumbs_ties", "base_model": "base",
                          "models": models_block(["a", "b", "c"], lambda i: {"weight": W[i], "density": 0.8, "gamma": 0.05})}),
    ("dare_linear (density 1)", {"merge_method": "dare_linear", "base_model": "base",
                                 "models": models_block(["a", "b", "c"], lambda i: {"weight": W[i], "density": 1.0})}),
    ("dare_ties (density 1)", {"merge_method": "dare_ties", "base_model": "base",
                               "models": models_block(["a", "b", "c"], lambda i: {"weight": W[i], "density": 1.0})}),
    ("slerp", {"merge_method": "slerp", "base_model": "a", "parameters": {"t": 0.3},
               "models": [{"model": "a"}, {"model": "b"}]}),
    ("slerp (t gradient)", {"merge_method": "slerp", "base_model": "a", "parameters": {"t": [0, 0.5, 1]},
                            "models": [{"model": "a"}, {"model": "b"}]}),
    ("nuslerp", {"merge_method": "nuslerp", "models": models_block(["a", "b"], lambda i: {"weight": [0.4, 0.6][i]})}),
    ("nuslerp (base)", {"merge_method": "nuslerp", "base_model": "base",
                        "models": models_block(["a", "b"], lambda i: {"weight": [0.4, 0.6][i]})}),
    ("multislerp", {"merge_method": "multislerp", "models": models_block(["a", "b", "c"], lambda i: {"weight": W[i]})}),
    ("karcher", {"merge_method": "karcher", "models": [{"model": n} for n in ["a", "b", "c"]]}),
    ("model_stock", {"merge_method": "model_stock", "base_model": "base", "models": [{"model": n} for n in ["a", "b", "c"]]}),
    ("nearswap", {"merge_method": "nearswap", "base_model": "base", "parameters": {"t": 0.001},
                  "models": [{"model": "base"}, {"model": "a"}]}),
    ("sce", {"merge_method": "sce", "base_model": "base", "parameters": {"select_topk": 0.5},
             "models": [{"model": n} for n in ["a", "b", "c"]]}),
    ("arcee_fusion", {"merge_method": "arcee_fusion", "base_model": "base", "models": [{"model": "base"}, {"model": "a"}]}),
    ("ram", {"merge_method": "ram", "base_model": "base", "models": [{"model": n} for n in ["a", "b", "c"]]}),
    ("ramplus_tl", {"merge_method": "ramplus_tl", "base_model": "base", "models": [{"model": n} for n in ["a", "b", "c"]]}),
]


def run(cmd, cwd):
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    return r.returncode, (r.stdout + r.stderr).strip().splitlines()


def compare(a_path: str, b_path: str):
    a, b = load_file(a_path), load_file(b_path)
    if set(a) != set(b):
        return f"tensor names differ: {sorted(set(a) ^ set(b))[:3]}"
    same, worst_ulp, worst_abs, first = 0, 0, 0.0, ""
    for k in sorted(a):
        x = a[k].float().numpy().ravel()
        y = b[k].float().numpy().ravel()
        if np.array_equal(x.view(np.int32), y.view(np.int32)):
            same += 1
            continue
        ulp = int(np.abs(x.view(np.int32).astype(np.int64) - y.view(np.int32).astype(np.int64)).max())
        worst_ulp = max(worst_ulp, ulp)
        worst_abs = max(worst_abs, float(np.abs(x - y).max()))
        if not first:
            first = f"{k} ({int((x != y).sum())} of {x.size} elements)"
    return same, len(a), worst_ulp, worst_abs, first


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keep", help="work in this folder and keep it")
    ap.add_argument("--only", help="run only the cases whose name starts with this")
    args = ap.parse_args()
    work = args.keep or tempfile.mkdtemp(prefix="mergekit-parity-")
    os.makedirs(work, exist_ok=True)
    if not os.path.exists(os.path.join(work, "base", "config.json")):
        write_models(work)
    print("| mergekit method | tensors bit-identical | max ULP | max abs | first difference |")
    print("|---|---|---|---|---|")
    for i, (name, cfg) in enumerate(CASES):
        if args.only and not name.startswith(args.only):
            continue
        cfg = {**cfg, "dtype": "float32"}
        case = f"case{i}"
        yml = os.path.join(work, f"{case}.yml")
        with open(yml, "w") as f:
            json.dump(cfg, f)  # JSON is YAML
        for d in (f"{case}-mk", f"{case}-garden"):
            shutil.rmtree(os.path.join(work, d), ignore_errors=True)
        rc, out = run([MERGEKIT, yml, f"{case}-mk", "--allow-crimes", "--no-copy-tokenizer"], work)
        mk = os.path.join(work, f"{case}-mk", "model.safetensors")
        if not os.path.exists(mk):
            print(f"| `{name}` | mergekit failed: {out[-1] if out else rc} | | | |")
            continue
        steps = [
            GARDEN + ["recipe", "--from-mergekit", yml, "--out", f"{case}.json"],
            GARDEN + ["breed", f"{case}.json", "--out", f"{case}.slm"],
            GARDEN + ["export", f"{case}.slm", "--hf", f"{case}-garden"],
        ]
        failed = None
        for s in steps:
            rc, out = run(s, work)
            if rc != 0:
                failed = f"garden {s[2]}: {out[-1] if out else rc}"
                break
        if failed:
            print(f"| `{name}` | {failed.replace('|', '/')} | | | |")
            continue
        res = compare(mk, os.path.join(work, f"{case}-garden", "model.safetensors"))
        if isinstance(res, str):
            print(f"| `{name}` | {res} | | | |")
            continue
        same, total, ulp, abs_, first = res
        print(f"| `{name}` | {same} of {total} | {ulp} | {abs_:.3g} | {first or '—'} |")
    if not args.keep:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()

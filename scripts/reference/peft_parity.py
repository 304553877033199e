#!/usr/bin/env python3
"""
The garden's LoRA adapters against PEFT itself, on a tiny Llama written by transformers:
  (a) PEFT trains a LoRA (a few AdamW steps) and saves it; `garden generate --adapter` applies it,
      merged and unmerged, and its logits at the last prompt position are compared with PEFT's
      (PeftModel forward, unmerged) and its greedy ids with PeftModel.generate;
  (b) `garden train` (a "text" spec) trains a LoRA on text files; PeftModel.from_pretrained loads
      it and its logits are compared with `garden generate --adapter`;
  (c) two PEFT adapters combined by PEFT's add_weighted_adapter and by `garden adapters combine`,
      per combination type: the largest difference of the per-module products s·B·A (the factors
      of the svd types are only defined up to sign) and of the logits through each adapter.
      dare_linear and dare_ties draw random masks (PEFT from torch's global generator, the garden
      from its counter-based one), so they are compared at density 1, where nothing is dropped.
Not part of npm test (needs torch, transformers, peft: scripts/reference/setup.sh). Usage, from
the repository root:  .reference-venv/bin/python scripts/reference/peft_parity.py [--keep DIR]
"""
import argparse, json, os, shutil, subprocess, sys, tempfile
import numpy as np, torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM
from peft import LoraConfig, PeftModel, get_peft_model

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mergekit_parity import write_tokenizer  # noqa: E402

GARDEN = ["node", os.path.join(ROOT, "bin", "garden.mjs")]
IDS = [5, 17, 42, 99, 3, 250, 12, 7]
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
TEXT = ("the quick brown fox jumps over the lazy dog while the cat sleeps by the river and "
        "a heron waits in the reeds for the fish that come at dusk; then the dog barks twice. ")


def garden(*args, cwd):
    r = subprocess.run(GARDEN + list(args), cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"garden {' '.join(args[:2])} failed: {(r.stdout + r.stderr).strip().splitlines()[-1]}")
    return r.stdout


def gen(work, model, adapter, *extra):
    out = garden("generate", model, "--ids", ",".join(map(str, IDS)), "--max-new", "6", "--greedy", "--json",
                 *(["--adapter", adapter] if adapter else []), *extra, cwd=work)
    o = json.loads(out)
    return np.array(o["logits"], dtype=np.float32), o["ids"]


def base_model(src):
    return AutoModelForCausalLM.from_pretrained(src, dtype=torch.float32).eval()


def peft_logits(m):
    with torch.no_grad():
        logits = m(torch.tensor([IDS])).logits[0, -1].numpy()
        ids = m.generate(input_ids=torch.tensor([IDS]), max_new_tokens=6, do_sample=False)[0].tolist()
    return logits, ids


def peft_train(src, out, seed, steps=30):
    """A PEFT LoRA trained for a few AdamW steps on seeded random windows (so lora_B is not zero)."""
    torch.manual_seed(seed)
    m = get_peft_model(base_model(src), LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=TARGETS + ["lm_head"],
                                                   task_type="CAUSAL_LM"))
    m.train()
    opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-2)
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x = torch.randint(0, 256, (4, 16), generator=g)
        loss = m(input_ids=x, labels=x).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    m.eval()
    m.save_pretrained(out)


def products(tensors, alpha_r):
    """module → s·B·A from a PEFT state dict (keys base_model.model.<module>.lora_[AB].weight)."""
    out = {}
    for k, a in tensors.items():
        if not k.endswith(".lora_A.weight"):
            continue
        mod = k[: -len(".lora_A.weight")]
        b = tensors[f"{mod}.lora_B.weight"]
        out[mod] = (b.double() @ a.double()) * alpha_r
    return out


def adapter_products(folder):
    cfg = json.load(open(os.path.join(folder, "adapter_config.json")))
    return products(load_file(os.path.join(folder, "adapter_model.safetensors")), cfg["lora_alpha"] / cfg["r"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keep", help="work in this folder and keep it")
    args = ap.parse_args()
    work = args.keep or tempfile.mkdtemp(prefix="peft-parity-")
    os.makedirs(work, exist_ok=True)
    torch.manual_seed(7)
    cfg = LlamaConfig(vocab_size=272, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, max_position_embeddings=128, tie_word_embeddings=False)
    src = os.path.join(work, "tiny")
    LlamaForCausalLM(cfg).save_pretrained(src, safe_serialization=True)
    write_tokenizer(src)
    rows = []

    # (a) PEFT-made adapter applied by the garden.
    a1, a2 = os.path.join(work, "peft-a"), os.path.join(work, "peft-b")
    peft_train(src, a1, seed=1)
    peft_train(src, a2, seed=2)
    want, want_ids = peft_logits(PeftModel.from_pretrained(base_model(src), a1).eval())
    base_logits, _ = gen(work, "tiny", None)
    for mode in ["merged", "unmerged"]:
        got, ids = gen(work, "tiny", a1, "--adapter-mode", mode)
        rows.append((f"(a) PEFT-trained adapter, garden generate --adapter-mode {mode}", np.abs(got - want).max(), ids == want_ids))
    got, ids = gen(work, "tiny", a1, "--runtime", "reference")
    rows.append(("(a) PEFT-trained adapter, garden --runtime reference (merged)", np.abs(got - want).max(), ids == want_ids))
    with torch.no_grad():
        merged = PeftModel.from_pretrained(base_model(src), a1).merge_and_unload()
        mlog, _ = peft_logits(merged)
    rows.append(("(a) PEFT merge_and_unload vs PEFT unmerged (PEFT's own merge error)", np.abs(mlog - want).max(), None))
    adapter_effect = np.abs(want - base_logits).max()

    # (b) garden-trained adapter loaded by PEFT.
    for name, k in [("a.txt", 0), ("b.md", 3)]:
        with open(os.path.join(work, name), "w") as f:
            f.write(" ".join(TEXT.split()[k:]) + TEXT * 6)
    spec = {"base": "tiny", "data": {"train": ["a.txt", "b.md"]}, "text": {"seq_len": 32, "validation_split": 0.2, "eval_every": 10},
            "adapter": {"r": 4, "lora_alpha": 8, "lora_dropout": 0.05, "target_modules": TARGETS},
            "train": {"steps": 30, "batch": 4, "lr": 0.01, "warmup_steps": 3, "seed": 1}}
    with open(os.path.join(work, "spec.json"), "w") as f:
        json.dump(spec, f)
    garden("train", "spec.json", "--out", "garden-lora", "--root", work, cwd=work)
    gl = os.path.join(work, "garden-lora")
    pm = PeftModel.from_pretrained(base_model(src), gl).eval()
    want_b, want_b_ids = peft_logits(pm)
    got_b, ids_b = gen(work, "tiny", gl)
    rows.append(("(b) garden-trained adapter, PeftModel.from_pretrained vs garden generate --adapter", np.abs(got_b - want_b).max(), ids_b == want_b_ids))
    got_b, ids_b = gen(work, "tiny", gl, "--adapter-mode", "unmerged")
    rows.append(("(b) same, garden --adapter-mode unmerged", np.abs(got_b - want_b).max(), ids_b == want_b_ids))

    # (c) add_weighted_adapter vs garden adapters combine.
    weights = [0.7, 0.5]
    cases = [("linear", {}), ("cat", {}), ("svd", {}), ("ties", {"density": 0.5}), ("magnitude_prune", {"density": 0.5}),
             ("ties_svd", {"density": 0.5}), ("dare_linear", {"density": 1.0}), ("dare_ties", {"density": 1.0})]
    comb_rows = []
    for ct, kw in cases:
        pm = PeftModel.from_pretrained(base_model(src), a1, adapter_name="a")
        pm.load_adapter(a2, adapter_name="b")
        pm.add_weighted_adapter(["a", "b"], weights, adapter_name="c", combination_type=ct, **kw)
        pm.set_adapter("c")
        pdir = os.path.join(work, f"peft-{ct}")
        pm.save_pretrained(pdir, selected_adapters=["c"])
        pdir_c = os.path.join(pdir, "c") if os.path.isdir(os.path.join(pdir, "c")) else pdir
        want_c, _ = peft_logits(pm.eval())
        gdir = os.path.join(work, f"garden-{ct}")
        garden("adapters", "combine", "tiny", "--adapter", a1, "--adapter", a2, "--weights", ",".join(map(str, weights)),
               "--combination", ct, *sum([[f"--{k}", str(v)] for k, v in kw.items()], []), "--out", gdir, cwd=work)
        pp, gp = adapter_products(pdir_c), adapter_products(gdir)
        assert set(pp) == set(gp), (ct, sorted(set(pp) ^ set(gp))[:4])
        dw = max(float((pp[m] - gp[m]).abs().max()) for m in pp)
        scale = max(float(pp[m].abs().max()) for m in pp)
        got_c, _ = gen(work, "tiny", gdir)
        comb_rows.append((ct, kw.get("density", "-"), dw, scale, np.abs(got_c - want_c).max()))

    print(f"tiny Llama (vocab 272, hidden 64, 2 layers, 4 heads / 2 kv heads, f32); adapters r 4, alpha 8 on "
          f"{', '.join(TARGETS)} (+ lm_head for the PEFT ones); prompt {len(IDS)} ids, 6 greedy tokens; "
          f"the PEFT adapter moves the logits by up to {adapter_effect:.3f}")
    print()
    print("| check | max \\|garden − PEFT\\| logit | greedy ids identical |")
    print("|---|---|---|")
    for name, d, same in rows:
        print(f"| {name} | {d:.2e} | {'—' if same is None else same} |")
    print()
    print(f"| add_weighted_adapter combination_type (weights {weights}) | density | max \\|ΔW garden − ΔW PEFT\\| per module (s·B·A) | max \\|ΔW\\| | max \\|garden − PEFT\\| logit |")
    print("|---|---|---|---|---|")
    for ct, dens, dw, scale, dl in comb_rows:
        print(f"| {ct} | {dens} | {dw:.2e} | {scale:.2e} | {dl:.2e} |")
    if not args.keep:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()

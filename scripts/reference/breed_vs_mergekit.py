#!/usr/bin/env python3
"""
`garden breed` against `mergekit-yaml`, whole process, wall time, on the same Hugging Face folders
and machine: a 124 M-parameter Llama-shaped base and three fine-tunes (float32), task arithmetic
and TIES (density 0.3), the same YAML for both (the garden converts it with
`garden recipe --from-mergekit`). Prints one Markdown row per method and tool, and checks that
the two outputs are bit-identical. Not part of npm test or npm run bench (it needs torch and
mergekit: scripts/reference/setup.sh). Usage, from the repository root:
    .reference-venv/bin/python scripts/reference/breed_vs_mergekit.py [--reps N] [--work DIR]
"""
import argparse, json, os, shutil, subprocess, sys, tempfile, time
import torch
from transformers import LlamaConfig, LlamaForCausalLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mergekit_parity import GARDEN, MERGEKIT, compare, write_tokenizer  # noqa: E402

def make(work):
    cfg = LlamaConfig(vocab_size=32000, hidden_size=768, intermediate_size=2048, num_hidden_layers=12,
                      num_attention_heads=12, num_key_value_heads=4, max_position_embeddings=2048, tie_word_embeddings=False)
    torch.manual_seed(0)
    base = LlamaForCausalLM(cfg)
    n = sum(p.numel() for p in base.parameters())
    for i, name in enumerate(["base", "a", "b", "c"]):
        d = os.path.join(work, name)
        if os.path.exists(os.path.join(d, "model.safetensors")):
            continue
        if i:
            with torch.no_grad():
                for p in base.parameters():
                    p.add_(0.001 * torch.randn_like(p))
        base.save_pretrained(d, safe_serialization=True, max_shard_size="10GB")
        write_tokenizer(d)
    return n

def timed(cmd, cwd):
    t = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    return time.perf_counter() - t, r

def main():
    ap = argparse.ArgumentParser(); ap.add_argument("--reps", type=int, default=1); ap.add_argument("--work")
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="breed-vs-mergekit-"); os.makedirs(work, exist_ok=True)
    n = make(work)
    gb = 4 * 4 * n / 1e9  # four float32 inputs read
    print(f"{n/1e6:.1f} M parameters, 3 parents + base, float32; {os.cpu_count()} cores")
    print("| method | mergekit-yaml s | garden breed s | garden ÷ mergekit speed | outputs |")
    print("|---|---|---|---|---|")
    for method, extra in [("task_arithmetic", {}), ("ties", {"density": 0.3})]:
        cfg = {"merge_method": method, "base_model": "base", "dtype": "float32",
               "models": [{"model": m, "parameters": {"weight": w, **extra}} for m, w in zip("abc", [1.0, 0.5, 0.7])]}
        yml = os.path.join(work, f"{method}.yml")
        json.dump(cfg, open(yml, "w"))
        subprocess.run(GARDEN + ["recipe", "--from-mergekit", yml, "--out", f"{method}.json"], cwd=work, check=True, capture_output=True)
        mk, gd = [], []
        for _ in range(a.reps):
            shutil.rmtree(os.path.join(work, f"{method}-mk"), ignore_errors=True)
            t, r = timed([MERGEKIT, yml, f"{method}-mk", "--no-copy-tokenizer", "--allow-crimes"], work)
            if not os.path.exists(os.path.join(work, f"{method}-mk", "model.safetensors")) and not os.path.exists(os.path.join(work, f"{method}-mk", "model.safetensors.index.json")):
                raise SystemExit(f"mergekit failed: {r.stderr.strip().splitlines()[-1:]}")
            mk.append(t)
            t, r = timed(GARDEN + ["breed", f"{method}.json", "--out", f"{method}.slm"], work)
            if r.returncode: raise SystemExit(f"garden failed: {r.stderr.strip().splitlines()[-1:]}")
            gd.append(t)
        subprocess.run(GARDEN + ["export", f"{method}.slm", "--hf", f"{method}-garden", "--max-shard-bytes", "10000000000"], cwd=work, capture_output=True)
        verdict = "—"
        mkf = os.path.join(work, f"{method}-mk", "model.safetensors"); gf = os.path.join(work, f"{method}-garden", "model.safetensors")
        if os.path.exists(mkf) and os.path.exists(gf):
            same, total, ulp, _, _ = compare(mkf, gf); verdict = f"{same} of {total} tensors bit-identical (max {ulp} ULP)"
        m, g = sorted(mk)[len(mk)//2], sorted(gd)[len(gd)//2]
        print(f"| {method} | {m:.1f} ({gb/m:.2f} GB/s) | {g:.1f} ({gb/g:.2f} GB/s) | {m/g:.2f}× | {verdict} |")

if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""
transformers against the garden: a Llama checkpoint written by transformers is imported
(`garden import`), exported (`garden export --hf`), loaded back with
AutoModelForCausalLM.from_pretrained, and its logits at the last prompt position compared with
`garden generate --json` on the imported .slm (the garden's ONNX decoder in onnxruntime).
Not part of npm test (needs torch + transformers: scripts/reference/setup.sh). Usage, from the
repository root:  .reference-venv/bin/python scripts/reference/hf_roundtrip.py
"""
import json, os, subprocess, sys, tempfile
import numpy as np, torch
from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mergekit_parity import write_tokenizer  # noqa: E402

GARDEN = ["node", os.path.join(ROOT, "bin", "garden.mjs")]
IDS = [5, 17, 42, 99, 3, 250]

def garden(*args, cwd):
    r = subprocess.run(GARDEN + list(args), cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"garden {args[0]} failed: {(r.stdout + r.stderr).strip().splitlines()[-1]}")
    return r.stdout

def check(name, model, work):
    src = os.path.join(work, name)
    model.save_pretrained(src, safe_serialization=True)
    write_tokenizer(src)
    garden("import", src, "--out", f"{name}.slm", cwd=work)
    garden("export", f"{name}.slm", "--hf", f"{name}-out", cwd=work)
    back = AutoModelForCausalLM.from_pretrained(os.path.join(work, f"{name}-out"), dtype=torch.float32)
    with torch.no_grad():
        ref = model(torch.tensor([IDS])).logits[0, -1].numpy()
        got_tf = back(torch.tensor([IDS])).logits[0, -1].numpy()
    out = json.loads(garden("generate", f"{name}.slm", "--ids", ",".join(map(str, IDS)), "--max-new", "4", "--greedy", "--json", cwd=work))
    g = np.array(out["logits"], dtype=np.float32)
    with torch.no_grad():
        greedy = model.generate(torch.tensor([IDS]), max_new_tokens=4, do_sample=False)[0].tolist()
    print(f"| {name} | {np.array_equal(ref, got_tf)} | {np.abs(g - ref).max():.2e} | {greedy == out['ids']} |")

def main():
    work = tempfile.mkdtemp(prefix="hf-roundtrip-")
    torch.manual_seed(7)
    common = dict(vocab_size=272, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=128)
    print("| model | transformers loads the export, same logits bit for bit | max \\|garden − transformers\\| logit | greedy 4 tokens identical |")
    print("|---|---|---|---|")
    check("llama-gqa", LlamaForCausalLM(LlamaConfig(**common, tie_word_embeddings=False)), work)
    check("llama-tied-rope-scaling", LlamaForCausalLM(LlamaConfig(**common, tie_word_embeddings=True, rope_theta=500000.0,
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 64})), work)
    check("qwen2-bias-tied", Qwen2ForCausalLM(Qwen2Config(**common, tie_word_embeddings=True)), work)

if __name__ == "__main__":
    main()

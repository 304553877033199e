#!/usr/bin/env python3
"""
`garden breed` against `mergekit-yaml`, whole process, wall time, on the same safetensors files and
machine (issue 22's end-to-end target): a 124 M-parameter Llama-shaped base and three fine-tunes
(float32), task arithmetic and TIES (density 0.3), 3 parents + base.

The files: each Hugging Face folder is imported once (`garden import DIR --out NAME.slm`: a .slm is
a safetensors file with the HF tensor names and the garden's metadata). mergekit reads that same
file: its model folders hold the config and `model.safetensors`, a symlink to the .slm. The garden
breeds the .slm files (its streamed path). The recipe is `garden recipe --from-mergekit` of the
same YAML, its paths pointed at the .slm files.

Per method, --reps whole-process runs of each tool, alternating; the median is reported. Printed:
the load average, each tool's CPU seconds (user + system over all its threads, which move less
with the load of a shared machine than wall time), wall time and bytes/s (four inputs read plus the output written, over the wall time), the garden's
own breakdown (read, compute, write, hash; they overlap, see docs/BENCHMARKS.md), the garden's
hashing speed against node:crypto's SHA-256 measured in this run, the speed-up against mergekit
with PASS/MISS against the bars (≥ 5× task arithmetic, ≥ 20× TIES, hashing ≥ 0.5 of native), and
whether the outputs are bit-identical. Not part of npm test (it needs torch and mergekit:
scripts/reference/setup.sh). Usage, from the repository root:
    .reference-venv/bin/python scripts/reference/breed_vs_mergekit.py [--reps N] [--work DIR] [--garden DIR]
--garden: a checkout (or `git archive` copy) whose bin/garden.mjs to time (default: this one).
"""
import argparse, json, os, resource, shutil, statistics, subprocess, sys, tempfile, time
import torch
from transformers import LlamaConfig, LlamaForCausalLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mergekit_parity import GARDEN, MERGEKIT, compare, write_tokenizer  # noqa: E402

BARS = {"task_arithmetic": 5.0, "ties": 20.0}
HASH_BAR = 0.5
NATIVE_SHA = r"""
const { createHash } = require('node:crypto');
const b = Buffer.alloc(256 << 20, 7); let best = 0;
for (let r = 0; r < 3; r++) { const t = performance.now(); const h = createHash('sha256');
  for (let o = 0; o < b.length; o += 4 << 20) h.update(b.subarray(o, o + (4 << 20))); h.digest();
  best = Math.max(best, b.length / ((performance.now() - t) / 1e3)); }
console.log(best);
"""


def make(work):
    cfg = LlamaConfig(vocab_size=32000, hidden_size=768, intermediate_size=2048, num_hidden_layers=12,
                      num_attention_heads=12, num_key_value_heads=4, max_position_embeddings=2048, tie_word_embeddings=False)
    torch.manual_seed(0)
    base = LlamaForCausalLM(cfg)
    n = sum(p.numel() for p in base.parameters())
    for i, name in enumerate(["base", "a", "b", "c"]):
        d = os.path.join(work, name)
        if i:
            with torch.no_grad():
                for p in base.parameters():
                    p.add_(0.001 * torch.randn_like(p))
        if os.path.exists(os.path.join(d, "model.safetensors")):
            continue
        base.save_pretrained(d, safe_serialization=True, max_shard_size="10GB")
        write_tokenizer(d)
    return n


def same_files(work, garden):
    """NAME.slm from each HF folder, and mk-NAME/ (config + model.safetensors → NAME.slm) for mergekit."""
    for name in ["base", "a", "b", "c"]:
        slm = os.path.join(work, f"{name}.slm")
        if not os.path.exists(slm):
            subprocess.run(garden + ["import", name, "--out", f"{name}.slm"], cwd=work, check=True, capture_output=True)
        mk = os.path.join(work, f"mk-{name}")
        os.makedirs(mk, exist_ok=True)
        shutil.copy(os.path.join(work, name, "config.json"), mk)
        link = os.path.join(mk, "model.safetensors")
        if not os.path.islink(link):
            os.symlink(os.path.join("..", f"{name}.slm"), link)


def cpu_children():
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime


def timed(cmd, cwd):
    """Wall seconds and the process's CPU seconds (user + system, all its threads): on a shared machine the CPU time moves less with the load."""
    c, t = cpu_children(), time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    timed.cpu = cpu_children() - c
    return time.perf_counter() - t, r


def load():
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main():
    ap = argparse.ArgumentParser(); ap.add_argument("--reps", type=int, default=3); ap.add_argument("--work"); ap.add_argument("--garden")
    ap.add_argument("--methods", default="task_arithmetic,ties")
    a = ap.parse_args()
    garden = ["node", os.path.join(os.path.abspath(a.garden), "bin", "garden.mjs")] if a.garden else GARDEN
    work = a.work or tempfile.mkdtemp(prefix="breed-vs-mergekit-"); os.makedirs(work, exist_ok=True)
    n = make(work)
    same_files(work, garden)
    in_bytes = sum(os.path.getsize(os.path.join(work, f"{m}.slm")) for m in ["base", "a", "b", "c"])
    native = float(subprocess.run(["node", "-e", NATIVE_SHA], capture_output=True, text=True, check=True).stdout)
    print(f"{n/1e6:.1f} M parameters, 3 parents + base, float32, inputs {in_bytes/1e6:.0f} MB; {os.cpu_count()} cores; "
          f"load {load()}; node:crypto SHA-256 {native/1e9:.2f} GB/s; {a.reps} whole-process runs each, median")
    rows = []
    for method in a.methods.split(","):
        extra = {"density": 0.3} if method == "ties" else {}
        cfg = {"merge_method": method, "base_model": "mk-base", "dtype": "float32",
               "models": [{"model": f"mk-{m}", "parameters": {"weight": w, **extra}} for m, w in zip("abc", [1.0, 0.5, 0.7])]}
        yml = os.path.join(work, f"{method}.yml")
        json.dump(cfg, open(yml, "w"))
        subprocess.run(garden + ["recipe", "--from-mergekit", yml, "--out", f"{method}.json"], cwd=work, check=True, capture_output=True)
        recipe = json.load(open(os.path.join(work, f"{method}.json")))
        recipe["base"] = {"path": "base.slm"}
        recipe["parents"] = [{"path": f"{m}.slm"} for m in "abc"]
        recipe["output"] = {"path": f"{method}.slm"}
        json.dump(recipe, open(os.path.join(work, f"{method}.json"), "w"))
        mk, gd, summaries, mk_cpu, gd_cpu = [], [], [], [], []
        for _ in range(a.reps):
            shutil.rmtree(os.path.join(work, f"{method}-mk"), ignore_errors=True)
            t, r = timed([MERGEKIT, yml, f"{method}-mk", "--no-copy-tokenizer", "--allow-crimes"], work)
            if not os.path.exists(os.path.join(work, f"{method}-mk", "model.safetensors")):
                raise SystemExit(f"mergekit failed: {r.stderr.strip().splitlines()[-3:]}")
            mk.append(t)
            mk_cpu.append(timed.cpu)
            t, r = timed(garden + ["breed", f"{method}.json", "--json"], work)
            if r.returncode:
                raise SystemExit(f"garden failed: {r.stderr.strip().splitlines()[-1:]}")
            gd.append(t)
            gd_cpu.append(timed.cpu)
            summaries.append(json.loads(r.stdout))
        out_bytes = summaries[-1]["bytes"]
        moved = in_bytes + out_bytes
        subprocess.run(garden + ["export", f"{method}.slm", "--hf", f"{method}-garden", "--max-shard-bytes", "10000000000"],
                       cwd=work, capture_output=True)
        verdict = "—"
        mkf = os.path.join(work, f"{method}-mk", "model.safetensors"); gf = os.path.join(work, f"{method}-garden", "model.safetensors")
        if os.path.exists(mkf) and os.path.exists(gf):
            same, total, ulp, _, _ = compare(mkf, gf)
            verdict = f"{same} of {total} tensors bit-identical (max {ulp} ULP)"
        m, g = statistics.median(mk), statistics.median(gd)
        mid = summaries[sorted(range(len(gd)), key=lambda i: gd[i])[len(gd) // 2]]
        tm = mid["timings"]
        hash_speed = mid["hashBytes"] / (tm["hash"] / 1e3) if tm["hash"] > 0 else float("inf")
        speedup = m / g
        bar = BARS[method]
        rows.append((method, m, g, moved, tm, mid, hash_speed, speedup, bar, verdict, mk, gd))
        print(f"\n{method}: mergekit {m:.2f} s ({moved/m/1e9:.2f} GB/s), garden {g:.2f} s ({moved/g/1e9:.2f} GB/s); "
              f"runs mergekit {' '.join(f'{x:.2f}' for x in mk)}, garden {' '.join(f'{x:.2f}' for x in gd)}; "
              f"CPU s (user + system, median) mergekit {statistics.median(mk_cpu):.2f}, garden {statistics.median(gd_cpu):.2f}; load {load()}")
        print(f"  garden breakdown (median run, ms): total {tm['total']:.0f}: read {tm['read']:.0f}, compute {tm['compute']:.0f}, "
              f"serialize {tm['serialize']:.0f}, write {tm['write']:.0f}, hash {tm['hash']:.0f} ({mid['hashBytes']/1e6:.0f} MB); "
              f"pool start {tm['poolStart']:.0f}; peak RSS {mid['maxRssBytes']/2**20:.0f} MiB")
        print(f"  speed-up {speedup:.2f}× against the bar {bar:.0f}×: {'PASS' if speedup >= bar else 'MISS'}")
        print(f"  hashing {hash_speed/1e9:.2f} GB/s = {hash_speed/native:.2f} of native ({native/1e9:.2f} GB/s) against the bar {HASH_BAR}: "
              f"{'PASS' if hash_speed >= HASH_BAR * native else 'MISS'}")
        print(f"  outputs: {verdict}; candidate {mid['candidate']}")
    print(f"\nload after: {load()}")
    print("\n| method | mergekit-yaml s | garden breed s | speed-up (bar) | garden read / compute / write / hash ms | hash ÷ native | outputs |")
    print("|---|---|---|---|---|---|---|")
    for method, m, g, moved, tm, mid, hs, sp, bar, verdict, _, _ in rows:
        print(f"| {method} | {m:.2f} ({moved/m/1e9:.2f} GB/s) | {g:.2f} ({moved/g/1e9:.2f} GB/s) | {sp:.2f}× ({bar:.0f}×: {'PASS' if sp >= bar else 'MISS'}) "
              f"| {tm['read']:.0f} / {tm['compute']:.0f} / {tm['write']:.0f} / {tm['hash']:.0f} | {hs/native:.2f} ({'PASS' if hs >= HASH_BAR*native else 'MISS'}) | {verdict} |")


if __name__ == "__main__":
    main()

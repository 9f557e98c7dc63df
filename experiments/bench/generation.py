"""Generation throughput: batched engine at batch 1, 4 and 16 vs one prompt at a time, and the server vs
in-process, on SmolLM2-135M-Instruct (CPU), in one run.

All modes answer the same prompts (held-out materials-facts questions in the alpaca format, greedy) and
every answer runs to the same token budget (EOS suppressed, as throughput benchmarks do), so every mode does
the same work and tokens/s is generated tokens over wall time. "one at a time" is a plain ``model.generate``
loop, one prompt per call; it and the engine at batch 1 answer only the first ``--sequential-prompts``
prompts, since one-prompt-at-a-time throughput does not depend on how many prompts follow (and 16 would take
minutes). The server mode runs ``python generate.py serve=true`` on the same model in its own process, as a
user would, and sends every prompt at once from concurrent `openai` clients, so its batching worker is what is
compared with the in-process engine at batch 16. Target: batch 16 >= 6x one at a time.

The engine runs as generate.py does, with its default ``cpu_prepack=auto`` (oneDNN-packed linear weights on a
CPU); the baseline runs on plain torch linears, as a user's own ``model.generate`` loop would. So that neither
gain hides the other, the table also gives the engine at batch 1 (packing alone), batch 16 on plain linears
(batching alone) and batch 16 over batch 1 (batching on the same kernels).

    python experiments/bench/generation.py [--prompts 16] [--sequential-prompts 4] [--max-new-tokens 128]
                                           [--threads N] [--rounds 3] [--cpu-prepack auto|false]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from omegaconf import OmegaConf

from honeybee.data.datamodule import prepare_splits
from honeybee.generation.cpu_kernels import plain_linears
from honeybee.generation.engine import Request, Sampling
from honeybee.generation.generator import Generator
from honeybee.generation.launch import served
from honeybee.generation.source import resolve_source

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "conf"


def prompts_for(gen: Generator, n: int) -> list[str]:
    data = OmegaConf.load(CONF / "data" / "materials_facts.yaml")
    test = prepare_splits(data, seed=0)["test"]
    return [gen.prompt(r.instruction, r.input) for r in test[:n]]


ANSWERS: dict[str, list[str]] = {}  # mode -> greedy answers, to check that batching changes no answer


def one_at_a_time(gen: Generator, prompts: list[str], budget: int) -> int:
    tok, tokens = gen.tokenizer, 0
    answers = ANSWERS["one at a time"] = []
    with torch.inference_mode(), plain_linears(gen.model):
        for p in prompts:
            enc = tok(p, return_tensors="pt")
            out = gen.model.generate(
                **enc,
                max_new_tokens=budget,
                min_new_tokens=budget,
                do_sample=False,
                temperature=None,
                top_p=None,
                top_k=None,
                pad_token_id=tok.pad_token_id,
            )
            tokens += out.shape[1] - enc["input_ids"].shape[1]
            answers.append(tok.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True))
    return tokens


def engine(
    gen: Generator,
    prompts: list[str],
    budget: int,
    batch_size: int,
    share_prefix: bool = True,
    packed: bool = True,
) -> int:
    with nullcontext() if packed else plain_linears(gen.model):
        outs = gen.complete(
            [Request(p, budget) for p in prompts],
            Sampling(ignore_eos=True),
            batch_size=batch_size,
            share_prefix=share_prefix,
        )
    key = f"batch {batch_size}{'' if share_prefix else ', no prefix sharing'}{'' if packed else ', plain linears'}"
    ANSWERS[key] = [o.text for o in outs]
    return sum(o.completion_tokens for o in outs)


def via_server(url: str, prompts: list[str], budget: int) -> int:
    import openai

    client = openai.OpenAI(base_url=url, api_key="none", max_retries=0, timeout=600)

    def ask(p: str) -> int:
        r = client.completions.create(
            model="smollm2", prompt=p, max_tokens=budget, extra_body={"ignore_eos": True}
        )
        return r.usage.completion_tokens

    with ThreadPoolExecutor(len(prompts)) as pool:
        return sum(pool.map(ask, prompts))


def timed(fn, *args) -> tuple[int, float]:
    t = time.perf_counter()
    tokens = fn(*args)
    return tokens, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--sequential-prompts", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument(
        "--rounds", type=int, default=3, help="every mode runs once per round; medians are reported"
    )
    ap.add_argument(
        "--cpu-prepack", default="auto", help="the engine's and server's cpu_prepack (auto | true | false)"
    )
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model_cfg = OmegaConf.load(CONF / "model" / "smollm2_135m.yaml")
    gen = Generator.load(
        resolve_source(None, model_cfg, "outputs"), "alpaca", "cpu", cpu_prepack=args.cpu_prepack
    )
    prompts = prompts_for(gen, args.prompts)
    budget = args.max_new_tokens
    engine(gen, prompts[:2], 4, 2)  # warm-up: first-call allocations and kernel selection

    seq = prompts[: args.sequential_prompts]
    threads = {"OMP_NUM_THREADS": str(args.threads)} if args.threads else None
    with tempfile.TemporaryDirectory() as tmp:
        server = [
            "model=smollm2_135m",
            "prompt_style=alpaca",
            "served_model_name=smollm2",
            "device=cpu",
            "server.max_batch_size=16",
            f"cpu_prepack={args.cpu_prepack}",
            f"hydra.run.dir={tmp}",
        ]
        with served(server, Path(tmp) / "server.log", env=threads) as url:
            # warm-up: the clients' connection pool and the server's first batch
            via_server(url, prompts[:2], 2)
            modes = [
                (
                    f"one at a time (model.generate loop), {len(seq)} prompts",
                    one_at_a_time,
                    (gen, seq, budget),
                ),
                (f"engine, batch 1, {len(seq)} prompts", engine, (gen, seq, budget, 1)),
                (f"engine, batch 4, {len(prompts)} prompts", engine, (gen, prompts, budget, 4)),
                (
                    f"engine, batch 16, {len(prompts)} prompts, no prefix sharing",
                    engine,
                    (gen, prompts, budget, 16, False),
                ),
                (
                    f"engine, batch 16, {len(prompts)} prompts, plain torch linears",
                    engine,
                    (gen, prompts, budget, 16, True, False),
                ),
                (f"engine, batch 16, {len(prompts)} prompts", engine, (gen, prompts, budget, 16)),
                (f"server, {len(prompts)} concurrent openai clients", via_server, (url, prompts, budget)),
            ]
            # Every round runs every mode once, in turn, so a slow spell on a shared machine hits all modes
            # alike; ratios are paired within a round and the headline is their median.
            runs: list[list[tuple[int, float]]] = [[] for _ in modes]
            for r in range(args.rounds):
                for k, (_, fn, fn_args) in enumerate(modes):
                    runs[k].append(timed(fn, *fn_args))
                print(f"round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)
        log = (Path(tmp) / "server.log").read_text(errors="replace")
        batches = [int(n) for n in re.findall(r"batch: (\d+) prompts", log)][1:]  # [0]: the warm-up

    def rate(k: int, r: int) -> float:
        tokens, secs = runs[k][r]
        return tokens / secs

    print(
        f"\nSmolLM2-135M-Instruct, CPU, {torch.get_num_threads()} torch threads, "
        f"{budget} new tokens per prompt, greedy, {args.rounds} round(s): medians\n"
    )
    print("| mode | tokens | seconds | tokens/s | vs one at a time |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for k, (name, _, _) in enumerate(modes):
        tokens = runs[k][0][0]
        secs = statistics.median(s for _, s in runs[k])
        ratio = statistics.median(rate(k, r) / rate(0, r) for r in range(args.rounds))
        print(f"| {name} | {tokens} | {secs:.1f} | {tokens / secs:.1f} | {ratio:.2f}x |")
    b16 = len(modes) - 2
    per_round = ", ".join(f"{rate(b16, r) / rate(0, r):.2f}x" for r in range(args.rounds))
    print(f"\nbatch 16 vs one at a time, per round: {per_round}")
    batching = statistics.median(rate(b16, r) / rate(1, r) for r in range(args.rounds))
    print(f"batch 16 vs engine batch 1 (batching alone, same kernels): {batching:.2f}x")
    ref = ANSWERS["one at a time"]
    for mode in ("batch 16", "batch 16, no prefix sharing", "batch 16, plain linears"):
        same = sum(a == b for a, b in zip(ref, ANSWERS[mode]))
        print(f"{mode}: {same}/{len(ref)} greedy answers identical to one at a time")
    srv = statistics.median(rate(b16 + 1, r) / rate(b16, r) for r in range(args.rounds))
    print(f"server vs in-process batch 16 (same prompts): {srv:.2f}x; its batches: {batches}")


if __name__ == "__main__":
    main()

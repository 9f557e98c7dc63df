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

    python experiments/bench/generation.py [--prompts 16] [--sequential-prompts 4] [--max-new-tokens 128]
                                           [--threads N]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from omegaconf import OmegaConf

from honeybee.data.datamodule import prepare_splits
from honeybee.generation.engine import Request, Sampling
from honeybee.generation.generator import Generator
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
    answers = ANSWERS.setdefault("one at a time", [])
    with torch.inference_mode():
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
    gen: Generator, prompts: list[str], budget: int, batch_size: int, share_prefix: bool = True
) -> int:
    outs = gen.complete(
        [Request(p, budget) for p in prompts],
        Sampling(ignore_eos=True),
        batch_size=batch_size,
        share_prefix=share_prefix,
    )
    ANSWERS[f"batch {batch_size}{'' if share_prefix else ' plain'}"] = [o.text for o in outs]
    return sum(o.completion_tokens for o in outs)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``python generate.py serve=true`` on the same base model, as a separate process; stopped on exit."""

    def __init__(self, threads: int | None, max_batch_size: int, folder: str) -> None:
        self.port = free_port()
        self.cmd = [
            sys.executable,
            str(ROOT / "generate.py"),
            "model=smollm2_135m",
            "prompt_style=alpaca",
            "serve=true",
            f"port={self.port}",
            "served_model_name=smollm2",
            "device=cpu",
            f"server.max_batch_size={max_batch_size}",
            f"hydra.run.dir={folder}",
        ]
        self.env = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}

    def __enter__(self) -> Server:  # noqa: PYI034 - a plain context manager, never subclassed
        self.proc = subprocess.Popen(
            self.cmd, cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 300
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/v1/models", timeout=2).read()
                return self
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.__exit__()
                    raise RuntimeError(f"server did not start: {self.proc.stderr.read()[-2000:]}") from None
                time.sleep(0.5)

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def via_server(srv: Server, prompts: list[str], budget: int) -> int:
    import openai

    client = openai.OpenAI(
        base_url=f"http://127.0.0.1:{srv.port}/v1", api_key="none", max_retries=0, timeout=600
    )

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
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model_cfg = OmegaConf.load(CONF / "model" / "smollm2_135m.yaml")
    gen = Generator.load(resolve_source(None, model_cfg, "outputs"), "alpaca", "cpu")
    prompts = prompts_for(gen, args.prompts)
    budget = args.max_new_tokens
    engine(gen, prompts[:2], 4, 2)  # warm-up: first-call allocations and kernel selection

    seq = prompts[: args.sequential_prompts]
    rows = [
        (f"one at a time (model.generate loop), {len(seq)} prompts", *timed(one_at_a_time, gen, seq, budget)),
        (f"engine, batch 1, {len(seq)} prompts", *timed(engine, gen, seq, budget, 1)),
    ]
    for bs in (4, 16):
        rows.append((f"engine, batch {bs}, {len(prompts)} prompts", *timed(engine, gen, prompts, budget, bs)))
    rows.insert(
        -1,
        (
            f"engine, batch 16, {len(prompts)} prompts, no prefix sharing",
            *timed(engine, gen, prompts, budget, 16, False),
        ),
    )
    with tempfile.TemporaryDirectory() as tmp, Server(args.threads, 16, tmp) as srv:
        via_server(srv, prompts[:2], 2)  # warm-up: the clients' connection pool and the server's first batch
        rows.append(
            (f"server, {len(prompts)} concurrent openai clients", *timed(via_server, srv, prompts, budget))
        )

    base = rows[0][1] / rows[0][2]
    print(
        f"\nSmolLM2-135M-Instruct, CPU, {torch.get_num_threads()} torch threads, "
        f"{budget} new tokens per prompt, "
        "greedy\n"
    )
    print("| mode | tokens | seconds | tokens/s | vs one at a time |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, tokens, secs in rows:
        print(f"| {name} | {tokens} | {secs:.1f} | {tokens / secs:.1f} | {tokens / secs / base:.2f}x |")
    (_, t16, s16), (_, ts, ss) = rows[-2], rows[-1]
    ref = ANSWERS["one at a time"]
    for mode in ("batch 16", "batch 16 plain"):
        same = sum(a == b for a, b in zip(ref, ANSWERS[mode]))
        print(f"{mode}: {same}/{len(ref)} greedy answers identical to one at a time")
    print(f"\nserver vs in-process batch 16 (same prompts): {ts / ss / (t16 / s16):.2f}x")


if __name__ == "__main__":
    main()

"""Generation throughput: batched engine at batch 1, 4 and 16 vs one prompt at a time, and the server vs
in-process, on SmolLM2-135M-Instruct (CPU), in one run.

All modes answer the same prompts (held-out materials-facts questions in the alpaca format, greedy) and every
answer runs to the same token budget (EOS suppressed, as throughput benchmarks do), so every mode does the same
work and tokens/s is generated tokens over wall time. "one at a time" is a plain ``model.generate`` loop, one
prompt per call. The server mode starts the real FastAPI app (uvicorn, in a thread of this process, on a free
port) and sends every prompt at once from concurrent `openai` clients, so its batching worker is what is
measured against the in-process engine at batch 16. Target: batch 16 >= 6x one at a time.

    python experiments/bench/generation.py [--prompts 16] [--max-new-tokens 48] [--threads N]
"""

from __future__ import annotations

import argparse
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from omegaconf import OmegaConf  # noqa: E402

from honeybee.data.datamodule import prepare_splits  # noqa: E402
from honeybee.generation.engine import Request, Sampling  # noqa: E402
from honeybee.generation.generator import Generator  # noqa: E402
from honeybee.generation.source import resolve_source  # noqa: E402

CONF = Path(__file__).resolve().parents[2] / "conf"


def prompts_for(gen: Generator, n: int) -> list[str]:
    data = OmegaConf.load(CONF / "data" / "materials_facts.yaml")
    test = prepare_splits(data, seed=0)["test"]
    return [gen.prompt(r.instruction, r.input) for r in test[:n]]


def one_at_a_time(gen: Generator, prompts: list[str], budget: int) -> int:
    tok, tokens = gen.tokenizer, 0
    with torch.inference_mode():
        for p in prompts:
            enc = tok(p, return_tensors="pt")
            out = gen.model.generate(**enc, max_new_tokens=budget, min_new_tokens=budget, do_sample=False,
                                     temperature=None, top_p=None, top_k=None, pad_token_id=tok.pad_token_id)
            tokens += out.shape[1] - enc["input_ids"].shape[1]
    return tokens


def engine(gen: Generator, prompts: list[str], budget: int, batch_size: int) -> int:
    outs = gen.complete([Request(p, budget) for p in prompts], Sampling(ignore_eos=True), batch_size=batch_size)
    return sum(o.completion_tokens for o in outs)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The real app under uvicorn in a background thread; stopped on exit."""

    def __init__(self, gen: Generator, max_batch_size: int) -> None:
        import uvicorn

        from honeybee.generation.server import BatchWorker, ServerSettings, create_app

        self.port = free_port()
        self.worker = BatchWorker(gen, max_batch_size=max_batch_size, batch_wait_ms=20)
        app = create_app(self.worker, ServerSettings("smollm2"))
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "Server":
        self.thread.start()
        while not self.server.started:
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def via_server(srv: Server, prompts: list[str], budget: int) -> int:
    import openai

    client = openai.OpenAI(base_url=f"http://127.0.0.1:{srv.port}/v1", api_key="none", max_retries=0, timeout=600)

    def ask(p: str) -> int:
        r = client.completions.create(model="smollm2", prompt=p, max_tokens=budget, extra_body={"ignore_eos": True})
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
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model_cfg = OmegaConf.load(CONF / "model" / "smollm2_135m.yaml")
    gen = Generator.load(resolve_source(None, model_cfg, "outputs"), "alpaca", "cpu")
    prompts = prompts_for(gen, args.prompts)
    budget = args.max_new_tokens
    engine(gen, prompts[:2], 4, 2)  # warm-up: first-call allocations and kernel selection

    rows = [("one at a time (model.generate loop)", *timed(one_at_a_time, gen, prompts, budget))]
    for bs in (1, 4, 16):
        rows.append((f"engine, batch {bs}", *timed(engine, gen, prompts, budget, bs)))
    with Server(gen, max_batch_size=16) as srv:
        rows.append((f"server, {len(prompts)} concurrent openai clients", *timed(via_server, srv, prompts, budget)))

    base = rows[0][1] / rows[0][2]
    print(f"\nSmolLM2-135M-Instruct, CPU, {torch.get_num_threads()} torch threads, {len(prompts)} prompts, "
          f"{budget} new tokens each, greedy\n")
    print("| mode | tokens | seconds | tokens/s | vs one at a time |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, tokens, secs in rows:
        print(f"| {name} | {tokens} | {secs:.1f} | {tokens / secs:.1f} | {tokens / secs / base:.2f}x |")


if __name__ == "__main__":
    main()

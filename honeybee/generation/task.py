"""The generation task: what ``python generate.py`` runs (batched generation, a merged export, a server)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from honeybee.data.readers import read_saved_records
from honeybee.data.records import Record
from honeybee.data.splits import SPLITS
from honeybee.generation.cpu_kernels import mode_problem
from honeybee.utils.errors import ConfigError, DataError
from honeybee.utils.io import atomic_write_jsonl
from honeybee.utils.rules import SEED_MAX, Num, number_problems

log = logging.getLogger(__name__)


def read_prompt_file(path: str | Path) -> list[Record]:
    """Prompts from a JSONL file: per line a JSON string, ``{"prompt": ...}`` or a record
    (``{"instruction", "input", ...}``, e.g. a run's ``splits/test.jsonl``); a JSON array of them works too.

    Raises:
        DataError: a missing or empty file, a malformed line or a field of the wrong type (file, line, field).
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"prompts file not found: {p}" + (" (a folder)" if p.is_dir() else ""))
    return [Record.from_dict(obj) for _, obj in read_saved_records(p, prompts=True)]


def read_split(run_dir: Path | None, split: str) -> list[Record]:
    """The records of ``<run_dir>/splits/<split>.jsonl`` (what the run held out, with its metadata).

    Raises:
        ConfigError: no run folder or an unknown split name.
        DataError: the split file is missing, empty or has a bad line.
    """
    if split not in SPLITS:
        raise ConfigError(f"split={split!r} is not one of: {', '.join(SPLITS)}")
    if run_dir is None:
        raise ConfigError(f"split={split} needs a run folder: adapter=<run or stage folder>")
    path = run_dir / "splits" / f"{split}.jsonl"
    if not path.is_file():
        raise DataError(f"split file not found: {path}")
    if not path.read_bytes().strip():
        raise DataError(f"{path}: the {split} split is empty")
    return [Record.from_dict(obj) for _, obj in read_saved_records(path)]


def prompt_records(cfg: DictConfig, run_dir: Path | None) -> list[Record]:
    """The records to answer, from exactly one of ``prompts``, ``prompts_file`` and ``split``."""
    given = [k for k in ("prompts", "prompts_file", "split") if cfg.get(k)]
    if len(given) != 1:
        raise ConfigError(
            "give exactly one of prompts=..., prompts_file=<jsonl> or split=<train|val|test>"
            + (f" (got {', '.join(given)})" if given else "")
        )
    if cfg.get("prompts"):
        items = cfg.prompts if not isinstance(cfg.prompts, str) else [cfg.prompts]
        records = [Record(str(p)) for p in items]
    elif cfg.get("prompts_file"):
        records = read_prompt_file(str(cfg.prompts_file))
    else:
        records = read_split(run_dir, str(cfg.split))
    return records[: int(cfg.limit)] if cfg.get("limit") else records


def sampling_from(cfg: Any) -> Any:
    from honeybee.generation.engine import Sampling

    s = cfg.sampling
    return Sampling(
        bool(s.do_sample),
        float(s.temperature),
        float(s.top_p),
        int(s.top_k),
        None if s.get("seed") is None else int(s.seed),
    )


SAMPLING_RULES: dict[str, Num] = {
    "sampling.temperature": Num(0, 100),
    "sampling.top_p": Num(0, 1, above=True),
    "sampling.top_k": Num(0, 10**6, integer=True, note="0 = off"),
    "sampling.seed": Num(0, SEED_MAX, integer=True, nullable=True),
}
# Every numeric key of conf/generate.yaml (tests/config/test_config_values.py checks none is missing).
GENERATE_RULES: dict[str, Num] = {
    "batch_size": Num(1, 4096, integer=True),
    "max_new_tokens": Num(1, 10**6, integer=True),
    "limit": Num(1, integer=True, nullable=True),
    "print_max": Num(0, 10**6, integer=True),
    "port": Num(1, 65535, integer=True),
    **SAMPLING_RULES,
    "server.max_batch_size": Num(1, 4096, integer=True),
    "server.batch_wait_ms": Num(0, 60_000),
    "server.default_max_tokens": Num(1, 10**6, integer=True),
    "server.max_tokens_limit": Num(1, 10**6, integer=True),
    "server.max_n": Num(1, 1024, integer=True),
    "server.max_prompt_tokens": Num(1, 10**7, integer=True),
    "server.max_body_bytes": Num(1024, 2**30, integer=True),
    "server.max_queued": Num(1, 10**6, integer=True),
}


def sampling_problems(cfg: DictConfig) -> list[str]:
    """``do_sample=true`` needs a temperature > 0 (greedy decoding ignores the sampling values)."""
    s = cfg.sampling
    if s.get("do_sample") not in (True, False):
        return [f"sampling.do_sample={s.get('do_sample')!r} must be true or false"]
    if s.do_sample and s.temperature == 0:
        return ["sampling.do_sample=true needs sampling.temperature > 0 (or do_sample=false for greedy)"]
    return []


def check_generate_config(cfg: DictConfig) -> None:
    """Raise one ConfigError listing every impossible setting (before any model is loaded)."""
    p = number_problems(cfg, GENERATE_RULES)
    if problem := mode_problem(cfg.cpu_prepack):
        p.append(problem)
    if not any(k.startswith("sampling.") for k in p):
        p += sampling_problems(cfg)
    server = cfg.server
    if not p and server.default_max_tokens > server.max_tokens_limit:
        p.append(
            f"server.default_max_tokens={server.default_max_tokens} is over "
            f"server.max_tokens_limit={server.max_tokens_limit}"
        )
    for key, want in (("output", "a file"), ("merge_dir", "a folder")):
        target = OmegaConf.select(cfg, key, throw_on_resolution_failure=False)
        if target and (Path(str(target)).is_dir() if want == "a file" else Path(str(target)).is_file()):
            p.append(f"{key}={target} is {'a folder' if want == 'a file' else 'a file'}; give {want}")
    if cfg.merge and cfg.serve:
        p.append("merge=true and serve=true are separate runs; pick one")
    if cfg.merge and not cfg.get("adapter"):
        p.append("merge=true needs adapter=<run folder or adapter folder>")
    if p:
        raise ConfigError("; ".join(p))


def merge_export(gen: Any, out: Path) -> Path:
    """Write the (already merged) model as a plain transformers folder, with ``honeybee.json`` kept."""
    from honeybee.model.export import export_model

    meta = {**gen.source.meta, "prompt_style": gen.style.name, "merged_from": str(gen.source.export)}
    export_model(gen.model, gen.tokenizer, out, meta)
    log.info("merged model written to %s (loads with AutoModelForCausalLM.from_pretrained)", out)
    return out


def generation_rows(
    records: list[Record], prompts: list[str], outs: list[Any], settings: dict[str, Any]
) -> list[dict]:
    """One JSONL row per prompt: what was asked, what came back, token counts and the settings used."""
    rows = []
    for r, p, o in zip(records, prompts, outs):
        row = {
            "instruction": r.instruction,
            "input": r.input,
            "prompt": p,
            "completion": o.text,
            "prompt_tokens": o.prompt_tokens,
            "completion_tokens": o.completion_tokens,
            "finish_reason": o.finish_reason,
            "settings": settings,
        }
        if r.output:
            row.update(reference=r.output, meta=r.meta)
        rows.append(row)
    return rows


def run_generate(cfg: DictConfig) -> None:
    """Generate for the configured prompts, write a merged model, or serve; see conf/generate.yaml."""
    check_generate_config(cfg)
    from honeybee.generation.source import resolve_source

    model_cfg = cfg.get("model")
    source = resolve_source(cfg.get("adapter"), model_cfg, cfg.paths.log_dir)
    # Read (and checked) before the model loads, so a bad prompts file fails fast; serving and merging take none.
    records = [] if (cfg.serve or cfg.merge) else prompt_records(cfg, source.run_dir)

    from honeybee.generation.engine import Request
    from honeybee.generation.generator import Generator

    # a merge only saves the weights: packing them for inference would be wasted work and memory
    prepack = False if cfg.merge else cfg.cpu_prepack
    gen = Generator.load(source, cfg.get("prompt_style"), str(cfg.device), int(cfg.batch_size), prepack)
    if cfg.merge:
        merge_export(gen, Path(str(cfg.merge_dir)))
        return
    if cfg.serve:
        from honeybee.generation.server import ServerSettings, serve

        srv = cfg.server
        server_settings = ServerSettings(
            str(cfg.served_model_name or source.label),
            int(srv.default_max_tokens),
            int(srv.max_tokens_limit),
            int(srv.max_n),
            int(srv.max_prompt_tokens),
            int(srv.max_body_bytes),
            int(srv.max_queued),
        )
        serve(
            gen,
            server_settings,
            str(cfg.host),
            int(cfg.port),
            int(cfg.server.max_batch_size),
            float(cfg.server.batch_wait_ms),
        )
        return
    prompts = [gen.prompt(r.instruction, r.input) if cfg.format_prompts else r.instruction for r in records]
    stops = gen.stops + tuple(str(s) for s in cfg.stop or [])
    sampling = sampling_from(cfg)
    outs = gen.complete(
        [Request(p, int(cfg.max_new_tokens), stops) for p in prompts], sampling, progress=True
    )
    settings = {
        "source": str(source.export or source.model_cfg.name),
        "base_model": str(source.model_cfg.name),
        "prompt_style": gen.style.name,
        "max_new_tokens": int(cfg.max_new_tokens),
        "stop": list(stops),
        **sampling.as_dict(),
    }
    rows = generation_rows(records, prompts, outs, settings)
    out = atomic_write_jsonl(str(cfg.output), rows)
    for row in rows[: int(cfg.print_max)]:
        log.info(">>> %s\n%s", row["instruction"], row["completion"].strip())
    tokens = sum(o.completion_tokens for o in outs)
    log.info("%d completions (%d tokens) written to %s", len(rows), tokens, out)

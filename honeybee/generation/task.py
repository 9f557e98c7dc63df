"""The generation task: what ``python generate.py`` runs (batched generation, a merged export, a server)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from honeybee.data.records import Record
from honeybee.data.splits import SPLITS
from honeybee.generation.cpu_kernels import mode_problem
from honeybee.utils.errors import ConfigError, DataError
from honeybee.utils.io import atomic_write_jsonl

log = logging.getLogger(__name__)


def read_prompt_file(path: str | Path) -> list[Record]:
    """Prompts from a JSONL file: per line a JSON string, ``{"prompt": ...}`` or a record
    (``{"instruction", "input", ...}``, e.g. a run's ``splits/test.jsonl``).

    Raises:
        DataError: a missing file, a malformed line, or no prompt at all.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"prompts file not found: {p}")
    out = []
    for i, line in enumerate(p.read_text(encoding="utf-8").splitlines()):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{p}: line {i + 1}: malformed JSON ({e.msg})") from None
        if isinstance(obj, str):
            obj = {"instruction": obj}
        elif isinstance(obj, dict) and "prompt" in obj and "instruction" not in obj:
            obj = {**obj, "instruction": obj.pop("prompt")}
        if not isinstance(obj, dict) or not isinstance(obj.get("instruction"), str):
            raise DataError(
                f'{p}: line {i + 1}: expected a string, {{"prompt": ...}} or {{"instruction": ...}}'
            )
        out.append(Record.from_dict(obj))
    if not out:
        raise DataError(f"{p}: no prompts")
    return out


def read_split(run_dir: Path | None, split: str) -> list[Record]:
    """The records of ``<run_dir>/splits/<split>.jsonl`` (what the run held out, with its metadata).

    Raises:
        ConfigError: no run folder or an unknown split name.
        DataError: the split file is missing or empty.
    """
    if split not in SPLITS:
        raise ConfigError(f"split={split!r} is not one of: {', '.join(SPLITS)}")
    if run_dir is None:
        raise ConfigError(f"split={split} needs a run folder: adapter=<run or stage folder>")
    path = run_dir / "splits" / f"{split}.jsonl"
    if not path.is_file():
        raise DataError(f"split file not found: {path}")
    recs = [
        Record.from_dict(json.loads(x)) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()
    ]
    if not recs:
        raise DataError(f"{path}: the {split} split is empty")
    return recs


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


def check_generate_config(cfg: DictConfig) -> None:
    """Raise one ConfigError listing every impossible setting (before any model is loaded)."""
    p = []
    if int(cfg.max_new_tokens) < 1:
        p.append(f"max_new_tokens={cfg.max_new_tokens} must be >= 1")
    if int(cfg.batch_size) < 1:
        p.append(f"batch_size={cfg.batch_size} must be >= 1")
    if problem := mode_problem(cfg.cpu_prepack):
        p.append(problem)
    s = cfg.sampling
    if s.do_sample and not (float(s.temperature) > 0 and 0 < float(s.top_p) <= 1 and int(s.top_k) >= 0):
        p.append("sampling needs temperature > 0, 0 < top_p <= 1 and top_k >= 0")
    if cfg.merge and cfg.serve:
        p.append("merge=true and serve=true are separate runs; pick one")
    if cfg.merge and not cfg.get("adapter"):
        p.append("merge=true needs adapter=<run folder or adapter folder>")
    if not 0 < int(cfg.port) < 65536:
        p.append(f"port={cfg.port} must be in 1..65535")
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

        server_settings = ServerSettings(
            str(cfg.served_model_name or source.label),
            int(cfg.server.default_max_tokens),
            int(cfg.server.max_tokens_limit),
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

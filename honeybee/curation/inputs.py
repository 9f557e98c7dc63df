"""What a curation round is given: its config values (checked all at once) and its input files.

``validate`` returns every problem with ``conf/curate.yaml`` as ``key: why`` lines before any call is made.
``topics`` and ``source_texts`` read ``sources.topics_file`` and ``sources.file``: a file that is not UTF-8,
malformed JSON, a record that is not an object or whose text field is not a string each stop the round with
one line naming the file, the record and the field; records without the field, or with empty text, are
skipped and counted in the log.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from honeybee.curation.backends import BACKEND_TYPES
from honeybee.data.readers import BadRecords, read_json_records, read_text
from honeybee.data.schema import json_type, text_problem
from honeybee.utils.errors import ConfigError, DataError
from honeybee.utils.rules import Num, number_problems

log = logging.getLogger(__name__)

ROLES = ("instructor", "verifier", "evaluator")
PLACEHOLDERS = {
    ("instructor", "topic"): ("{topic}",),
    ("instructor", "source"): ("{source}",),
    ("instructor", "targeted"): ("{topic}",),
    ("verifier", "user"): ("{instruction}", "{output}"),
    ("evaluator", "user"): ("{instruction}", "{answer}"),
}
_ROLE_RULES = {
    "concurrency": Num(1, 1024, integer=True, nullable=True),
    "max_tokens": Num(1, 10**6, integer=True),
    "max_repairs": Num(0, 100, integer=True),
    "timeout_s": Num(0, 86400, above=True, nullable=True, required=False),
    "batch_size": Num(1, 1024, integer=True, required=False),  # local backend only
    "batch_wait_s": Num(0, 60, required=False),  # local backend only
    "price.input_per_mtok": Num(0, 10**6, required=False),
    "price.output_per_mtok": Num(0, 10**6, required=False),
}
# Every numeric key of conf/curate.yaml and conf/backend/*.yaml (tests/config/test_config_values.py checks
# that none is missing).
CURATE_RULES: dict[str, Num] = {
    "round": Num(1, 10**6, integer=True),
    **{f"{role}.{k}": rule for role in ROLES for k, rule in _ROLE_RULES.items()},
    "instructor.calls": Num(0, 10**7, integer=True),
    "instructor.records_per_call": Num(1, 1000, integer=True),
    "instructor.temperature": Num(0, 2),
    "verifier.min_mean": Num(0, 100),
    "verifier.min_each": Num(0, 100),
    "sources.limit": Num(1, integer=True, nullable=True),
    "sources.max_chars": Num(1, 10**7, integer=True),
    "feedback.limit": Num(1, 10**6, integer=True, nullable=True),
    "feedback.weakest_k": Num(1, 1000, integer=True),
    "feedback.examples_per_topic": Num(1, 1000, integer=True),
    "feedback.calls_per_topic": Num(1, 1000, integer=True),
    "feedback.max_new_tokens": Num(1, 10**6, integer=True),
    "verifier_classifier.min_quality": Num(0, 1),
    "verifier_classifier.max_features": Num(1, 10**8, integer=True),
    "budget.max_tokens": Num(0, 10**15, integer=True, nullable=True, above=True),
    "budget.max_cost_usd": Num(0, 10**9, nullable=True, above=True),
    "retry.max_attempts": Num(1, 100, integer=True),
    "retry.base_delay_s": Num(0, 3600),
    "retry.max_delay_s": Num(0, 86400),
}


def validate(cfg: Any) -> list[str]:
    """Every problem with the config, as ``key: why`` lines (empty when it is usable)."""
    p: list[str] = []
    for role in ROLES:
        node = cfg.get(role)
        if node is None or node.get("type") not in BACKEND_TYPES:
            p.append(
                f"{role}.type={None if node is None else node.get('type')!r} is not a backend "
                f"(choose from: {', '.join(BACKEND_TYPES)}; backend@{role}=<name>)"
            )
    p += number_problems(cfg, CURATE_RULES)
    for (role, key), needed in PLACEHOLDERS.items():
        text = cfg.curate_prompt.get(role, {}).get(key)
        if not isinstance(text, str):
            p.append(f"curate_prompt.{role}.{key} is missing")
        elif not all(n in text for n in needed):
            p.append(f"curate_prompt.{role}.{key} must contain {' and '.join(needed)}")
    src = cfg.sources
    for k in ("topics_file", "file"):
        if src.get(k) and not Path(str(src[k])).is_file():
            p.append(f"sources.{k}: file not found: {src[k]}")
    if not isinstance(src.get("field"), str) or not src.get("field"):
        p.append(f"sources.field={src.get('field')!r} must name the field holding the text")
    fb = cfg.feedback
    if fb.get("questions_file") and not Path(str(fb.questions_file)).is_file():
        p.append(f"feedback.questions_file: file not found: {fb.questions_file}")
    if fb.get("stage"):
        from honeybee.generation.source import locate

        try:
            locate(str(fb.stage), str(cfg.paths.log_dir))
        except ConfigError as e:
            p.append(f"feedback.stage: {e}")
    if fb.get("fallback") not in (None, "f1"):
        p.append(f"feedback.fallback={fb.fallback!r} must be null or f1")
    vc = cfg.verifier_classifier
    if vc.get("enabled"):
        for k in ("train_file", "test_file"):
            if vc.get(k) and not Path(str(vc[k])).is_file():
                p.append(f"verifier_classifier.{k}: file not found: {vc[k]}")
    return p


def topics(cfg: Any) -> list[str]:
    """``sources.topics`` plus the lines of ``sources.topics_file`` (blank lines and ``#`` comments skipped).

    Raises:
        DataError: the topics file is not UTF-8 text or a line holds a NUL character.
    """
    out = [str(t) for t in (cfg.sources.get("topics") or [])]
    if cfg.sources.get("topics_file"):
        path = Path(str(cfg.sources.topics_file))
        for i, line in enumerate(read_text(path).splitlines()):
            if line.strip() and not line.startswith("#"):
                if problem := text_problem(line):
                    raise DataError(f"{path}: line {i + 1}: {problem}")
                out.append(line.strip())
    return out


def source_texts(cfg: Any) -> list[tuple[str, str]]:
    """``(id, text)`` for each source text in ``sources.file`` (JSON array or JSONL), repeats dropped.

    Raises:
        DataError: an unreadable file, malformed JSON, a record that is not an object or whose field is not a
            string (file, record and field named), or no record with text at all.
    """
    path = cfg.sources.get("file")
    if not path:
        return []
    path, field = Path(str(path)), str(cfg.sources.field)
    out, seen, without = [], set(), 0
    for i, (where, r) in enumerate(read_json_records(path, BadRecords("error"))):
        if not isinstance(r, dict):
            raise DataError(f"{where}: expected an object, got {json_type(r)}")
        text = r.get(field)
        if text is not None and not isinstance(text, str):
            raise DataError(f"{where}: field {field!r}: expected a string, got {json_type(text)}")
        if text is not None and (problem := text_problem(text)):
            raise DataError(f"{where}: field {field!r}: {problem}")
        if not text or not text.strip():
            without += 1
        elif text not in seen:
            seen.add(text)
            out.append((f"{path.name}#{i}", text.strip()[: int(cfg.sources.max_chars)]))
    if without:
        log.info("%s: %d record(s) without text in %r skipped", path, without, field)
    if not out:
        raise DataError(f"{path}: no record has a non-empty {field!r} (sources.field)")
    limit = cfg.sources.get("limit")
    return out[: int(limit)] if limit else out

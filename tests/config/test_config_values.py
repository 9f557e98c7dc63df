"""Table-driven: every numeric config value of every entry point, set to each class of bad value, is one line
naming the key before any model loads.

The configs are composed as the entry points compose them (conf/train.yaml with every option of every group,
conf/generate.yaml, conf/evaluate.yaml, conf/curate.yaml with every backend), every numeric leaf is found by
walking them, and each one must have a rule in its entry point's table (a new numeric key without one fails
``test_every_numeric_key_has_a_rule``). The bad values are tried in-process through the entry point's own
check; the expectations below are written independently of the rules: a class of bad value is refused unless
this file says the key legitimately takes it, and why.
"""

from __future__ import annotations

import fnmatch
import functools
import math
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import TINY, run_script
from omegaconf import OmegaConf, open_dict

from honeybee.cli import check_overrides
from honeybee.config.validate import LORA_RULES, TRAIN_RULES, train_config_problems
from honeybee.curation.inputs import CURATE_RULES, validate
from honeybee.evaluation.task import EVALUATE_RULES, check_evaluate_config
from honeybee.generation.task import GENERATE_RULES, check_generate_config, read_prompt_file
from honeybee.progressive.stages import compose_train_config
from honeybee.utils.errors import ConfigError, HoneybeeError

CONF = Path(__file__).resolve().parents[2] / "conf"
BAD = {
    "negative": -7,
    "zero": 0,
    "huge": 10**30,
    "huge_float": 1e30,
    "non_numeric": "abc",
    "empty": "",
    "null": None,
    "boolean": True,
    "nan": math.nan,
}
SEEDS = "random.Random takes any integer"
ROLES = ("instructor", "verifier", "evaluator")
# Keys that legitimately take a class of value above, with the reason. Everything else must be refused.
ALLOWED: dict[str, tuple[set[str], str]] = {
    "*.template_seed": ({"negative", "zero", "huge"}, SEEDS),
    "seed": ({"zero"}, "seeds start at 0"),
    "*split_seed": ({"zero"}, "seeds start at 0"),
    "*.init_seed": ({"zero"}, "seeds start at 0"),
    "*mixture_seed": ({"zero", "null"}, "seeds start at 0; null = split_seed"),
    "*sampling.seed": ({"zero", "null"}, "seeds start at 0; null = unseeded"),
    "optim.weight_decay": ({"zero"}, "no decay"),
    "optim.warmup_ratio": ({"zero"}, "no warmup"),
    "optim.warmup_steps": ({"zero", "null"}, "no warmup; null = warmup_ratio"),
    "optim.min_lr_ratio": ({"zero"}, "decay to 0"),
    "lora.dropout": ({"zero"}, "no dropout"),
    "data.num_workers": ({"zero"}, "load in the main process"),
    "*val_fraction": ({"zero"}, "no validation split"),
    "*test_fraction": ({"zero"}, "no test split"),
    "*.min_mean": ({"zero"}, "keep every scored record"),
    "*.min_each": ({"zero"}, "keep every scored record"),
    "data.components.*.weight": ({"zero"}, "0 leaves the component out"),
    "data.components.*.cap": ({"null"}, "null: no cap"),
    "data.pad_to_multiple_of": ({"null"}, "null: no padding multiple"),
    "data.total": ({"null"}, "null: the largest mixture"),
    "trainer.max_epochs": ({"null"}, "null: Lightning's default"),
    "trainer.min_epochs": ({"zero", "null"}, "no minimum"),
    "trainer.gradient_clip_val": ({"zero", "null"}, "no clipping"),
    "trainer.val_check_interval": ({"null"}, "null: once per epoch"),
    "trainer.limit_*_batches": ({"zero", "null"}, "0 batches skips the loop; null: all"),
    "trainer.overfit_batches": ({"zero"}, "0: off"),
    "trainer.check_val_every_n_epoch": ({"null"}, "null: by val_check_interval only"),
    "trainer.num_sanity_val_steps": ({"zero"}, "no sanity check"),
    "callbacks.*.save_top_k": ({"zero"}, "0: keep none (last.ckpt only)"),
    "callbacks.last_checkpoint.every_n_train_steps": ({"null"}, "null: at epoch ends only"),
    "callbacks.early_stopping.min_delta": ({"zero"}, "any improvement counts"),
    "callbacks.progress_bar.refresh_rate": ({"zero"}, "0: no progress bar"),
    "hardware.gpus_per_node": ({"zero"}, "0: CPU"),
    "hardware.global_batch_size": ({"null"}, "null: batch settings as configured"),
    "hardware.micro_batch_size": ({"null"}, "null: data.batch_size"),
    "score.min_delta": ({"zero", "negative"}, "0: any gain is progress; < 0: so is a slightly worse stage"),
    "strategy.stage": ({"zero"}, "ZeRO stage 0"),
    "limit": ({"null"}, "null: all prompts/records"),
    "print_max": ({"zero"}, "echo nothing"),
    "*sampling.temperature": ({"zero"}, "0: greedy"),
    "*sampling.top_k": ({"zero"}, "0: off"),
    "server.batch_wait_ms": ({"zero"}, "no wait: batch whatever is queued"),
    "eval_task.*.limit": ({"null"}, "null: all records"),
    "eval_task.*.max_seq_len": ({"null"}, "null: the adapter's own"),
    "eval_task.*.rel_tol": ({"zero"}, "exact match"),
    "eval_task.*.max_retries": ({"zero"}, "no retries"),
    "eval_task.*.temperature": ({"zero"}, "greedy judge"),
    "bootstrap.seed": ({"zero"}, "seeds start at 0"),
    "harness.num_fewshot": ({"zero", "null"}, "zero-shot; null: each task's default"),
    "harness.limit": ({"null"}, "null: every document"),
    **{f"{role}.concurrency": ({"null"}, "null: one call at a time") for role in ROLES},
    **{f"{role}.batch_wait_s": ({"zero"}, "no wait: batch whatever is queued") for role in ROLES},
    **{f"{role}.timeout_s": ({"null"}, "null: the SDK's default") for role in ROLES},
    **{f"{role}.max_repairs": ({"zero"}, "no repair requests") for role in ROLES},
    **{f"{role}.price.*": ({"zero"}, "free") for role in ROLES},
    "instructor.calls": ({"zero"}, "feedback only"),
    "instructor.temperature": ({"zero"}, "greedy"),
    "sources.limit": ({"null"}, "null: all texts"),
    "feedback.limit": ({"null"}, "null: every question"),
    "budget.*": ({"null"}, "null: no limit"),
    "retry.*_delay_s": ({"zero"}, "no waiting"),
    "verifier_classifier.min_quality": ({"zero"}, "keep all"),
}


def allowed(key: str) -> set[str]:
    return set().union(
        *(classes for pattern, (classes, _) in ALLOWED.items() if fnmatch.fnmatch(key, pattern))
    )


def numeric_leaves(node: Any, prefix: str = "") -> list[str]:
    out = []
    for k, v in node.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out += numeric_leaves(v, key + ".")
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out.append(key)
    return out


def rule_keys(cfg: Any, rules: dict[str, Any]) -> list[str]:
    """Keys of ``rules`` (patterns expanded) present in ``cfg``, numeric or null."""
    from honeybee.utils.rules import expand, is_absent, lookup

    return [
        k
        for pattern in rules
        for k in expand(cfg, pattern)
        if not is_absent(v := lookup(cfg, k)) and (v is None or isinstance(v, (int, float)))
    ]


def _compose(name: str, overrides: list[str]) -> Any:
    if name == "train":
        return compose_train_config(overrides)
    problem, cfg = check_overrides(overrides, name)
    assert problem is None, problem
    return cfg


def _problems(name: str, cfg: Any) -> list[str]:
    if name == "train":
        return train_config_problems(cfg)
    if name == "curate":
        return validate(cfg)
    check = check_generate_config if name == "generate" else check_evaluate_config
    try:
        check(cfg)
    except ConfigError as e:
        return [str(e)]
    return []


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


TRAIN_GROUPS = ["model", "lora", "data", "strategy", "trainer", "callbacks", "debug", "hardware", "stage"]
CONFIGS = {
    "train": [[]] + [[f"{g}={o}"] for g in TRAIN_GROUPS for o in _options(g)],
    "generate": [[]],
    "evaluate": [
        ["tasks=[perplexity,judge,similarity,darwin_fair,matsci_nlp,sciinstruct]"],
        ["tasks=[perplexity]", "harness=lm_eval"],
    ],
    "curate": [[]]
    + [[f"backend@{r}={b}" for r in ("instructor", "verifier", "evaluator")] for b in _options("backend")],
}
RULES = {
    "train": {**TRAIN_RULES, **LORA_RULES},
    "generate": GENERATE_RULES,
    "evaluate": EVALUATE_RULES,
    "curate": CURATE_RULES,
}


@functools.cache
def _configs(name: str) -> list[tuple[list[str], Any]]:
    """The composed configs of an entry point (once per session: the bad-value test restores every value)."""
    return [(ov, _compose(name, ov)) for ov in CONFIGS[name]]


@pytest.mark.parametrize("name", list(CONFIGS))
def test_every_numeric_key_has_a_rule(name):
    missing = set()
    for _, cfg in _configs(name):
        body = OmegaConf.to_container(
            OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]), resolve=False
        )
        for key in numeric_leaves(body):
            if not any(fnmatch.fnmatch(key, p) for p in RULES[name]):
                missing.add(key)
    assert not missing, f"numeric keys without a rule in the {name} table: {sorted(missing)}"


@pytest.mark.parametrize("name", list(CONFIGS))
def test_every_bad_value_is_one_line_naming_the_key(name):
    seen: set[str] = set()
    wrong: list[str] = []
    cases = 0
    for overrides, cfg in _configs(name):
        if name == "train" and "lora=none" in overrides:
            continue  # lora.* are not read for a full finetune
        assert _problems(name, cfg) == [], (overrides, _problems(name, cfg))
        for key in rule_keys(cfg, RULES[name]):
            if key in seen:
                continue
            seen.add(key)
            original = OmegaConf.select(cfg, key)
            for kind, value in BAD.items():
                cases += 1
                with open_dict(cfg):
                    OmegaConf.update(cfg, key, value, merge=False)
                problems = _problems(name, cfg)
                named = [p for p in problems if re.search(rf"(^|; ){re.escape(key)}(=| is )", p)]
                ok = kind in allowed(key)
                if ok and named:
                    wrong.append(f"{key}={value!r} ({kind}) is allowed but refused: {named}")
                elif not ok and not named:
                    wrong.append(f"{key}={value!r} ({kind}) is not refused naming the key: {problems}")
                elif any("\n" in p for p in problems):
                    wrong.append(f"{key}={value!r}: message spans lines: {problems}")
                with open_dict(cfg):
                    OmegaConf.update(cfg, key, original, merge=False)
    assert not wrong, "\n".join(wrong)
    assert cases >= 8 * len(seen) > 0
    print(f"{name}: {len(seen)} keys x {len(BAD)} bad values = {cases} cases")


def _load_data(**data: Any) -> Any:
    from honeybee.data.sources import load_records

    return lambda: load_records(OmegaConf.create(data))


def _train_parent(**stage: Any) -> Any:
    from honeybee.progressive.stages import resolve_parent

    cfg = compose_train_config([])
    cfg.stage.merge_with(stage)
    return lambda: resolve_parent(cfg)


def _check(name: str, *overrides: str) -> Any:
    def run() -> None:
        problems = _problems(name, _compose(name, list(overrides)))
        if problems:
            raise ConfigError("; ".join(problems))

    return run


# Path keys: empty, missing, and a folder where a file belongs (or the reverse), each named.
PATHS = [
    ("data.path empty", _load_data(source="sciinstruct", path=""), "data.path is required"),
    (
        "data.path missing",
        _load_data(source="darwin_fair", path=["/nope/pei.json"]),
        "data.path=/nope/pei.json: no such",
    ),
    ("data.path not a path", _load_data(source="matsci_nlp", path=[3]), "data.path: 3 is not a path"),
    (
        "matsci_instruct file",
        _load_data(source="matsci_instruct", path="/nope/a.json"),
        "data.path=/nope/a.json: no such",
    ),
    ("init_from", _train_parent(init_from="/nope/run"), "stage.init_from=/nope/run: no adapter/"),
    (
        "extra_train_files",
        _check("train", "stage.extra_train_files=[/nope.jsonl]"),
        "stage.extra_train_files: data",
    ),
    ("ckpt_path", _check("train", "ckpt_path=/nope.ckpt"), "ckpt_path=/nope.ckpt: no such checkpoint file"),
    ("generate output", _check("generate", "output=/tmp"), "output=/tmp is a folder; give a file"),
    (
        "prompts_file folder",
        lambda: read_prompt_file("/tmp"),
        "prompts file not found: /tmp (a folder)",
    ),
    ("sources.file folder", _check("curate", "sources.file=/tmp"), "sources.file: file not found: /tmp"),
    (
        "topics_file missing",
        _check("curate", "sources.topics_file=/nope.txt"),
        "sources.topics_file: file not found",
    ),
    (
        "questions_file",
        _check("curate", "feedback.questions_file=/nope.jsonl"),
        "feedback.questions_file: file not found",
    ),
]


@pytest.mark.parametrize(("what", "call", "needle"), PATHS, ids=[p[0] for p in PATHS])
def test_bad_paths_name_the_key(what, call, needle):
    with pytest.raises(HoneybeeError) as e:
        call()
    assert needle in str(e.value) and "\n" not in str(e.value), str(e.value)


def test_a_missing_key_is_named(tmp_path):
    cfg = compose_train_config([])
    with open_dict(cfg):
        del cfg.data["batch_size"]
        del cfg.trainer["max_steps"]
    joined = "; ".join(train_config_problems(cfg))
    assert "data.batch_size is missing" in joined and "trainer.max_steps is missing" in joined


@pytest.mark.parametrize(
    ("script", "args", "needle"),
    [
        ("train.py", [*TINY, "data.max_seq_len=abc"], "data.max_seq_len='abc' must be an integer 8..1048576"),
        ("train.py", [*TINY, "trainer.max_steps=-7", "seed=-1"], "seed=-1 must be an integer 0..4294967295"),
        ("train.py", [*TINY, "~data.batch_size"], "data.batch_size is missing"),
        (
            "evaluate.py",
            ["model=tiny_llama", "batch_size=0", "limit=''"],
            "batch_size=0 must be an integer 1..4096",
        ),
        (
            "curate.py",
            ["sources.max_chars=abc", "retry.max_attempts=1e30"],
            "sources.max_chars='abc' must be an integer",
        ),
    ],
    ids=["train_non_numeric", "train_negative", "train_missing", "evaluate_zero", "curate_non_numeric"],
)
def test_entry_points_stop_with_one_line(tmp_path, script, args, needle):
    r = run_script(script, args, tmp_path / "run")
    assert r.returncode == 2, r.stderr[-1500:]
    assert r.stderr.strip().splitlines() == [r.last_err_line], r.stderr
    assert r.last_err_line.startswith("honeybee: error: ") and needle in r.last_err_line, r.last_err_line
    assert "parameters:" not in r.stdout and "loaded " not in r.stdout  # no model was loaded
    assert not r.run_dir.exists()

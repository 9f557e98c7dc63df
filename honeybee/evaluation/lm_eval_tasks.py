"""honeybee's closed-answer tasks as lm-evaluation-harness tasks, so anyone can reproduce its numbers.

``python -m honeybee.evaluation.lm_eval_tasks OUT_DIR [evaluate.py overrides]`` writes, for every DARWIN
classification property and MatSci-NLP label task that ``evaluate.py`` scores by likelihood, one task YAML
(``output_type: multiple_choice``) and its local JSONL documents, plus group YAMLs (``honeybee``,
``honeybee_darwin_fair``, ``honeybee_matsci_nlp``). The documents are the records ``evaluate.py`` would score
with the same overrides (same data, split, ``limit``), each with the exact prompt honeybee sends (in the prompt
style given by ``prompt_style=``, alpaca by default) and the records' own answer forms as choices; the choices
follow the prompt with no delimiter, so the harness scores the same (context, continuation) pairs::

    python -m honeybee.evaluation.lm_eval_tasks outputs/lm_eval_tasks eval_task.darwin_fair.data.test_fraction=0.8
    HF_DATASETS_OFFLINE=1 lm_eval --model hf --model_args pretrained=<model> \\
        --include_path outputs/lm_eval_tasks --tasks honeybee_darwin_fair

The YAMLs name their JSONL files by absolute path (the harness's ``json`` loader resolves relative paths
against the working directory); rerun the command after moving the folder.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from pathlib import Path
from typing import Any

from honeybee.utils.errors import HoneybeeError
from honeybee.utils.io import atomic_dir

log = logging.getLogger(__name__)

PREFIX = "honeybee"
CLOSED_TASKS = ("darwin_fair", "matsci_nlp")


def harness_name(task: str, sub: str) -> str:
    """The harness task name of one honeybee sub-task: ``honeybee_darwin_fair_is_metal``."""
    return f"{PREFIX}_{task}_{re.sub(r'[^0-9A-Za-z]+', '_', sub).strip('_').lower()}"


def _yaml(obj: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(obj, sort_keys=False, allow_unicode=True, width=1000)


def task_yaml(name: str, data_file: Path, sub: str) -> str:
    """The harness config of one exported task."""
    return _yaml(
        {
            "task": name,
            "dataset_path": "json",
            "dataset_kwargs": {"data_files": {"test": str(data_file.resolve())}},
            "test_split": "test",
            "output_type": "multiple_choice",
            "doc_to_text": "{{prompt}}",
            "doc_to_choice": "options",
            "doc_to_target": "gold",
            # honeybee scores exactly (prompt, option); the harness then moves the prompt's trailing newline
            # onto each option, as honeybee's encode_pair does.
            "target_delimiter": "",
            "metric_list": [
                {"metric": "acc", "aggregation": "mean", "higher_is_better": True},
                {"metric": "acc_norm", "aggregation": "mean", "higher_is_better": True},
            ],
            "metadata": {"version": 1.0, "honeybee_subtask": sub},
        }
    )


def documents(task: Any, records: list[Any], style: Any) -> dict[str, list[dict[str, Any]]]:
    """The harness documents of a task's closed records, by sub-task, in record order."""
    out: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        if not task.closed(r):
            continue
        labels, options = task.options(r)
        out.setdefault(task.group(r), []).append(
            {
                "prompt": style.prompt(r.instruction, r.input),
                "options": options,
                "labels": labels,
                "gold": labels.index(r.meta["label"]),
                "label": r.meta["label"],
                "instruction": r.instruction,
                "input": r.input,
            }
        )
    return out


def export(out_dir: Path, cfg: Any) -> list[str]:
    """Write the task YAMLs, JSONL documents and group YAMLs into ``out_dir`` (atomically); returns the task
    names. ``cfg`` is a composed ``evaluate`` config: its ``eval_task`` data, ``limit`` and ``prompt_style``
    decide the records and prompts."""
    from omegaconf import open_dict

    from honeybee.data.prompts import PromptStyle
    from honeybee.evaluation.task import task_records
    from honeybee.evaluation.tasks import EvalTask

    style = PromptStyle.from_name(str(cfg.get("prompt_style") or "alpaca"), None)
    names: dict[str, list[str]] = {}
    files: dict[str, tuple[str, str, list[dict[str, Any]]]] = {}
    for t in CLOSED_TASKS:
        with open_dict(cfg):
            cfg.eval_task[t].scoring = "loglikelihood"
        task = EvalTask.create(t, cfg.eval_task[t])
        records, _ = task_records(task, t, None, cfg)
        for sub, docs in sorted(documents(task, records, style).items()):
            name = harness_name(t, sub)
            names.setdefault(t, []).append(name)
            files[name] = (t, sub, docs)
    with atomic_dir(out_dir) as tmp:
        for name, (_, sub, docs) in files.items():
            data = out_dir / f"{name}.jsonl"
            (tmp / data.name).write_text(
                "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), encoding="utf-8"
            )
            (tmp / f"{name}.yaml").write_text(task_yaml(name, data, sub), encoding="utf-8")
        for t, members in names.items():
            group = {"group": f"{PREFIX}_{t}", "task": members, "aggregate_metric_list": _aggregate()}
            (tmp / f"{PREFIX}_{t}.yaml").write_text(_yaml(group), encoding="utf-8")
        everything = {"group": PREFIX, "task": [f"{PREFIX}_{t}" for t in names]}
        (tmp / f"{PREFIX}.yaml").write_text(_yaml(everything), encoding="utf-8")
    for name, (_, _sub, docs) in files.items():
        log.info("%s: %d documents", name, len(docs))
    return list(files)


def _aggregate() -> list[dict[str, Any]]:
    return [{"metric": m, "aggregation": "mean", "weight_by_size": True} for m in ("acc", "acc_norm")]


def compose_evaluate(overrides: list[str]) -> Any:
    """``conf/evaluate.yaml`` with ``overrides`` (Hydra's compose API; no run folder is made)."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf import open_dict
    from omegaconf.errors import OmegaConfBaseException

    from honeybee.utils.paths import CONF_DIR

    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose("evaluate", overrides=overrides)
    except (HydraException, OmegaConfBaseException) as e:
        raise HoneybeeError(str(e).splitlines()[0]) from None
    with open_dict(cfg):  # what ${hydra:runtime.cwd} would be: no Hydra app runs here
        cfg.paths.root_dir = str(Path.cwd())
        cfg.paths.output_dir = str(Path.cwd())
    return cfg


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith("-") or "=" in argv[0]:
        print(
            "usage: python -m honeybee.evaluation.lm_eval_tasks OUT_DIR [evaluate.py overrides, e.g. "
            "eval_task.darwin_fair.data.test_fraction=0.8 limit=100 prompt_style=alpaca]",
            file=sys.stderr,
        )
        return 2
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out = Path(argv[0])
    try:
        names = export(out, compose_evaluate(argv[1:]))
    except HoneybeeError as e:
        print(f"honeybee: error: {e}", file=sys.stderr)
        return 2
    print(
        f"{out}: {len(names)} tasks ({', '.join(names)}); groups {PREFIX}, "
        + ", ".join(f"{PREFIX}_{t}" for t in CLOSED_TASKS)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

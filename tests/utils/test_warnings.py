"""Quiet runs: known third-party warnings are silenced precisely, and a plain run shows no warning at all."""

from __future__ import annotations

import re
import subprocess
import sys
import warnings

from conftest import ROOT, TINY, run_script

from honeybee.utils.warnings import KNOWN_WARNINGS, quiet_known_warnings

# A Python warning as printed on stderr: "<file>.py:<line>: [Category: ]message" (Lightning drops the category).
WARNING_LINE = re.compile(r"\.py:\d+: ")


def _shown(message: str, category: type[Warning], module: str) -> bool:
    with warnings.catch_warnings(record=True) as caught:
        warnings.resetwarnings()
        warnings.simplefilter("always")
        quiet_known_warnings()
        warnings.warn_explicit(message, category, f"{module.replace('.', '/')}.py", 1, module=module)
    return bool(caught)


SAMPLES = [  # one real message per entry of KNOWN_WARNINGS, in order, with the module it comes from
    ("`is_gradient_checkpointing` is deprecated and will be removed in v6.", "transformers.modeling_utils"),
    (
        "Experiment logs directory /x/ exists and is not empty. Previous log files will be deleted!",
        "lightning.fabric.loggers.csv_logs",
    ),
    (
        "Checkpoint directory /x/checkpoints exists and is not empty.",
        "lightning.pytorch.callbacks.model_checkpoint",
    ),
    (
        "`isinstance(treespec, LeafSpec)` is deprecated, use `isinstance(treespec, TreeSpec)` instead.",
        "lightning.pytorch.utilities._pytree",
    ),
]


def test_known_warnings_are_silenced_only_where_they_come_from():
    assert len(SAMPLES) == len(KNOWN_WARNINGS)
    for (text, module), (pattern, category, _module_re, _why) in zip(SAMPLES, KNOWN_WARNINGS):
        assert not _shown(text, category, module), pattern
        # The same text from honeybee's own code, or with another category, still shows.
        assert _shown(text, category, "honeybee.training.task"), pattern
        assert _shown(text, UserWarning if category is not UserWarning else RuntimeWarning, module), pattern
    assert _shown("something new", UserWarning, "lightning.fabric.loggers.csv_logs")


def test_importing_the_entry_modules_silences_nothing_and_skips_deepspeed():
    # Library users keep seeing every warning (only the entry points install honeybee's filters); and
    # `import deepspeed` prints accelerator warnings, so a run without strategy=deepspeed_* must never import it.
    code = (
        "import sys, warnings\n"
        "import honeybee, honeybee.cli, honeybee.training.task, honeybee.training.strategies, "
        "honeybee.generation.task, honeybee.evaluation.task, honeybee.curation.loop\n"
        "from honeybee.utils.warnings import KNOWN_WARNINGS\n"
        f"samples = {SAMPLES!r}\n"
        "shown = 0\n"
        "for (text, module), (_, category, _, _) in zip(samples, KNOWN_WARNINGS):\n"
        "    with warnings.catch_warnings(record=True) as caught:\n"
        "        warnings.warn_explicit(text, category, module + '.py', 1, module=module, registry={})\n"
        "    shown += len(caught)\n"
        "print(shown, 'deepspeed' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.stdout.split() == [str(len(SAMPLES)), "False"], out.stderr


def test_tiny_train_and_generate_print_no_warnings(train_run, tmp_path):
    # PYTHONWARNINGS=default shows every warning once (DeprecationWarning included), as a developer would see.
    env = {"PYTHONWARNINGS": "default"}
    run = train_run(
        [*TINY, "trainer.max_steps=2", "trainer.val_check_interval=2", "trainer.limit_val_batches=2"], env=env
    )
    assert run.returncode == 0, run.stderr[-3000:]
    prompt = "prompts=[What is the band gap of silicon?]"
    gen = run_script(
        "generate.py", [f"adapter={run.run_dir}", prompt, "max_new_tokens=4"], tmp_path / "g", env=env
    )
    assert gen.returncode == 0, gen.stderr[-3000:]
    for name, r in (("train.py", run), ("generate.py", gen)):
        assert "deepspeed" not in (r.stdout + r.stderr).lower(), f"{name} mentions DeepSpeed:\n{r.stderr}"
        shown = [ln for ln in r.stderr.splitlines() if WARNING_LINE.search(ln)]
        assert not shown, f"{name} printed warnings:\n" + "\n".join(shown)

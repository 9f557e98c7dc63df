"""Third-party warnings that a honeybee user cannot act on, silenced one by one.

Each is matched by message, category and the module that raises it, so any other warning (a new one, or the
same text from elsewhere) still shows. Only the entry points install these filters (``cli.run_task``):
importing honeybee as a library leaves the warning filters alone.
"""

from __future__ import annotations

import warnings

# (message regex, category, module regex of the warning's origin, why it is noise)
KNOWN_WARNINGS: list[tuple[str, type[Warning], str, str]] = [
    (
        r"`is_gradient_checkpointing` is deprecated",
        FutureWarning,
        r"transformers\.modeling_utils",
        "PEFT probes the deprecated attribute when it wraps a model; nothing in honeybee reads it",
    ),
    (
        r"Experiment logs directory .* exists and is not empty",
        UserWarning,
        r"lightning\.fabric\.loggers\.csv_logs",
        "the CSV logger writes into the run folder, which always holds config.yaml and run_info.json already",
    ),
    (
        r"Checkpoint directory .* exists and is not empty",
        UserWarning,
        r"lightning\.pytorch\.callbacks\.model_checkpoint",
        "a stage folder is reused only on purpose: resuming (ckpt_path=last) or overwrite=true",
    ),
    (
        r"`isinstance\(treespec, LeafSpec\)` is deprecated",
        FutureWarning,
        r"lightning\.pytorch\.utilities\._pytree",
        "Lightning's own use of a torch API that torch deprecated after that Lightning release",
    ),
]


def quiet_known_warnings() -> None:
    """Install an ``ignore`` filter for each of :data:`KNOWN_WARNINGS` (idempotent)."""
    for message, category, module, _why in KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category, module=module)

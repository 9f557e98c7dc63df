"""honeybee: progressive instruction finetuning of LLMs for materials science."""

import warnings

__version__ = "0.1.0"

# Third-party deprecation chatter that users cannot act on; real warnings still show.
for _msg in (
    r".*is_gradient_checkpointing.*",
    r".*Experiment logs directory .* exists and is not empty.*",
    r".*isinstance\(treespec, LeafSpec\).*",
    r".*litlogger.*",
):
    warnings.filterwarnings("ignore", message=_msg)

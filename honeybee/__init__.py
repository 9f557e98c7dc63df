"""honeybee: progressive instruction finetuning of LLMs for materials science."""

__version__ = "0.1.0"

"""``python -m honeybee export``: a trained run as one standalone folder (a merged transformers model or the
PEFT adapter alone) with its tokenizer, chat template, generation config and a model card."""

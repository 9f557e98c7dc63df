"""Studies: a grid of progressive-finetuning runs x seeds, evaluated on every task, and their report.

plan (cells, validation, dry run) -> runner (one cell: train + evaluate, result.json) -> entry (study.py) ->
report (tables, plots, JSON, HTML, W&B table).
"""

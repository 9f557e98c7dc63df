"""Batching strategies: packing is exact (same loss, no attention across records), grouping is seeded."""

from __future__ import annotations

from itertools import islice
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from omegaconf import OmegaConf
from torch.utils.data import DataLoader, SequentialSampler

from honeybee.data.batching import LengthGroupedSampler, make_loader, pack_by_length
from honeybee.data.collate import pack_collate, pad_collate
from honeybee.data.datamodule import InstructionDataModule, prepare_splits, tokenize_split
from honeybee.data.prompts import PromptStyle
from honeybee.data.records import Record
from honeybee.data.tokenize import IGNORE_INDEX, tokenize_record
from honeybee.model.loss import causal_lm_loss, model_inputs, one_row
from honeybee.utils.errors import ConfigError

CONF = Path(__file__).resolve().parents[2] / "conf"

RECORDS = [
    Record("What is the band gap of the given material?", "silicon (Si)", "1.12 eV"),
    Record("Tell me the density of the given material.", "copper (Cu)", "8.96 g/cm^3"),
    Record("Is the given material a metal?", "germanium (Ge)", "No"),
    Record(
        "Summarise the abstract.",
        "We present results of magnetic susceptibility measurements. " * 3,
        "Thin films were measured.",
    ),
    Record("Given the material, what is its melting point?", "titanium (Ti)", "1941 K"),
    Record("Name a wide band gap semiconductor.", "", "gallium nitride"),
]


def _items(tok, train_on_prompt: bool) -> list[dict[str, list[int]]]:
    style = PromptStyle.from_name("alpaca")
    return [tokenize_record(r, tok, style, 256, train_on_prompt) for r in RECORDS]


def _rows(items, capacity: int) -> list[list[dict[str, list[int]]]]:
    packs = pack_by_length([len(x["input_ids"]) for x in items], capacity)
    assert any(len(p) > 1 for p in packs)  # the test must really pack several records into one row
    return [[items[i] for i in p] for p in packs]


def test_pack_collate_layout():
    a = {"input_ids": [5, 6, 7], "labels": [5, 6, 7]}
    b = {"input_ids": [8, 9], "labels": [IGNORE_INDEX, 9]}
    c = {"input_ids": [4], "labels": [4]}
    out = pack_collate([[a, b], [c]], pad_id=0, pad_to_multiple_of=3)
    assert out["input_ids"].tolist() == [[5, 6, 7, 8, 9, 0], [4, 0, 0, 0, 0, 0]]
    assert out["position_ids"].tolist() == [[0, 1, 2, 0, 1, 0], [0, 0, 1, 2, 3, 4]]
    # Each record's first label is -100, so no record's last token learns to predict the next record.
    assert out["labels"].tolist() == [[IGNORE_INDEX, 6, 7, IGNORE_INDEX, 9, IGNORE_INDEX], [IGNORE_INDEX] * 6]
    assert out["attention_mask"].tolist() == [[1, 1, 1, 1, 1, 0], [1, 0, 0, 0, 0, 0]]
    assert all(v.dtype == torch.long for v in out.values())
    # The real-token mask is for counting only; the model gets the position ids alone.
    assert set(model_inputs(out)) == {"position_ids"}


@pytest.mark.parametrize(("selective", "train_on_prompt"), [(True, False), (True, True), (False, True)])
def test_packed_loss_equals_unpacked(tiny_model, tiny_tokenizer, selective, train_on_prompt):
    items = _items(tiny_tokenizer, train_on_prompt)
    padded = pad_collate(items, tiny_tokenizer.pad_token_id)
    packed = pack_collate(_rows(items, 256), tiny_tokenizer.pad_token_id, pad_to_multiple_of=8)
    with torch.no_grad():
        ref, n_ref = causal_lm_loss(tiny_model, padded, selective=selective)
        got, n_got = causal_lm_loss(tiny_model, packed, selective=selective)
        flat, n_flat = causal_lm_loss(tiny_model, one_row(packed), selective=selective)
    scored = sum(sum(1 for x in it["labels"][1:] if x != IGNORE_INDEX) for it in items)
    assert n_got == n_flat == n_ref == scored
    # Both are sum-of-token-losses / scored tokens over the same tokens.
    assert abs(float(ref) - float(got)) < 1e-5
    assert abs(float(ref) - float(flat)) < 1e-5  # the single-row layout used for flash attention is exact too


def test_flash_attention_gets_packed_rows_as_one_row():
    class FlashModel(torch.nn.Module):
        config = SimpleNamespace(_attn_implementation="flash_attention_2")

        def forward(self, **kwargs):
            self.kwargs = kwargs
            return SimpleNamespace(loss=torch.tensor(0.0))

    a = {"input_ids": [5, 6, 7], "labels": [5, 6, 7]}
    packed = pack_collate([[a, a], [a]], pad_id=0)
    model = FlashModel()
    causal_lm_loss(model, packed)
    # transformers' flash path finds packed records from position ids only in a single row, with no mask.
    assert model.kwargs["input_ids"].tolist() == [[5, 6, 7, 5, 6, 7, 5, 6, 7, 0, 0, 0]]
    assert model.kwargs["position_ids"].tolist() == [[0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2]]
    assert "attention_mask" not in model.kwargs and model.kwargs["use_cache"] is False


def test_packed_boundary_labels(tiny_tokenizer):
    items = _items(tiny_tokenizer, train_on_prompt=True)
    rows = _rows(items, 256)
    out = pack_collate(rows, tiny_tokenizer.pad_token_id)
    for r, row in enumerate(rows):
        start = 0
        for x in row:
            assert out["position_ids"][r, start] == 0
            assert out["labels"][r, start] == IGNORE_INDEX
            assert out["labels"][r, start + 1 : start + len(x["labels"])].tolist() == x["labels"][1:]
            start += len(x["input_ids"])


def test_packed_attention_is_blocked(tiny_model, tiny_tokenizer):
    a, b = _items(tiny_tokenizer, False)[:2]
    other = {"input_ids": [(t + 17) % 500 for t in a["input_ids"]], "labels": a["labels"]}

    def logits(first, position_ids=True):
        batch = pack_collate([[first, b]], tiny_tokenizer.pad_token_id)
        if not position_ids:
            batch.pop("position_ids")
        with torch.no_grad():
            return tiny_model(input_ids=batch["input_ids"], use_cache=False, **model_inputs(batch)).logits[0]

    n_a, n_b = len(a["input_ids"]), len(b["input_ids"])
    base, changed = logits(a), logits(other)
    assert not torch.allclose(base[:n_a], changed[:n_a])
    torch.testing.assert_close(base[n_a : n_a + n_b], changed[n_a : n_a + n_b], rtol=0, atol=1e-5)
    # Control: concatenated without position ids, B does see A, so the check above can fail.
    leaky, leaky_changed = logits(a, False), logits(other, False)
    assert not torch.allclose(leaky[n_a : n_a + n_b], leaky_changed[n_a : n_a + n_b], atol=1e-3)
    # B's logits in the packed row equal B's logits on its own.
    with torch.no_grad():
        alone = tiny_model(input_ids=torch.tensor([b["input_ids"]]), use_cache=False).logits[0]
    torch.testing.assert_close(base[n_a : n_a + n_b], alone, rtol=0, atol=1e-5)


def test_pack_by_length_fits_every_record_once():
    lengths = [500, 12, 300, 200, 90, 512, 7, 250, 260, 1]
    packs = pack_by_length(lengths, 512)
    assert sorted(i for p in packs for i in p) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in p) <= 512 for p in packs)
    assert len(packs) == 5  # sum 2132 needs at least 5 rows of 512
    assert pack_by_length(lengths, 512) == packs
    with pytest.raises(ValueError, match="more than the pack capacity"):
        pack_by_length([600], 512)


def test_length_grouped_sampler_is_seeded_and_grouped():
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(10, 500, (203,), generator=g).tolist()
    s = LengthGroupedSampler(lengths, batch_size=8, seed=3, megabatch_size=5)
    first = s.batches()
    assert [len(b) for b in first[:-1]] == [8] * 25 and len(first[-1]) == 3  # only the last batch is short
    assert sorted(i for b in first for i in b) == list(range(203))
    assert list(s) == [i for b in first for i in b]
    assert max(lengths[i] for i in first[0]) == max(lengths)  # longest batch first: OOM shows at step 1
    assert LengthGroupedSampler(lengths, 8, seed=3, megabatch_size=5).batches() == first
    s.set_epoch(1)
    assert s.batches() != first
    s.set_epoch(0)
    assert s.batches() == first

    def padding(batches):
        return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)

    rand = torch.randperm(203, generator=g).tolist()
    assert padding(first) < 0.25 * padding([rand[i : i + 8] for i in range(0, 203, 8)])
    ordered = LengthGroupedSampler(lengths, 8, shuffle=False).batches()
    assert [lengths[i] for b in ordered for i in b] == sorted(lengths, reverse=True)


@pytest.fixture(scope="module")
def facts_train(tiny_tokenizer):
    """The materials-facts train split, tokenized once for all strategies."""
    cfg = OmegaConf.load(CONF / "data" / "materials_facts.yaml")
    train = prepare_splits(cfg, 0)["train"]
    return tokenize_split(train, tiny_tokenizer, PromptStyle.from_name("alpaca"), 512, False)


@pytest.mark.parametrize("batching", ["pad", "length_grouped", "packed"])
def test_loaders_serve_every_record_once(tiny_tokenizer, facts_train, batching):
    train, stats = facts_train
    loader = make_loader(train, batching, 8, tiny_tokenizer.pad_token_id, 512, seed=0, shuffle=True)
    batches = list(loader)
    real = sum(int(b["attention_mask"].sum()) for b in batches)
    assert len(batches) == len(loader) and real == sum(train["length"][:]) == stats.tokens
    assert sum(int((b["labels"][:, 1:] != IGNORE_INDEX).sum()) for b in batches) == stats.loss_tokens
    assert ("position_ids" in batches[0]) == (batching == "packed")
    assert real / sum(b["input_ids"].numel() for b in batches) > (0.97 if batching != "pad" else 0.5)
    if batching == "packed":
        assert all(b["input_ids"].shape[1] <= 512 for b in batches)
        assert len(batches) < len(train) / 8 / 2  # several records per row
    # Lightning swaps in SequentialSampler(dataset) for overfit_batches: every strategy must allow that.
    sequential = DataLoader(
        loader.dataset, batch_size=8, sampler=SequentialSampler(loader.dataset), collate_fn=loader.collate_fn
    )
    assert sum(int(b["attention_mask"].sum()) for b in sequential) == real


def test_packed_training_runs_under_lightning(tiny_model, tiny_tokenizer):
    import lightning as L

    from honeybee.training.callbacks import TrainingStats
    from honeybee.training.module import CausalLMModule

    cfg = OmegaConf.load(CONF / "data" / "materials_facts.yaml")
    cfg.batching, cfg.cache, cfg.batch_size = "packed", False, 4
    splits = {k: v[:64] for k, v in prepare_splits(cfg, 0).items()}  # a few records keep it quick
    dm = InstructionDataModule(cfg, tiny_tokenizer, splits, seed=0, run_dir=None)
    stats = TrainingStats()
    trainer = L.Trainer(
        accelerator="cpu",
        max_steps=2,
        val_check_interval=2,
        limit_val_batches=1,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[stats],
    )
    trainer.fit(CausalLMModule(tiny_model.train(), {"lr": 1e-3}), datamodule=dm)
    assert trainer.global_step == 2
    first = list(islice(dm.train_dataloader(), 2))  # same seed and epoch: the batches the trainer saw
    assert stats.total_tokens == sum(int(b["attention_mask"].sum()) for b in first)
    assert float(trainer.callback_metrics["val/loss"]) > 0


def test_unknown_batching_fails_fast():
    cfg = OmegaConf.load(CONF / "data" / "materials_facts.yaml")
    cfg.batching = "bucketed"
    with pytest.raises(ConfigError, match="batching='bucketed' is not one of: pad, length_grouped, packed"):
        prepare_splits(cfg, 0)

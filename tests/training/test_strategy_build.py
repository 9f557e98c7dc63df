"""Which strategy object each config builds, and how data-parallel loaders shard their batches (no training)."""

from __future__ import annotations

import pytest
from conftest import ROOT
from omegaconf import OmegaConf

from honeybee.data.batching import EpochShuffleSampler, ResumableBatchSampler
from honeybee.training.strategies import CPUDeepSpeedStrategy, build_strategy, wants_cpu


def _strategy(name: str):
    return OmegaConf.load(ROOT / "conf" / "strategy" / f"{name}.yaml")


def test_cpu_accelerator_selects_the_cpu_deepspeed_path():
    pytest.importorskip("deepspeed")
    from lightning.pytorch.strategies import DeepSpeedStrategy

    cpu = build_strategy(_strategy("deepspeed_stage3_offload"), "cpu", micro_batch_size=4)
    assert isinstance(cpu, CPUDeepSpeedStrategy)
    zero = cpu.config["zero_optimization"]
    assert zero["stage"] == 3 and zero["offload_optimizer"]["device"] == "cpu"
    assert cpu.exclude_frozen_parameters and cpu._process_group_backend == "gloo"
    gpu = build_strategy(_strategy("deepspeed_stage2"), "gpu")
    assert type(gpu) is DeepSpeedStrategy and gpu.exclude_frozen_parameters
    assert wants_cpu("cpu") and not wants_cpu("gpu") and not wants_cpu("cuda")
    assert build_strategy(_strategy("auto"), "cpu") == "auto"


def _batches(sampler: ResumableBatchSampler) -> list[list[int]]:
    return [list(b) for b in sampler]


@pytest.mark.parametrize("n,batch,world", [(20, 4, 2), (22, 4, 2), (17, 3, 3)])
def test_ranks_get_alternate_single_process_batches_in_equal_numbers(n, batch, world):
    single = _batches(ResumableBatchSampler(EpochShuffleSampler(n, seed=7), batch))
    shards = []
    for rank in range(world):
        s = ResumableBatchSampler(EpochShuffleSampler(n, seed=7), batch)
        s.shard(rank, world)
        shards.append(_batches(s))
        assert len(s) == len(shards[-1])
    assert len({len(x) for x in shards}) == 1  # every rank runs the same number of steps
    # Step k of N processes sees exactly the batches k*N .. k*N+N-1 of one process (wrapping at the end).
    for k in range(len(shards[0])):
        for rank in range(world):
            assert shards[rank][k] == single[(k * world + rank) % len(single)]


def test_sharded_sampler_resumes_mid_epoch_on_its_own_shard():
    s = ResumableBatchSampler(EpochShuffleSampler(24, seed=1), 4)
    s.shard(1, 2)
    full = _batches(s)
    s.skip = 2
    assert _batches(s) == full[2:]

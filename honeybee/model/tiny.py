"""A tiny random-init Llama with a byte-level BPE tokenizer trained offline: fast, deterministic test model."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from honeybee.utils.io import atomic_dir

# The BPE merges are learned from this text; any other text still tokenizes (byte fallback), just longer.
_CORPUS = """Below is an instruction that describes a task, paired with an input that provides further context.
Write a response that appropriately completes the request.
### Instruction:
### Input:
### Response:
What is the band gap of the given material? Tell me the density of the given material.
Given the material, what is its melting point? Is the given material a metal? Yes No
silicon germanium gallium arsenide copper aluminium iron oxide nitride carbide titanium zinc
The band gap is 1.12 eV. The density is 2.33 g/cm^3. The melting point is 1687 K.
metal semiconductor insulator fcc bcc hcp diamond cubic rock salt perovskite wurtzite zinc blende
We present results of magnetic susceptibility and thermal expansion measurements of thin films,
crystals, alloys and composites; the structure, conductivity and synthesis of the samples are discussed.
0 1 2 3 4 5 6 7 8 9 . , ; : ? ! ( ) [ ] - + = % / ^ _ $ { } < > "
"""

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<pad>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_tokenizer(vocab_size: int = 512) -> Any:
    """Train a byte-level BPE on the built-in corpus and wrap it as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([_CORPUS] * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<pad>", bos_token=None, unk_token=None
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def ensure_tiny_model(cfg: Any) -> Path:
    """Create (once) the tiny model folder for ``cfg`` under the cache and return its path.

    The folder name carries a hash of the architecture settings and seed, so a changed config never reuses a
    stale model.
    """
    from transformers import LlamaConfig, LlamaForCausalLM

    from honeybee.utils.paths import cache_dir

    arch: dict[str, Any] = {
        "hidden_size": int(cfg.get("hidden_size", 64)),
        "num_hidden_layers": int(cfg.get("num_layers", 2)),
        "num_attention_heads": int(cfg.get("num_heads", 4)),
        "num_key_value_heads": int(cfg.get("num_kv_heads", 2)),
        "intermediate_size": int(cfg.get("intermediate_size", 128)),
        "vocab_size": int(cfg.get("vocab_size", 512)),
        "max_position_embeddings": int(cfg.get("max_position_embeddings", 1024)),
        "initializer_range": float(cfg.get("initializer_range", 0.02)),
        "seed": int(cfg.get("init_seed", 0)),
    }
    key = hashlib.sha256(json.dumps(arch, sort_keys=True).encode()).hexdigest()[:10]
    out = cache_dir() / "models" / f"tiny_llama-{key}"
    if (out / "config.json").exists():
        return out
    tok = build_tokenizer(arch["vocab_size"])
    seed = arch.pop("seed")
    config = LlamaConfig(
        **{**arch, "vocab_size": len(tok)},
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        bos_token_id=None,
        tie_word_embeddings=False,
        rms_norm_eps=1e-5,
    )
    gen = torch.random.fork_rng()
    with gen:
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    with atomic_dir(out) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
    return out

"""Finetune a model: `python train.py [group=option ...] [key=value ...]` (see README and conf/train.yaml)."""

from honeybee.cli import train

if __name__ == "__main__":
    train()

"""Small typed helpers over OmegaConf config nodes."""

from __future__ import annotations

from typing import Any, cast


def to_dict(node: Any, resolve: bool = True) -> dict[str, Any]:
    """A mapping config node as a plain ``dict`` (``OmegaConf.to_container``, checked to be a mapping).

    Raises:
        TypeError: ``node`` is not a mapping (a list or a scalar).
    """
    from omegaconf import OmegaConf

    out = OmegaConf.to_container(node, resolve=resolve)
    if not isinstance(out, dict):
        raise TypeError(f"expected a config mapping, got {type(out).__name__}")
    return cast(dict[str, Any], out)  # honeybee's config keys are strings

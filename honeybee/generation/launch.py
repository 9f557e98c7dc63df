"""Start the generate entry point with ``serve=true`` as a separate process and wait until it answers.

Used by the tests, the curation loop recipe and the generation benchmark, which all need a real server on
127.0.0.1 and must never leave one running. It runs ``python -m honeybee generate``, so it works from an
installed package as from a checkout.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from honeybee.utils.paths import checkout_root


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served(
    overrides: list[str],
    log_file: str | Path,
    port: int | None = None,
    env: dict[str, str] | None = None,
    timeout_s: float = 300,
    cwd: str | Path | None = None,
) -> Iterator[str]:
    """Serve with ``overrides`` (as ``generate.py serve=true``); yield the ``/v1`` base URL once it answers.

    Args:
        overrides: generate.py overrides (model, adapter, served_model_name, ...).
        log_file: Where the server's stdout and stderr go (its tail is in the error if it fails to start).
        port: The port; a free one when None.
        env: Extra environment variables for the server (e.g. ``OMP_NUM_THREADS``).
        timeout_s: How long start-up (model loading) may take.
        cwd: The server's working directory (where relative paths and ``outputs/`` are); default: the
            checkout honeybee runs from, else the current directory.

    Raises:
        RuntimeError: The server exited or did not answer in time.
    """
    port = port or free_port()
    url = f"http://127.0.0.1:{port}/v1"
    log_file = Path(log_file)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "honeybee", "generate", *overrides, "serve=true", f"port={port}"]
    with open(log_file, "w") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=cwd or checkout_root() or Path.cwd(),
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                urllib.request.urlopen(f"{url}/models", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = log_file.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"the server at {url} did not start:\n{tail}") from None
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

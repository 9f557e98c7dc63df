"""Read back an offline W&B run (``wandb/offline-run-*/run-*.wandb``) without syncing it anywhere.

wandb >= 0.19 writes the run as a LevelDB-style log of protobuf ``Record`` messages and no longer ships a
Python reader, so tests parse it here: a 7-byte file header, then 32 KiB blocks of chunks (4-byte CRC, 2-byte
length, 1-byte type: full / first / middle / last).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

BLOCK = 32 * 1024
HEADER = 7
CHUNK = 7


def _payloads(data: bytes) -> list[bytes]:
    assert data[:4] == b":W&B", "not a W&B transaction log"
    out, pending, pos = [], b"", HEADER
    while pos + CHUNK <= len(data):
        left = BLOCK - pos % BLOCK
        if left < CHUNK:  # block trailer padding
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + CHUNK])
        body = data[pos + CHUNK : pos + CHUNK + length]
        pos += CHUNK + length
        if kind == 0 and length == 0:
            continue
        if kind == 1:
            out.append(body)
        elif kind == 2:
            pending = body
        elif kind == 3:
            pending += body
        elif kind == 4:
            out.append(pending + body)
            pending = b""
    return out


def read_offline_run(run_dir: str | Path) -> dict[str, Any]:
    """``{"name", "group", "job_type", "tags", "config", "history", "summary", "exit_code"}`` of one offline run."""
    from wandb.proto import wandb_internal_pb2 as pb

    files = list(Path(run_dir).glob("run-*.wandb"))
    assert len(files) == 1, f"expected one run-*.wandb in {run_dir}: {files}"
    run: dict[str, Any] = {"config": {}, "history": [], "summary": {}, "exit_code": None}
    for payload in _payloads(files[0].read_bytes()):
        r = pb.Record()
        r.ParseFromString(payload)
        kind = r.WhichOneof("record_type")
        if kind == "run":
            run.update(
                name=r.run.display_name, group=r.run.run_group, job_type=r.run.job_type, tags=list(r.run.tags)
            )
            run["config"].update({i.key: json.loads(i.value_json) for i in r.run.config.update})
        elif kind == "config":
            run["config"].update({i.key: json.loads(i.value_json) for i in r.config.update})
        elif kind == "history":
            run["history"].append(
                {i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in r.history.item}
            )
        elif kind == "summary":
            run["summary"].update(
                {i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in r.summary.update}
            )
        elif kind == "exit":
            run["exit_code"] = r.exit.exit_code
    return run

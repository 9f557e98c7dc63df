"""LLM backends for the curation roles: any OpenAI-compatible endpoint, Anthropic, or an in-process model.

Each backend turns a chat ``messages`` list into a ``Reply``. Errors are sorted into ``TransientError`` (worth
retrying: 429, 5xx, timeouts, dropped connections, bodies that are not the JSON the SDK expects) and
``BackendError`` (retrying cannot help: bad key, unknown model, 4xx). The SDKs' own retries are switched off
(``max_retries=0``) so that one policy (``honeybee.curation.client``) retries every backend alike and counts
each retry; API keys are read from the environment variable the config names and never stored.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from typing import Any

from honeybee.curation.batching import PromptBatcher
from honeybee.utils.errors import ConfigError, HoneybeeError

log = logging.getLogger(__name__)
# Every request would otherwise be logged at INFO by httpx; curation makes hundreds.
logging.getLogger("httpx").setLevel(logging.WARNING)

BACKEND_TYPES = ("openai", "anthropic", "local")


class BackendError(HoneybeeError):
    """A call that retrying cannot fix (rejected key, unknown model, unreachable endpoint at start-up)."""


class TransientError(Exception):
    """A call that may succeed when repeated (rate limit, server error, timeout, malformed body).

    Attributes:
        kind: ``rate_limit``, ``server_error``, ``timeout``, ``connection`` or ``bad_body`` (for the counts).
        retry_after: Seconds the server asked us to wait (``Retry-After``), if it said.
    """

    def __init__(self, kind: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after


@dataclass
class Reply:
    """A model's answer and the token counts the server reported (None when it reported none)."""

    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None


def _retry_after(response: Any) -> float | None:
    try:
        value = response.headers.get("retry-after")
        return None if value is None else max(0.0, float(value))
    except (AttributeError, TypeError, ValueError):
        return None


def _api_key(env_name: str | None, required: bool, what: str) -> str | None:
    key = os.environ.get(str(env_name)) if env_name else None
    if not key and required:
        raise BackendError(f"{what}: the API key variable ${env_name} is not set (api_key_env)")
    return key


class Backend:
    """Base class. ``describe()`` is what goes into provenance and cache keys: never a key, never a URL secret."""

    type: str = ""

    def __init__(self, cfg: Any, role: str) -> None:
        self.cfg = cfg
        self.role = role
        self.model = str(cfg.get("model") or "")
        if not self.model:
            raise ConfigError(f"{role}.model is required (the model id at the {self.type} backend)")

    def describe(self) -> dict[str, str]:
        return {"backend": self.type, "model": self.model}

    def check(self) -> None:
        """A cheap start-up probe so that a dead endpoint fails in seconds, before any work."""

    def complete(
        self, messages: list[dict[str, str]], max_tokens: int, temperature: float, seed: int | None
    ) -> Reply:
        raise NotImplementedError

    def close(self) -> None:
        """Release what the backend holds (threads); the round calls it when done."""


class _SdkBackend(Backend):
    """Shared error handling for the two SDKs: ``openai`` and ``anthropic`` raise the same exception classes."""

    where: str = ""

    def _probe(self, sdk: Any, call: Any) -> None:
        """Run a start-up probe; an unreachable endpoint or a refused key is fatal, other answers are not."""
        try:
            call()
        except sdk.APIConnectionError as e:
            raise BackendError(
                f"{self.role} endpoint {self.where} is unreachable ({e.__cause__ or e})"
            ) from None
        except sdk.AuthenticationError:
            raise BackendError(
                f"{self.role} endpoint {self.where} refused the API key (set ${self.cfg.get('api_key_env')})"
            ) from None
        except sdk.APIError as e:  # some servers have no models list; the first real call will tell
            log.warning("%s endpoint %s: the models list answered %s; going on", self.role, self.where, e)

    def _call(self, sdk: Any, call: Any) -> Any:
        """Run one request, sorting the SDK's exceptions into transient (retried) and fatal ones."""
        try:
            return call()
        except sdk.RateLimitError as e:
            raise TransientError("rate_limit", str(e), _retry_after(e.response)) from None
        except sdk.InternalServerError as e:
            raise TransientError("server_error", str(e), _retry_after(e.response)) from None
        except sdk.APITimeoutError as e:
            raise TransientError("timeout", str(e)) from None
        except sdk.APIConnectionError as e:
            raise TransientError("connection", str(e.__cause__ or e)) from None
        except sdk.APIResponseValidationError as e:
            raise TransientError("bad_body", str(e)) from None
        except sdk.APIStatusError as e:
            if e.status_code == 529 or e.status_code >= 500:  # 529: Anthropic's "overloaded"
                raise TransientError("server_error", str(e), _retry_after(e.response)) from None
            raise BackendError(
                f"{self.role} endpoint {self.where} answered {e.status_code}: {e.message}"
            ) from None
        except ValueError as e:  # a 200 whose body is not JSON (truncated, HTML error page)
            raise TransientError("bad_body", f"unreadable response body: {e}") from None


class OpenAIBackend(_SdkBackend):
    """Any OpenAI-compatible endpoint through the official ``openai`` SDK (OpenAI, vLLM, ``generate.py serve``)."""

    type = "openai"

    def __init__(self, cfg: Any, role: str) -> None:
        super().__init__(cfg, role)
        import openai

        base_url = cfg.get("base_url") or None
        # A hosted endpoint needs a key; a local server (base_url given) accepts any.
        key = _api_key(cfg.get("api_key_env"), required=base_url is None, what=f"{role} (openai)")
        self.client = openai.OpenAI(
            base_url=base_url, api_key=key or "none", timeout=float(cfg.get("timeout_s", 60)), max_retries=0
        )
        self.where = str(self.client.base_url).rstrip("/")

    def check(self) -> None:
        import openai

        self._probe(openai, self.client.models.list)

    def complete(
        self, messages: list[dict[str, str]], max_tokens: int, temperature: float, seed: int | None
    ) -> Reply:
        import openai

        kw: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        if seed is not None and temperature > 0:
            kw["seed"] = seed
        r = self._call(openai, lambda: self.client.chat.completions.create(**kw))
        choices = getattr(r, "choices", None)
        if not choices or getattr(choices[0], "message", None) is None:
            raise TransientError("bad_body", "response has no choices[0].message")
        usage = getattr(r, "usage", None)
        return Reply(
            choices[0].message.content or "",
            getattr(usage, "prompt_tokens", None),
            getattr(usage, "completion_tokens", None),
            choices[0].finish_reason,
        )


class AnthropicBackend(_SdkBackend):
    """Claude through the ``anthropic`` SDK (HoneyBee's Verifier was Claude)."""

    type = "anthropic"

    def __init__(self, cfg: Any, role: str) -> None:
        super().__init__(cfg, role)
        import anthropic

        key = _api_key(cfg.get("api_key_env"), required=not cfg.get("base_url"), what=f"{role} (anthropic)")
        self.client = anthropic.Anthropic(
            api_key=key or "none",
            base_url=cfg.get("base_url") or None,
            timeout=float(cfg.get("timeout_s", 60)),
            max_retries=0,
        )
        self.where = str(self.client.base_url).rstrip("/")

    def check(self) -> None:
        import anthropic

        self._probe(anthropic, lambda: self.client.models.list(limit=1))

    def complete(
        self, messages: list[dict[str, str]], max_tokens: int, temperature: float, seed: int | None
    ) -> Reply:
        import anthropic

        system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
        turns = [m for m in messages if m["role"] != "system"]
        # anthropic>=2 no longer takes `temperature` (recent Claude models fix it); send it only if asked.
        kw: dict[str, Any] = {"model": self.model, "messages": turns, "max_tokens": max_tokens}
        if self.cfg.get("send_temperature"):
            kw["extra_body"] = {"temperature": temperature}
        if system:
            kw["system"] = system
        r = self._call(anthropic, lambda: self.client.messages.create(**kw))
        content = getattr(r, "content", None)
        if content is None:
            raise TransientError("bad_body", "response has no content")
        text = "".join(getattr(b, "text", "") for b in content if getattr(b, "type", None) == "text")
        usage = getattr(r, "usage", None)
        return Reply(
            text,
            getattr(usage, "input_tokens", None),
            getattr(usage, "output_tokens", None),
            getattr(r, "stop_reason", None),
        )


class LocalBackend(Backend):
    """A honeybee model in this process (base model or any stage's adapter), loaded on first use.

    With ``batch_size`` > 1 the role's concurrent calls (``concurrency`` of them) are gathered by a
    :class:`~honeybee.curation.batching.PromptBatcher` into engine batches of up to ``batch_size`` prompts;
    greedy answers are those of one-at-a-time generation. ``batch_size: 1`` generates each call alone. One lock,
    shared by every local backend, keeps two roles' models from generating at the same time (they would only
    contend for the same cores).
    """

    type = "local"
    _lock = threading.Lock()

    def __init__(self, cfg: Any, role: str) -> None:
        if not cfg.get("model"):
            cfg = {**dict(cfg), "model": str(cfg.get("adapter") or cfg.get("base_model") or "")}
        super().__init__(cfg, role)
        self.batch_size = max(1, int(cfg.get("batch_size") or 1))
        self.batch_wait_s = float(cfg.get("batch_wait_s") or 0.0)
        self._generator: Any = None  # a Generator, loaded on first use
        self._load_lock = threading.Lock()  # concurrent first calls load the model once
        self._batcher: PromptBatcher | None = None
        if self.batch_size > 1:
            self._batcher = PromptBatcher(
                self._run_batch, self.batch_size, self.batch_wait_s, f"hb-{role}-batch"
            )

    def _load(self) -> Any:
        with self._load_lock:
            if self._generator is None:
                from omegaconf import OmegaConf

                from honeybee.generation.generator import Generator
                from honeybee.generation.source import MODEL_CONF_DIR, resolve_source

                # With an adapter its own base model is used (conf/backend/local.yaml): a base_model left at
                # its default must not be checked against an adapter trained on another base.
                base = None if self.cfg.get("adapter") else self.cfg.get("base_model")
                model_cfg = None
                if base:
                    p = MODEL_CONF_DIR / f"{base}.yaml"
                    if not p.is_file():
                        raise ConfigError(f"{self.role}.base_model={base}: no conf/model/{base}.yaml")
                    model_cfg = OmegaConf.load(p)
                source = resolve_source(
                    self.cfg.get("adapter"), model_cfg, self.cfg.get("log_dir") or "outputs"
                )
                self._generator = Generator.load(
                    source, self.cfg.get("prompt_style"), str(self.cfg.get("device", "cpu"))
                )
        return self._generator

    def check(self) -> None:
        self._load()

    def _run_batch(self, requests: list[Any], sampling: Any) -> list[Any]:
        gen = self._load()
        with self._lock:
            return list(gen.complete(requests, sampling, batch_size=max(self.batch_size, len(requests))))

    def complete(
        self, messages: list[dict[str, str]], max_tokens: int, temperature: float, seed: int | None
    ) -> Reply:
        from honeybee.generation.engine import Request, Sampling

        gen = self._load()
        # A greedy call's seed means nothing; dropping it lets greedy calls share batches.
        hot = temperature > 0
        sampling = Sampling(do_sample=hot, temperature=temperature or 1.0, seed=seed if hot else None)
        request = Request(gen.chat_prompt(messages), max_tokens, gen.stops)
        if self._batcher is not None:
            c = self._batcher.complete(request, sampling)
        else:
            c = self._run_batch([request], sampling)[0]
        return Reply(
            c.text, getattr(c, "prompt_tokens", None), getattr(c, "completion_tokens", None), c.finish_reason
        )

    def close(self) -> None:
        if self._batcher is not None:
            self._batcher.close()


def make_backend(cfg: Any, role: str) -> Backend:
    """The backend a role's config names (``<role>.type``).

    Raises:
        ConfigError: an unknown type or a missing model.
    """
    kind = str(cfg.get("type") or "")
    classes = {"openai": OpenAIBackend, "anthropic": AnthropicBackend, "local": LocalBackend}
    if kind not in classes:
        raise ConfigError(f"{role}.type={kind!r} is not a backend (choose from: {', '.join(BACKEND_TYPES)})")
    return classes[kind](cfg, role)

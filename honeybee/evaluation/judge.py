"""HoneyBee's instruction evaluation: a judge LLM behind any OpenAI-compatible endpoint scores each answer.

The prompt is a config file (``conf/judge_prompt/*.yaml``); the API key is read from the environment variable
named in the config and is never logged or written anywhere.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from honeybee.utils.errors import HoneybeeError

log = logging.getLogger(__name__)
# httpx logs every request at INFO; hundreds of judge calls would bury the evaluation's own log lines.
logging.getLogger("httpx").setLevel(logging.WARNING)

_SCORE = r"(-?\d+(?:\.\d+)?)"


class JudgeError(HoneybeeError):
    """The judge endpoint cannot be used (unreachable, refused the key, unknown model)."""


def render(template: str, **fields: str) -> str:
    """Fill ``{name}`` placeholders; other braces (a JSON example in the prompt) are left alone."""
    for k, v in fields.items():
        template = template.replace("{" + k + "}", v)
    return template


def _json_objects(text: str) -> list[Any]:
    """Every JSON object embedded in ``text`` (models wrap them in prose or ``` fences)."""
    dec, out, i = json.JSONDecoder(), [], text.find("{")
    while i != -1:
        try:
            obj, end = dec.raw_decode(text, i)
            out.append(obj)
            i = text.find("{", end)
        except json.JSONDecodeError:
            i = text.find("{", i + 1)
    return out


def parse_judge_reply(text: str, criteria: Sequence[str]) -> dict[str, float] | None:
    """Scores (0-100) for every criterion from a judge's reply, or None when it cannot be read.

    A JSON object naming every criterion wins (case-insensitive keys); otherwise each criterion must appear as
    ``name: score`` (or ``name = score``, ``**Name**: score``). A reply missing a criterion, or with a score
    outside 0-100, is unreadable: judges that wander off-format are counted as failures, not guessed at.
    """
    for obj in _json_objects(text):
        if isinstance(obj, dict):
            low = {str(k).lower(): v for k, v in obj.items()}
            if all(c in low for c in criteria):
                try:
                    scores = {c: float(low[c]) for c in criteria}
                except (TypeError, ValueError):
                    continue
                return scores if all(0 <= s <= 100 for s in scores.values()) else None
    scores = {}
    for c in criteria:
        m = re.search(rf"\b{re.escape(c)}\b\W{{0,4}}[:=]\s*\**\s*{_SCORE}", text, re.IGNORECASE)
        if m is None:
            return None
        scores[c] = float(m.group(1))
    return scores if all(0 <= s <= 100 for s in scores.values()) else None


@dataclass
class JudgeSettings:
    """Where the judge is and how to call it (``eval_task.judge`` in conf/evaluate.yaml)."""

    model: str
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    timeout_s: float = 60.0
    max_retries: int = 2
    concurrency: int = 4
    max_tokens: int = 256
    temperature: float = 0.0


class Judge:
    """Calls the judge model with the configured prompt; one instance per evaluation."""

    def __init__(self, settings: JudgeSettings, prompt: Any) -> None:
        import openai

        self.settings = settings
        self.system = str(prompt.get("system") or "")
        self.user = str(prompt.user)
        self.criteria = [str(c) for c in prompt.criteria]
        key = os.environ.get(settings.api_key_env)
        if not key:
            # Local OpenAI-compatible servers need no key; a hosted one answers 401 and check() names the var.
            log.warning("$%s is not set; calling the judge without an API key", settings.api_key_env)
        self.client = openai.OpenAI(
            base_url=settings.base_url,
            api_key=key or "none",
            timeout=settings.timeout_s,
            max_retries=settings.max_retries,
        )

    @property
    def where(self) -> str:
        return str(self.client.base_url).rstrip("/")

    def check(self) -> None:
        """One tiny request before any answer is generated, so a dead endpoint fails in seconds.

        Raises:
            JudgeError: the endpoint is unreachable, rejects the key, or does not know the model.
        """
        import openai

        try:
            self.client.with_options(max_retries=0).chat.completions.create(
                model=self.settings.model, messages=[{"role": "user", "content": "Reply OK."}], max_tokens=1
            )
        except openai.APIConnectionError as e:
            raise JudgeError(f"judge endpoint {self.where} is unreachable ({e.__cause__ or e})") from None
        except openai.AuthenticationError:
            raise JudgeError(
                f"judge endpoint {self.where} refused the API key: set "
                f"${self.settings.api_key_env} (eval_task.judge.api_key_env)"
            ) from None
        except openai.APIStatusError as e:
            raise JudgeError(
                f"judge endpoint {self.where} answered {e.status_code} for model "
                f"{self.settings.model!r}: {e.message}"
            ) from None

    def messages(self, instruction: str, input: str, reference: str, answer: str) -> list[dict[str, str]]:
        user = render(
            self.user, instruction=instruction, input=input or "(none)", reference=reference, answer=answer
        )
        return ([{"role": "system", "content": self.system}] if self.system else []) + [
            {"role": "user", "content": user}
        ]

    def ask(self, messages: list[dict[str, str]]) -> tuple[str | None, str | None]:
        """``(reply, error)``: a request that still fails after the SDK's retries is an error, not a crash."""
        import openai

        try:
            r = self.client.chat.completions.create(
                model=self.settings.model,
                # Plain role/content dicts: the SDK accepts them, its TypedDicts want literal role types.
                messages=messages,  # type: ignore[arg-type]
                max_tokens=self.settings.max_tokens,
                temperature=self.settings.temperature,
            )
            return r.choices[0].message.content or "", None
        except openai.APIError as e:
            return None, f"{type(e).__name__}: {e}"

    def score_all(self, items: list[list[dict[str, str]]]) -> list[tuple[str | None, str | None]]:
        """Ask for every item, ``concurrency`` requests at a time (a batching server answers them at once)."""
        with ThreadPoolExecutor(max(1, self.settings.concurrency)) as pool:
            return list(pool.map(self.ask, items))

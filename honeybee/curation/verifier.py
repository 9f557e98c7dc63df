"""The Verifier: scores each record 0-100 on four criteria and keeps those passing HoneyBee's rule.

The rule itself is ``honeybee.data.verifier.passes`` (the same one ``data=matsci_instruct`` applies when it
loads scored records), so a round kept here loads unchanged with the same thresholds. An optional second
filter is a SciGLM-style quality classifier (TF-IDF + logistic regression) trained on the SciGLM
"data classifier" files in ``../shared/data/sciinstruct``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from honeybee.curation.budget import BudgetExhausted
from honeybee.curation.client import CallFailed, LLMClient, chat
from honeybee.data.verifier import passes
from honeybee.evaluation.judge import parse_judge_reply, render
from honeybee.utils.errors import ConfigError, DataError

log = logging.getLogger(__name__)


def score_with_repair(
    client: LLMClient,
    messages: list[dict[str, str]],
    criteria: list[str],
    repair: str,
    max_repairs: int,
    max_tokens: int,
    counts: Counter,
) -> dict[str, float] | None:
    """Scores from a judge-style reply, asking again (counted) when the reply cannot be read.

    Raises:
        BudgetExhausted, CallFailed: from the client.
    """
    reply = client.call(messages, max_tokens, 0.0)
    scores = parse_judge_reply(reply, criteria)
    if scores is not None:
        counts["parsed_first_try"] += 1
        return scores
    for _ in range(max_repairs):
        counts["repair_requests"] += 1
        messages = messages + [{"role": "assistant", "content": reply}, {"role": "user", "content": repair}]
        reply = client.call(messages, max_tokens, 0.0)
        scores = parse_judge_reply(reply, criteria)
        if scores is not None:
            counts["repaired"] += 1
            return scores
    counts["unreadable"] += 1
    return None


class JudgeRole:
    """What the Verifier and the Evaluator share: a judge-style prompt set, scored with counted repairs.

    Args:
        client: The role's LLM access.
        prompts: The role's prompts (``user``, optional ``system``, ``repair``, ``criteria``).
        max_tokens: Reply length.
        max_repairs: How many times an unreadable reply is answered with the ``repair`` prompt.
    """

    def __init__(self, client: LLMClient, prompts: Any, max_tokens: int, max_repairs: int) -> None:
        self.client, self.prompts = client, prompts
        self.criteria = [str(c) for c in prompts.criteria]
        self.max_tokens, self.max_repairs = int(max_tokens), int(max_repairs)
        self.counts: Counter[str] = Counter()

    def _score(self, messages: list[dict[str, str]]) -> tuple[dict[str, float] | None, str | None]:
        """``(scores, None)``; ``(None, None)`` when the replies stayed unreadable; ``(None, why)`` when a call
        failed (``why`` is ``"budget"`` or the error)."""
        try:
            scores = score_with_repair(
                self.client,
                messages,
                self.criteria,
                str(self.prompts.repair),
                self.max_repairs,
                self.max_tokens,
                self.counts,
            )
        except BudgetExhausted:
            return None, "budget"
        except CallFailed as e:
            log.warning("%s: %s", self.client.role, e)
            return None, str(e)
        return scores, None


@dataclass
class Verdict:
    scores: dict[str, float] | None
    kept: bool
    failed: list[str]  # "mean", criteria below min_each, "unscored", "classifier", "budget", "error"
    quality: float | None = None


class Verifier(JudgeRole):
    """Scores and filters records with one ``LLMClient`` and the ``verifier`` prompts."""

    def __init__(
        self,
        client: LLMClient,
        prompts: Any,
        min_mean: float = 95.0,
        min_each: float = 90.0,
        max_tokens: int = 128,
        max_repairs: int = 1,
        classifier: QualityClassifier | None = None,
        min_quality: float = 0.5,
    ) -> None:
        super().__init__(client, prompts, max_tokens, max_repairs)
        self.min_mean, self.min_each = float(min_mean), float(min_each)
        self.classifier, self.min_quality = classifier, float(min_quality)

    def messages(self, rec: dict[str, Any]) -> list[dict[str, str]]:
        user = render(
            str(self.prompts.user),
            instruction=rec["instruction"],
            input=rec.get("input") or "(none)",
            output=rec["output"],
        )
        return chat(self.prompts, user)

    def verify(self, rec: dict[str, Any]) -> Verdict:
        scores, why = self._score(self.messages(rec))
        if why is not None:
            return Verdict(None, False, ["budget" if why == "budget" else "error"])
        if scores is None:
            return Verdict(None, False, ["unscored"])
        ok, failed = passes(scores, self.min_mean, self.min_each)
        quality = None
        if self.classifier is not None:
            quality = self.classifier.prob(rec["instruction"] + "\n" + rec.get("input", ""), rec["output"])
            if quality < self.min_quality:
                failed = failed + ["classifier"]
                ok = False
        return Verdict(scores, ok, failed, quality)


class QualityClassifier:
    """SciGLM's data classifier idea, kept small and CPU-fast: P(answer is acceptable | question + answer).

    Character n-gram TF-IDF (the SciGLM files are mostly Chinese, where word tokens do not work) and a logistic
    regression, trained on one file and scored on another. The fitted model is cached by the training files'
    hashes under ``cache_dir``.
    """

    def __init__(self, pipeline: Any, metrics: dict[str, Any]) -> None:
        self.pipeline, self.metrics = pipeline, metrics

    @staticmethod
    def _load(path: Path) -> tuple[list[str], list[int]]:
        if not path.is_file():
            raise DataError(f"quality classifier data not found: {path}")
        texts, labels = [], []
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                texts.append(str(obj["prompt_answer"]))
                labels.append(int(obj["label"]))
            except (ValueError, KeyError, TypeError):
                raise DataError(f'{path}: line {i + 1}: expected {{"prompt_answer", "label"}}') from None
        return texts, labels

    @classmethod
    def train(
        cls,
        train_file: str | Path,
        test_file: str | Path | None,
        cache_dir: str | Path | None,
        max_features: int = 50000,
    ) -> QualityClassifier:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import accuracy_score, roc_auc_score
        from sklearn.pipeline import make_pipeline

        train_file = Path(train_file)
        files = [train_file] + ([Path(test_file)] if test_file else [])
        for f in files:
            if not f.is_file():
                raise DataError(f"quality classifier data not found: {f}")
        h = hashlib.sha256()
        for f in files:
            h.update(f.read_bytes())
        h.update(f"v1:{max_features}".encode())
        cached = Path(cache_dir) / f"quality_{h.hexdigest()[:16]}.pkl" if cache_dir else None
        if cached is not None and cached.is_file():
            with open(cached, "rb") as fh:
                pipe, cached_metrics = pickle.load(fh)  # our own artifact, written below
            return cls(pipe, cached_metrics)
        x, y = cls._load(train_file)
        if len(set(y)) < 2:
            raise DataError(f"{train_file}: the classifier needs both labels 0 and 1")
        pipe = make_pipeline(
            TfidfVectorizer(
                analyzer="char_wb", ngram_range=(2, 4), max_features=max_features, sublinear_tf=True
            ),
            LogisticRegression(max_iter=1000, class_weight="balanced"),
        )
        pipe.fit(x, y)
        metrics: dict[str, Any] = {"train_file": str(train_file), "n_train": len(x)}
        if test_file:
            xt, yt = cls._load(Path(test_file))
            p = pipe.predict_proba(xt)[:, 1]
            metrics.update(
                test_file=str(test_file),
                n_test=len(xt),
                test_accuracy=round(float(accuracy_score(yt, p >= 0.5)), 4),
                test_auc=round(float(roc_auc_score(yt, p)), 4) if len(set(yt)) > 1 else None,
                majority_baseline=round(max(sum(yt), len(yt) - sum(yt)) / len(yt), 4),
            )
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_name(f".{cached.name}.{os.getpid()}.tmp")
            tmp.write_bytes(pickle.dumps((pipe, metrics)))
            os.replace(tmp, cached)
        log.info("quality classifier: %s", metrics)
        return cls(pipe, metrics)

    def prob(self, question: str, answer: str) -> float:
        # SciGLM's prompt_answer is the question immediately followed by the answer.
        return float(self.pipeline.predict_proba([question + answer])[0, 1])


def make_classifier(cfg: Any, cache_dir: str | Path | None) -> QualityClassifier | None:
    if not cfg or not cfg.get("enabled", False):
        return None
    if not cfg.get("train_file"):
        raise ConfigError("verifier_classifier.train_file is required when the classifier is enabled")
    return QualityClassifier.train(
        cfg.train_file, cfg.get("test_file"), cache_dir, int(cfg.get("max_features", 50000))
    )

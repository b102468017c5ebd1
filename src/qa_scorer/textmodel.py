"""Small text classifiers that judge one utterance: "does this say sorry?", "is this a complaint?".

A model is a logistic regression over the character n-grams of an utterance's *normalised* text
(the same normalisation the rubric's phrases go through: simplified, no punctuation, 您→你,
quantities as digits), plus one feature for a question mark in the original text. It is stored
as a plain JSON file: an n-gram → weight table, a bias and a default threshold. Loading parses
and validates that JSON and nothing else, so a model file can never execute code; scoring an
utterance is a dictionary walk, fast enough to run on every segment of every call.

Training (``train``) uses scikit-learn, imported only there; scoring needs nothing beyond the
standard library. Feature extraction is :func:`features`, shared by both, so a trained model
scores exactly as it did when it was measured.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Literal, Optional, Sequence

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from qa_scorer.normalize import normalize

__all__ = ["TextModel", "ModelError", "features", "load_model", "builtin_models", "BUILTIN_DIR", "fit", "cross_validate", "read_examples"]

FORMAT = "qa-scorer.text-classifier"
BUILTIN_DIR = Path(__file__).parent / "data" / "models"
MAX_MODEL_BYTES = 32 * 1024 * 1024
# Only the first this-many normalised characters of an utterance are looked at: bounded work
# whatever a transcript holds (a real utterance is far shorter).
MAX_CHARS = 2000
QUESTION = "\x00?"  # the feature for a question mark in the original text


class ModelError(Exception):
    """A model file that cannot be used; the message names the file."""


class FeatureSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ngram_min: int = Field(default=1, ge=1, le=6)
    ngram_max: int = Field(default=3, ge=1, le=6)
    # "l2": the n-gram vector is scaled to unit length (1/sqrt of the number of distinct n-grams).
    norm: Literal["l2", "none"] = "l2"
    # 1: the other speaker's utterance just before also contributes its n-grams (marked "<"), so
    # a bare "是的" answering "今晚能到吗" reads as the commitment it is.
    context: int = Field(default=0, ge=0, le=1)
    context_ngram_max: int = Field(default=2, ge=1, le=4)


class ModelFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: Literal["qa-scorer.text-classifier"]
    version: Literal[1]
    name: str = Field(min_length=1, max_length=80)
    description: str = ""
    speaker: Optional[Literal["agent", "customer", "any"]] = None
    features: FeatureSpec = Field(default_factory=FeatureSpec)
    bias: float
    threshold: float = Field(default=0.5, gt=0, lt=1)
    weights: dict[str, float]
    training: dict = Field(default_factory=dict)

    @field_validator("bias")
    @classmethod
    def _finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError("must be a finite number")
        return v

    @field_validator("weights")
    @classmethod
    def _finite_weights(cls, v: dict[str, float]) -> dict[str, float]:
        for gram, w in v.items():
            if not math.isfinite(w):
                raise ValueError(f"weight of {gram!r} must be a finite number")
            if not gram or len(gram) > 9:
                raise ValueError(f"n-gram {gram!r} must be 1 to 9 characters")
        return v


def _grams(text: str, low: int, high: int, prefix: str = "") -> set[str]:
    padded = prefix + "^" + normalize(text).text[:MAX_CHARS] + "$"
    n_len = len(padded)
    k = len(prefix)
    grams: set[str] = set()
    for n in range(low, high + 1):
        if prefix:
            grams |= {prefix + padded[i:i + n] for i in range(k, n_len - n + 1)}
        elif n == 1:
            grams |= set(padded)
        else:
            grams |= {padded[i:i + n] for i in range(n_len - n + 1)}
    grams.discard(prefix + "^")
    grams.discard(prefix + "$")
    if "?" in text or "？" in text:
        grams.add(prefix + QUESTION)
    return grams


def utterance_grams(text: str, low: int, high: int) -> set[str]:
    return _grams(text, low, high)


def context_grams(previous: str, high: int) -> set[str]:
    return _grams(previous, 1, high, "<")


def features(text: str, spec: FeatureSpec, previous: str = "") -> set[str]:
    """The distinct n-grams of one utterance (with ^ and $ marking its ends), and with
    ``spec.context`` those of the other speaker's utterance before it, marked with "<"."""
    grams = utterance_grams(text, spec.ngram_min, spec.ngram_max)
    if spec.context and previous:
        grams |= context_grams(previous, spec.context_ngram_max)
    return grams


@dataclass(frozen=True)
class TextModel:
    """A loaded model: ``probability(text)`` in [0, 1]; ``threshold`` is its default cut-off."""

    name: str
    path: str
    spec: FeatureSpec
    bias: float
    weights: dict[str, float]
    threshold: float
    speaker: Optional[str]
    description: str
    training: dict

    def logit(self, grams: set[str]) -> float:
        if not grams:
            return self.bias
        w = self.weights
        # the set intersection runs in C: only the n-grams the model knows are summed
        total = sum(map(w.__getitem__, grams & w.keys()))
        if self.spec.norm == "l2":
            total /= math.sqrt(len(grams))
        return self.bias + total

    def probability(self, text: str, previous: str = "") -> float:
        return _sigmoid(self.logit(features(text, self.spec, previous)))

    def top_features(self, text: str, k: int = 5) -> list[tuple[str, float]]:
        """The n-grams of ``text`` that pushed its score most (for explaining a judgment)."""
        grams = features(text, self.spec)
        scored = sorted(((g, self.weights.get(g, 0.0)) for g in grams), key=lambda gw: -abs(gw[1]))
        return [(g, w) for g, w in scored[:k] if w]


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def builtin_models() -> dict[str, Path]:
    """The models shipped with qa-scorer, by name."""
    if not BUILTIN_DIR.is_dir():
        return {}
    return {p.stem: p for p in sorted(BUILTIN_DIR.glob("*.json"))}


def resolve(ref: str, base_dir: Optional[Path]) -> Path:
    """Where a rubric's ``model:`` points: a shipped model's name (``apology``), or a ``.json``
    file relative to the rubric's folder, which must stay inside that folder."""
    if "/" not in ref and "\\" not in ref and not ref.endswith(".json"):
        found = builtin_models().get(ref)
        if found is None:
            names = ", ".join(builtin_models()) or "none"
            raise ModelError(f"unknown model {ref!r} (shipped models: {names}; a file must end in .json)")
        return found
    base = (base_dir or Path.cwd()).resolve()
    target = (base / ref).resolve()
    if target != base and base not in target.parents:
        raise ModelError(f"model file {ref!r} is outside the rubric's folder {base}")
    return target


def load_model(path: str | Path) -> TextModel:
    """Read and validate one model file (cached by path and modification time)."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError as exc:
        raise ModelError(f"{p}: cannot read model: {exc.strerror or exc}") from None
    return _load(str(p), st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=64)
def _load(path: str, mtime: int, size: int) -> TextModel:
    if size > MAX_MODEL_BYTES:
        raise ModelError(f"{path}: model file is {size} bytes; the limit is {MAX_MODEL_BYTES}")
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"), parse_constant=_no_constant)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ModelError(f"{path}: not a model file: {exc}") from None
    try:
        m = ModelFile.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"])
        raise ModelError(f"{path}: {where}: {first['msg']}") from None
    return TextModel(name=m.name, path=path, spec=m.features, bias=m.bias, weights=m.weights,
                     threshold=m.threshold, speaker=m.speaker, description=m.description,
                     training=m.training)


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number a model may hold")


# --------------------------------------------------------------------------------------------
# Training


@dataclass(frozen=True)
class Example:
    text: str
    label: bool
    speaker: Optional[str] = None
    source: str = ""  # file:line, for messages
    previous: str = ""  # the other speaker's utterance just before (for models with context)


def fit(examples: Sequence[Example], *, name: str, spec: Optional[FeatureSpec] = None, c: float = 4.0,
        min_df: int = 2, max_features: int = 40000, class_weight: Optional[str] = "balanced",
        threshold: Optional[float] = None, speaker: Optional[str] = None, description: str = "",
        training: Optional[dict] = None) -> dict:
    """Train a model on labelled utterances and return it as a model-file dict (JSON-ready).

    Deterministic: the same examples in the same order give the same file."""
    import numpy as np
    from scipy.sparse import csr_matrix
    from sklearn.linear_model import LogisticRegression

    spec = spec or FeatureSpec()
    labels = [bool(e.label) for e in examples]
    if len(set(labels)) < 2:
        raise ValueError("training needs both positive and negative examples")
    grams = [features(e.text, spec, e.previous) for e in examples]
    df: dict[str, int] = {}
    for gs in grams:
        for g in gs:
            df[g] = df.get(g, 0) + 1
    vocab_list = sorted(g for g, n in df.items() if n >= min_df)
    vocab = {g: i for i, g in enumerate(vocab_list)}
    rows, cols, vals = [], [], []
    for r, gs in enumerate(grams):
        scale = 1.0 / math.sqrt(len(gs)) if (spec.norm == "l2" and gs) else 1.0
        for g in gs:
            j = vocab.get(g)
            if j is not None:
                rows.append(r)
                cols.append(j)
                vals.append(scale)
    x = csr_matrix((vals, (rows, cols)), shape=(len(grams), len(vocab_list)), dtype=np.float64)
    y = np.array(labels, dtype=int)
    clf = LogisticRegression(C=c, class_weight=class_weight, solver="liblinear", max_iter=1000,
                             random_state=0)
    clf.fit(x, y)
    coef = clf.coef_[0]
    order = np.argsort(-np.abs(coef))[:max_features]
    weights = {vocab_list[j]: round(float(coef[j]), 4) for j in sorted(order) if abs(coef[j]) >= 1e-4}
    info = {"examples": len(examples), "positives": int(y.sum()), "c": c, "min_df": min_df}
    info.update(training or {})
    return {
        "format": FORMAT, "version": 1, "name": name, "description": description, "speaker": speaker,
        "features": spec.model_dump(), "bias": round(float(clf.intercept_[0]), 4),
        "threshold": threshold if threshold is not None else 0.5, "weights": weights, "training": info,
    }


def from_dict(raw: dict, path: str = "<memory>") -> TextModel:
    m = ModelFile.model_validate(raw)
    return TextModel(name=m.name, path=path, spec=m.features, bias=m.bias, weights=m.weights,
                     threshold=m.threshold, speaker=m.speaker, description=m.description, training=m.training)


def cross_validate(examples: Sequence[Example], folds: int = 5, threshold: float = 0.5, **kw) -> dict:
    """Precision, recall and F1 of ``fit`` measured by k-fold cross-validation (folds taken in
    a fixed interleaved order, so the figure is reproducible)."""
    tp = fp = fn = 0
    for f in range(folds):
        train = [e for n, e in enumerate(examples) if n % folds != f]
        test = [e for n, e in enumerate(examples) if n % folds == f]
        if not test or len({e.label for e in train}) < 2:
            continue
        m = from_dict(fit(train, name="cv", **kw))
        for e in test:
            got = m.probability(e.text, e.previous) >= threshold
            tp += got and e.label
            fp += got and not e.label
            fn += (not got) and e.label
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return {"folds": folds, "threshold": threshold, "precision": round(p, 3), "recall": round(r, 3),
            "f1": round(2 * p * r / (p + r), 3) if p + r else 0.0}


_TRUE = {"1", "true", "yes", "y", "pos", "positive"}
_FALSE = {"0", "false", "no", "n", "neg", "negative"}


def read_examples(paths: Iterable[str | Path], label_field: str = "label") -> list[Example]:
    """Labelled utterances from JSONL (``{"text", "speaker", "label"}`` per line, ``previous``
    optional: the other speaker's utterance before it) or CSV files (header with ``text`` and
    ``label``; ``speaker`` and ``previous`` optional). Errors name the file and line."""
    import csv
    import io

    out: list[Example] = []
    for path in paths:
        p = Path(path)
        try:
            body = p.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"{p}: cannot read: {exc}") from None
        if p.suffix.lower() == ".csv":
            reader = csv.DictReader(io.StringIO(body))
            if not reader.fieldnames or "text" not in reader.fieldnames or label_field not in reader.fieldnames:
                raise ValueError(f"{p}:1: the header needs the columns text and {label_field}")
            rows = ((n, row) for n, row in enumerate(reader, 2))
        else:
            def _jsonl():
                for n, line in enumerate(body.splitlines(), 1):
                    if not line.strip():
                        continue
                    try:
                        row = json.loads(line)
                    except (ValueError, RecursionError) as exc:
                        raise ValueError(f"{p}:{n}: not JSON: {exc}") from None
                    if not isinstance(row, dict):
                        raise ValueError(f"{p}:{n}: each line must be a JSON object")
                    yield n, row
            rows = _jsonl()
        for n, row in rows:
            text = row.get("text")
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"{p}:{n}: 'text' must be a non-empty string")
            label = row.get(label_field)
            key = str(label).strip().lower()
            if isinstance(label, bool):
                value = label
            elif key in _TRUE:
                value = True
            elif key in _FALSE:
                value = False
            else:
                raise ValueError(f"{p}:{n}: '{label_field}' must be true/false or 1/0, not {label!r}")
            previous = row.get("previous") or ""
            if not isinstance(previous, str):
                raise ValueError(f"{p}:{n}: 'previous' must be a string")
            speaker = row.get("speaker") or None
            if speaker is not None and speaker not in ("agent", "customer"):
                raise ValueError(f"{p}:{n}: 'speaker' must be agent or customer, not {speaker!r}")
            out.append(Example(text=text, label=value, speaker=speaker, source=f"{p}:{n}", previous=previous))
    return out

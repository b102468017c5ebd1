"""Small text classifiers that judge one utterance: "does this say sorry?", "is this a complaint?".

A model is a logistic regression over the character n-grams of an utterance's *normalised* text
(the same normalisation the rubric's phrases go through: simplified, no punctuation, 您→你,
quantities as digits), plus one feature for a question mark in the original text. It is stored
as a plain JSON file: an n-gram → weight table, a bias and a default threshold. Loading parses
and validates that JSON and nothing else, so a model file can never execute code.

Scoring one utterance is a dictionary walk (:meth:`TextModel.probability`). Scoring a call
(:class:`CallGrams`) turns every utterance's n-grams into integer codes at once with numpy and
looks each model's weights up in one sorted array, so a model costs a few array operations per
call rather than a Python loop per utterance; both paths give the same numbers (tested).

Training (``train``) uses scikit-learn, imported only there. Feature extraction is
:func:`features`, shared by training and scoring, so a trained model scores exactly as it did
when it was measured.
"""

from __future__ import annotations

import hashlib
import json
import math
import stat
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Literal, Optional, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from qa_scorer.normalize import normalize, regular_file_bytes, spreadsheet_text

__all__ = ["TextModel", "CallGrams", "ModelBank", "ModelError", "features", "load_model", "builtin_models", "BUILTIN_DIR", "fit", "cross_validate", "read_examples"]

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
    # sha256 of the model file's bytes: what the rubric's version takes in (a retrained model with
    # the same name and path judges differently)
    digest: str = field(default="", compare=False)
    # The weights as integer n-gram codes (sorted) and their values, for scoring a whole call at
    # once; None when the features do not fit 64-bit codes (n-grams longer than 3 characters).
    table: Optional["_Table"] = field(default=None, compare=False, repr=False)

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



# --------------------------------------------------------------------------------------------
# Integer n-gram codes, for scoring a whole call with a few array operations
#
# A character becomes its code point + 1 (1 … 0x110000, 21 bits); an n-gram of up to three
# characters is their codes side by side (up to 63 bits), so every n-gram has its own code and
# no two lengths collide (a leading character is never 0). The question feature is code 0 and
# the other speaker's n-grams ("<" prefix) have the top bit set. Normalised text holds no "^",
# "$" or "<" (punctuation and symbols are removed), so the markers cannot be confused with text.

_BITS = np.uint64(21)
_CONTEXT = 1 << 63
_START = ord("^") + 1
_END = ord("$") + 1


def gram_code(gram: str) -> Optional[int]:
    """The integer code of one n-gram as :func:`features` writes it (None: not codable)."""
    flag = 0
    if gram.startswith("<") and len(gram) > 1:
        flag, gram = _CONTEXT, gram[1:]
    if gram == QUESTION:
        return flag
    if not 1 <= len(gram) <= 3:
        return None
    code = 0
    for ch in gram:
        code = (code << 21) | (ord(ch) + 1)
    return flag | code


@dataclass(frozen=True)
class _Table:
    keys: np.ndarray  # uint64, sorted, with a sentinel that matches nothing at the end
    values: np.ndarray  # float64, aligned with keys

    @classmethod
    def build(cls, weights: dict[str, float], spec: "FeatureSpec") -> Optional["_Table"]:
        if spec.ngram_max > 3 or (spec.context and spec.context_ngram_max > 3):
            return None
        coded: dict[int, float] = {}
        for gram, w in weights.items():
            code = gram_code(gram)
            if code is not None:
                coded[code] = w
        keys = sorted(coded)
        # the sentinel (all bits set) is no n-gram's code: 63 bits of text plus the context bit
        # would need a character beyond Unicode.
        return cls(keys=np.array(keys + [(1 << 64) - 1], dtype=np.uint64),
                   values=np.array([coded[k] for k in keys] + [0.0], dtype=np.float64))


def _ngrams(a: np.ndarray, seg: np.ndarray, low: int, high: int, width: np.uint64):
    """Per n-gram length from ``low`` to ``high``: the codes of the n-grams of the characters
    ``a`` (``width`` bits a character) and the utterance each belongs to. No n-gram spans two
    utterances, and a 1-gram is never an utterance's start or end mark."""
    gram = a
    for n in range(1, high + 1):
        if n > 1:
            gram = (gram[:-1] << width) | a[n - 1:]
        if n < low:
            continue
        keep = ((a != _START) & (a != _END)) if n == 1 else (seg[:len(gram)] == seg[n - 1:])
        yield gram[keep], seg[:len(gram)][keep]


class CallGrams:
    """The n-gram codes of every utterance of one call, made once and shared by all models.

    ``texts`` are the utterances' normalised texts, ``questions`` whether each original text
    held a question mark, ``previous`` for each utterance the index of the other speaker's
    utterance just before it that has text (-1: none)."""

    def __init__(self, texts: Sequence[str], questions: Sequence[bool], previous: Sequence[int]):
        self.size = len(texts)
        self.texts = [t[:MAX_CHARS] for t in texts]
        self.questions = np.array(questions, dtype=bool)
        self.previous = np.array(previous, dtype=np.int64) if self.size else np.zeros(0, np.int64)
        self._cache: dict[tuple, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._banked: dict[int, tuple[_Group, list[list[float]]]] = {}
        lens = np.array([len(t) + 2 for t in self.texts], dtype=np.int64)
        padded = "".join("^" + t + "$" for t in self.texts)
        self._chars = np.frombuffer(padded.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64) + 1
        self._seg = np.repeat(np.arange(self.size, dtype=np.int64), lens)

    def utterance(self, low: int, high: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(codes, utterance index of each code, distinct codes per utterance), each
        utterance's codes distinct, as :func:`utterance_grams` makes them."""
        key = ("u", low, high)
        got = self._cache.get(key)
        if got is None:
            got = self._cache[key] = self._codes(low, high, 0)
        return got

    def context(self, high: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The same for every utterance read as the context of the next (as :func:`context_grams`)."""
        key = ("c", high)
        got = self._cache.get(key)
        if got is None:
            # usually a subset of some utterance codes already made: n-grams of up to ``high``
            # characters are exactly the codes below 2**(21*high) (the question's code is 0)
            made = next((v for k, v in self._cache.items() if k[0] == "u" and k[1] == 1 and k[2] >= high), None)
            if made is None:
                got = self._codes(1, high, _CONTEXT)
            else:
                codes, seg, _ = made
                short = codes < np.uint64(1 << (21 * high))
                seg = seg[short]
                got = (codes[short] | np.uint64(_CONTEXT), seg, np.bincount(seg, minlength=self.size))
            self._cache[key] = got
        return got

    def _codes(self, low: int, high: int, flag: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        a, seg = self._chars, self._seg
        # Each n-gram is first coded with as few bits per character as this text's characters
        # need (``width``; 16 for Chinese text), which leaves room in 64 bits for the utterance
        # index below the code: one plain sort of those numbers then puts the codes in order and
        # each code's utterances in order after it, as a stable sort of the codes would (and a
        # plain sort costs a fraction of a stable one). Narrow codes keep the order of full ones
        # (the same characters, written in a narrower base), so :meth:`_widen` turns them into
        # the codes :func:`gram_code` gives, still in order.
        width = max(int(a.max()).bit_length(), 1) if len(a) else 1
        low_bits = max(self.size - 1, 0).bit_length()
        if width * high + low_bits > 64:  # characters beyond the first 64k and a huge chunk
            return self._codes_stable(low, high, flag)
        shift = np.uint64(low_bits)
        keys = [(g << shift) | owner.astype(np.uint64)
                for g, owner in _ngrams(a, seg, low, high, np.uint64(width))]
        keys.append(np.flatnonzero(self.questions).astype(np.uint64))  # the question's code is 0
        k = np.sort(np.concatenate(keys))
        if len(k):  # each utterance's repeats of a code dropped: features are distinct n-grams
            first = np.empty(len(k), dtype=bool)
            first[0] = True
            np.not_equal(k[1:], k[:-1], out=first[1:])
            k = k[first]
        s = (k & np.uint64((1 << low_bits) - 1)).astype(np.int64)
        c = _widen(k >> shift, width, high)
        if flag:
            c |= np.uint64(flag)
        return c, s, np.bincount(s, minlength=self.size)

    def _codes_stable(self, low: int, high: int, flag: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`_codes` for a chunk whose narrow codes and utterance indices do not fit 64
        bits: the codes sorted with a stable sort, which keeps each code's utterances in order."""
        a, seg = self._chars, self._seg
        codes: list[np.ndarray] = []
        owners: list[np.ndarray] = []
        for g, owner in _ngrams(a, seg, low, high, _BITS):
            codes.append(g)
            owners.append(owner)
        codes.append(np.zeros(int(self.questions.sum()), dtype=np.uint64))
        owners.append(np.flatnonzero(self.questions).astype(np.int64))
        c = np.concatenate(codes)
        s = np.concatenate(owners)
        if flag:
            c = c | np.uint64(flag)
        # Sorted by code (a stable sort keeps each code's utterances in order, since every
        # n-gram length was laid out utterance by utterance), then each utterance's repeats of a
        # code dropped: features are distinct n-grams.
        order = np.argsort(c, kind="stable")
        c, s = c[order], s[order]
        if len(c):
            first = np.empty(len(c), dtype=bool)
            first[0] = True
            np.not_equal(c[1:], c[:-1], out=first[1:])
            first[1:] |= s[1:] != s[:-1]
            c, s = c[first], s[first]
        return c, s, np.bincount(s, minlength=self.size)


def _widen(narrow: np.ndarray, width: int, high: int) -> np.ndarray:
    """Codes of up to ``high`` characters written with ``width`` bits per character → the same
    n-grams' codes with 21 bits per character (:func:`gram_code`)."""
    if width == 21:
        return narrow
    mask = np.uint64((1 << width) - 1)
    wide = narrow & mask
    for n in range(1, high):
        wide |= ((narrow >> np.uint64(width * n)) & mask) << np.uint64(21 * n)
    return wide


class ModelBank:
    """Several models' weights in one table per feature set, so the n-gram codes of a call are
    looked up once for all of them and summed per utterance with one matrix product."""

    def __init__(self, models: Iterable[TextModel]):
        self._groups: dict[tuple[int, int], _Group] = {}
        self._slots: dict[int, tuple[tuple[int, int], int]] = {}
        members: dict[tuple[int, int], list[TextModel]] = {}
        seen: set[int] = set()
        for m in models:
            if m.table is None or id(m) in seen:
                continue
            seen.add(id(m))
            members.setdefault((m.spec.ngram_min, m.spec.ngram_max), []).append(m)
        for key, group in members.items():
            self._groups[key] = _Group(group)
            for col, m in enumerate(group):
                self._slots[id(m)] = (key, col)
        self._models = [m for group in members.values() for m in group]  # keeps ids alive

    def __len__(self) -> int:
        return len(self._slots)

    def has(self, model: TextModel) -> bool:
        return id(model) in self._slots

    @property
    def models(self) -> list[TextModel]:
        return list(self._models)

    def probabilities(self, model: TextModel, grams: CallGrams) -> Optional[list[float]]:
        """``model``'s probability for every utterance of the call (None: not in this bank).
        The first question scores the call with every model of the same features at once."""
        slot = self._slots.get(id(model))
        if slot is None:
            return None
        key, col = slot
        group = self._groups[key]
        # cached per group; the entry holds the group, so its id is not reused while cached
        got = grams._banked.get(id(group))
        if got is None:
            got = grams._banked[id(group)] = (group, group.probabilities(grams).T.tolist())
        return got[1][col]


class _Group:
    """Models that read the same n-gram lengths: one key table, one weight matrix."""

    def __init__(self, models: list[TextModel]):
        self.low, self.high = models[0].spec.ngram_min, models[0].spec.ngram_max
        keys = np.unique(np.concatenate([m.table.keys[:-1] for m in models]))
        self.keys = np.append(keys, np.uint64((1 << 64) - 1))
        # one row per model: each model's weights, aligned with the keys
        self.weights = np.zeros((len(models), len(self.keys)), dtype=np.float64)
        for row, m in enumerate(models):
            at = np.searchsorted(self.keys, m.table.keys[:-1])
            self.weights[row, at] = m.table.values[:-1]
        self.slots, self.shift = _hash_table(self.keys)
        self.bias = np.array([m.bias for m in models], dtype=np.float64)
        self.l2 = np.array([m.spec.norm == "l2" for m in models], dtype=bool)
        # models that also read the other speaker's previous utterance, by n-gram length
        self.context: dict[int, np.ndarray] = {}
        for high in sorted({m.spec.context_ngram_max for m in models if m.spec.context}):
            self.context[high] = np.array([c for c, m in enumerate(models)
                                           if m.spec.context and m.spec.context_ngram_max == high], dtype=np.intp)

    def _sums(self, codes: np.ndarray, seg: np.ndarray, size: int,
              cols: Optional[np.ndarray] = None) -> np.ndarray:
        """Per utterance (rows) and model (columns, all or ``cols``), the sum of the weights of
        the utterance's codes (added in the order of ``codes``)."""
        at = self._find(codes)
        hit = self.keys[at] == codes
        at, seg = at[hit], seg[hit]
        cols = range(len(self.weights)) if cols is None else cols
        sums = np.empty((size, len(cols)), dtype=np.float64)
        for k, col in enumerate(cols):  # one model at a time: its weights lie side by side
            sums[:, k] = np.bincount(seg, weights=self.weights[col].take(at), minlength=size)
        return sums

    def _find(self, codes: np.ndarray) -> np.ndarray:
        """For each code, the index of that code among the keys when it is one (otherwise an
        index whose key differs): the index ``np.searchsorted`` finds for a key, read from a
        hash table of the keys (most codes are no key, and a hash costs a fraction of a binary
        search); codes whose slot several keys share are searched as before."""
        at = self.slots[(codes * _HASH) >> self.shift]
        shared = at < 0
        if shared.any():
            some = codes[shared]
            found = np.searchsorted(self.keys, some)
            np.minimum(found, len(self.keys) - 1, out=found)
            at[shared] = found
        return at

    def probabilities(self, grams: CallGrams) -> np.ndarray:
        """Every model's probability (columns) for every utterance (rows) of the call."""
        n = grams.size
        codes, seg, counts = grams.utterance(self.low, self.high)
        total = self._sums(codes, seg, n)
        if self.context and n:
            counts = np.repeat(counts[:, None], len(self.bias), axis=1)
            prev = grams.previous
            has = (prev >= 0)[:, None]
            at = np.where(prev >= 0, prev, 0)
            for high, cols in self.context.items():
                ccodes, cseg, ccounts = grams.context(high)
                ctx = self._sums(ccodes, cseg, n, cols)
                total[:, cols] += np.where(has, ctx[at], 0.0)
                counts[:, cols] += np.where(has, ccounts[at][:, None], 0)
        else:
            counts = counts[:, None]
        scale = 1.0 / np.sqrt(np.maximum(counts, 1))
        if self.l2.all():
            total *= scale
        else:
            total = np.where(self.l2[None, :], total * scale, total)
        total += self.bias
        np.clip(total, -700.0, 700.0, out=total)
        return 1.0 / (1.0 + np.exp(-total))


_HASH = np.uint64(0x9E3779B97F4A7C15)  # odd: multiplying by it mixes a code's bits upwards


def _hash_table(keys: np.ndarray) -> tuple[np.ndarray, np.uint64]:
    """A table of slots for sorted ``keys`` (the last one a sentinel that matches no code) and
    the shift that hashes a code to its slot, ``(code * _HASH) >> shift`` (the product's top
    bits, wrapping in 64 bits): each slot holds the index of the one key that hashes there, the
    sentinel's index when none does, and -1 when several do."""
    # more than eight slots a key: few keys share one (a tenth of the keys' codes then take
    # the binary search); 4-byte slots keep the table small enough to stay in the caches
    bits = max(10, (8 * len(keys)).bit_length())
    shift = np.uint64(64 - bits)
    kind = np.int32 if len(keys) < 2 ** 31 else np.int64
    slots = np.full(1 << bits, len(keys) - 1, dtype=kind)
    real = keys[:-1]
    h = (real * _HASH) >> shift
    counts = np.bincount(h.astype(np.int64), minlength=1 << bits)
    slots[h] = np.arange(len(real), dtype=kind)
    slots[counts > 1] = -1
    return slots, shift


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
    if not stat.S_ISREG(st.st_mode):  # a FIFO would block the run for ever
        raise ModelError(f"{p}: cannot read model: not a regular file")
    return _load(str(p), st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=64)
def _load(path: str, mtime: int, size: int) -> TextModel:
    if size > MAX_MODEL_BYTES:
        raise ModelError(f"{path}: model file is {size} bytes; the limit is {MAX_MODEL_BYTES}")
    try:
        data = Path(path).read_bytes()
        raw = json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ModelError(f"{path}: not a model file: {exc}") from None
    try:
        m = ModelFile.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"])
        raise ModelError(f"{path}: {where}: {first['msg']}") from None
    return _model(m, path, hashlib.sha256(data).hexdigest())


def _model(m: "ModelFile", path: str, digest: str = "") -> TextModel:
    return TextModel(name=m.name, path=path, spec=m.features, bias=m.bias, weights=m.weights,
                     threshold=m.threshold, speaker=m.speaker, description=m.description,
                     training=m.training, digest=digest, table=_Table.build(m.weights, m.features))


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
    return _model(ModelFile.model_validate(raw), path)


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
            raw = regular_file_bytes(p)
            # a CSV may come from Excel on a Chinese Windows (GBK); JSON Lines are UTF-8
            body = spreadsheet_text(raw) if p.suffix.lower() == ".csv" else raw.decode("utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"{p}: cannot read: {exc}") from None
        if p.suffix.lower() == ".csv":
            reader = csv.DictReader(io.StringIO(body))
            if not reader.fieldnames or "text" not in reader.fieldnames or label_field not in reader.fieldnames:
                raise ValueError(f"{p}:1: the header needs the columns text and {label_field}")
            def _csv():
                start = 2
                for row in reader:  # a row's line: where it starts (a quoted field may span lines)
                    yield start, row
                    start = reader.line_num + 1
            rows = _csv()
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
            elif label is None and "\n" in text:
                raise ValueError(f"{p}:{n}: '{label_field}' is missing: the row's text runs over several lines, "
                                 "a quote (\") opened there and never closed?")
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

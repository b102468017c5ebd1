"""What a rule listens for in one speaker's utterances: a learned model, phrases, or both.

A :class:`Detect` names a text model (``model`` + ``threshold``) and/or phrase matchers
(``match``); an utterance counts when the model's probability reaches the threshold OR a
phrase matches (model OR phrase). Model judgments can be vetoed: by a ``veto`` matcher found in
the utterance, by a hedge (``unless_hedged``: 预计 / 尽量 / 如果…) or a question
(``unless_question``), the same exclusions phrase rules have. The ``classifier`` rule type and
both sides of a ``conditional`` rule use it.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import NamedTuple, Optional, Union

from pydantic import Field, PrivateAttr, model_validator

from qa_scorer.rubric.call import Call, Outcome, quote
from qa_scorer.rubric.schema import CompileContext, Hedges, Hit, Match, Scope, Strict, find_any
from qa_scorer.textmodel import ModelError, TextModel, load_model, resolve


# Utterances with fewer normalised characters than this are never judged by a model.
MIN_CHARS = 2


class Found(NamedTuple):
    """One utterance that counts: its segment, the matched words (None: the model's judgment of
    the whole utterance) and the model's probability when the model found it."""

    index: int
    hit: Optional[Hit]
    probability: Optional[float] = None
    model: str = ""
    # found below the model's cut-off because this many utterances add up (``accumulate``; 0: not so)
    together: int = 0


def phrase_hits(matchers: list[Match], call: Call, indices: list[int],
                per_segment: bool = False) -> list[tuple[int, Hit]]:
    """(segment, hit) pairs of several matchers among ``indices``, in order: overlapping hits in
    one segment shown once (the first, longest); only the first of each segment with
    ``per_segment`` (where the first matcher's hit wins a tie, as it always has)."""
    if not matchers or not indices:
        return []
    compiled = [m.matcher for m in matchers]
    if all([c.local for c in compiled]):  # each segment searched once per call (Call.hits)
        hits = call.hits(compiled[0], indices)
        for c in compiled[1:]:
            hits += call.hits(c, indices)
    else:
        hits = [(indices[k], hit) for k, hit in find_any(matchers, call.joined(indices), joined=True)]
    if len(hits) < 2:
        return hits  # nothing to order or drop
    hits.sort(key=(lambda f: (f[0], f[1].start)) if per_segment else (lambda f: (f[0], f[1].start, -f[1].end)))
    kept: list[tuple[int, Hit]] = []
    for i, hit in hits:
        if kept and kept[-1][0] == i and (per_segment or hit.start < kept[-1][1].end):
            continue
        kept.append((i, hit))
    return kept


def judge(item, call: Call, search) -> Outcome:
    """The outcome of an item that expects something present (required, reward) or absent
    (prohibited, fatal) in a speaker's utterances within its scope. ``search(chosen,
    first_only)`` returns what was found among the chosen segments (:class:`Found`, in order);
    evidence is made only for what the outcome shows (when present is expected, the first three
    lines that hold anything, each with its hits: a line's second hit hides no third line)."""
    where, zh = where_words(item.speaker, item.scope)
    chosen = call.select(item.speaker, item.scope)
    if chosen is None:
        return Outcome("na", f"needs timings to find {where}; this transcript has none", zh=f"没有时间信息，无法判断{zh}")
    if not chosen:
        return Outcome("na", f"nothing in {where}", zh=f"{zh}没有内容")
    if item.expects_present:
        found = search(chosen, item.min_count == 1)
        if found and (item.min_count == 1 or len({f.index for f in found}) >= item.min_count):
            shown = tuple([evidence(call, f) for f in _first_lines(found, 3)])
            said = quote(shown[0].text)
            return Outcome("pass", f"found {said} in {where}", shown, zh=f"在{zh}中找到{said}")
        window = (call.evidence(chosen[0], note=f"due in {where}"),)
        if len(chosen) > 1:
            window += (call.evidence(chosen[-1], note=f"end of {where}"),)
        return Outcome("fail", f"not found in {where}", window, zh=f"{zh}中没有找到")
    shown = tuple([evidence(call, f) for f in search(chosen, False)])
    if shown:
        said = "、".join(dict.fromkeys(quote(e.text) for e in shown))
        return Outcome("fail", f"said {said} in {where}", shown, zh=f"{zh}中说了{said}")
    return Outcome("pass", f"nothing of the kind in {where}", zh=f"{zh}中没有此类内容")


def _first_lines(found: list[Found], lines: int, per_line: int = 3) -> list[Found]:
    """What was found in the first ``lines`` segments that hold anything, in order: every hit of
    such a segment (at most ``per_line``), so a line with several hits is highlighted in full and
    still pushes no later line out."""
    kept: list[Found] = []
    count: dict[int, int] = {}
    for f in found:
        if f.index not in count:
            if len(count) == lines:
                break
            count[f.index] = 0
        if count[f.index] < per_line:
            count[f.index] += 1
            kept.append(f)
    return kept


def _ends_asking(norm) -> bool:
    """Whether a normalised utterance ends as a question: a ? or ？ closing it (whatever emoji or
    marks follow, 是放门口了？😂), or the particle 吗 / 么 last (not the 么 of 什么 / 怎么 / 这么 /
    那么 / 多么 / 要么: 那我这么远跑过来算什么 asks nothing)."""
    text = norm.text
    if text.endswith("吗") or len(text) in norm.questions:
        return True
    return text.endswith("么") and not text.endswith(("什么", "怎么", "这么", "那么", "多么", "要么"))


def _asks_from(norm, pos: int) -> bool:
    """Whether a clause of a normalised utterance from offset ``pos`` on is a question (? / 吗 / 么,
    a tag question, or a clause ending in 吧 / 呢)."""
    n = len(norm.text)
    while pos < n:
        start, end = norm.clause(pos)
        end = max(end, pos + 1)
        if norm.is_question(start, end) or norm.text[end - 1] in "吧呢":
            return True
        pos = end
    return False


def where_words(speaker: str, scope: Optional[Scope]) -> tuple[str, str]:
    """Where an item looks, in English and in Chinese: its scope, or all that ``speaker`` said.
    The same two strings for every call, so they are made once per scope (see ``_described``)."""
    if scope is None:
        return _described(speaker, None)
    return _described(speaker, scope.bounds)


@lru_cache(maxsize=1024)  # a rubric has a few scopes; bounded whatever rubrics a process loads
def _described(speaker: str, bounds: Optional[tuple]) -> tuple[str, str]:
    if bounds is not None:
        scope = Scope(**dict(zip(("first_turns", "last_turns", "first_seconds", "last_seconds"), bounds)))
        return scope.describe(speaker), scope.describe(speaker, "zh")
    if speaker == "any":
        return "the call", "整通对话"
    return f"what the {speaker} said", {"agent": "坐席的话", "customer": "客户的话"}[speaker]


class ModelVeto(Strict):
    """Another model whose confident judgment of an utterance vetoes this side's model there
    (a customer praising the agent is not reporting trouble, however the problem model reads
    the praise)."""

    model: str
    threshold: float = Field(gt=0, lt=1)


class SureVeto(ModelVeto):
    """Another model's confident judgment of an utterance drops every judgment there, phrase hits
    too, unless ``unless`` finds something in the utterance. Praise said in a message the problem
    model is sure tells trouble, with no thanks and no concession in it, is sarcasm (你们真是太专业了
    每次都让我等), however the phrases read it."""

    unless: Optional[Match] = None


class AfterVeto(Strict):
    """What the other side said just before an utterance drops its judgment (a phrase hit or the
    model's): the utterance matches ``match`` (a curt 行 / 好吧 opening it) and one of the other
    side's last ``turns`` turns before it holds an utterance ``model`` judges at ``threshold`` or
    above. Praise said as a curt 行 right after a line the rudeness model is sure of is sarcasm
    (行 服务真好)."""

    model: str
    threshold: float = Field(gt=0, lt=1)
    match: Match
    turns: int = Field(default=1, ge=1, le=10)
    # The other side's utterances this finds do not count, however the model reads them (the
    # banned item's own vetoes: a goodwill gesture, 那个你留着吧 不用退回来了, reads curt to the model).
    veto: Optional[Match] = None


class Answers(Strict):
    """A flat answer to the other side's question counts as a hit of its own: the utterance opens
    the speaker's turn right after the other side's turn, ``match`` finds the answer in it (是的 /
    对的 / 不会的, with the matcher's own negation and hedge exclusions) as a clause of its own (对 明天到,
    not 对不起), and ``asked`` finds the question in that turn of the other side's, with no other
    question after it there (明天能到吗 另外发票在盒子里吗 → 是的 answers the second). Not where a
    hedge stands anywhere in the speaker's turn from the answer on (是的 | 一般明天下午能到: what follows a
    bare yes is what it says), nor where ``unless`` finds something there (是的 可以给您预约: a request
    granted; 不会的 | 不过最终以审批结果为准), nor where the utterance itself ends as a question or a guess
    (对 您是要改到明天送是吧)."""

    match: Match
    asked: Match
    unless: Optional[Match] = None


def _listed(matches: Optional[Union[Match, list[Match]]]) -> list[Match]:
    """One match, several, or none, as a list."""
    if matches is None:
        return []
    return matches if isinstance(matches, list) else [matches]


class Accumulate(Strict):
    """Moderate readings that add up: where no utterance counts alone (no phrase hit, no model
    judgment at the cut-off), at least ``count`` utterances the model reads at ``threshold`` or
    above (each passing the vetoes a model judgment passes) count, every one of them. A customer
    who sounds a little troubled in two or three lines is troubled, though no single line reads so."""

    threshold: float = Field(gt=0, lt=1)
    count: int = Field(ge=2, le=10)
    # Lines this finds neither add up nor count below the cut-off (a plain question asked without
    # 吗 or a question mark: 第三期什么时候交).
    unless: Optional[Match] = None


class Detect(Strict):
    # A shipped model's name or a .json file beside the rubric; several: any of them counts.
    model: Optional[Union[str, list[str]]] = None
    threshold: Optional[float] = Field(default=None, gt=0, lt=1)
    # One matcher, or several (a hit from any of them counts), each with its own exclusions.
    match: Optional[Union[Match, list[Match]]] = None
    veto: Optional[Union[Match, list[Match]]] = None
    # Said in an utterance, it drops everything found there: the model's judgment and phrase hits
    # alike (sarcasm that reads as praise to the model and to the phrases: 收钱倒是挺痛快). One
    # pattern that has to stop both is written once here, not in ``veto`` and again in a
    # matcher's ``exclude_regex``.
    veto_all: Optional[Union[Match, list[Match]]] = None
    unless_hedged: bool = False
    unless_question: bool = False
    # With ``unless_question``: trailing clauses this matches do not make the utterance a question.
    # A chat agent's template offer of more help sent in the same message as a commitment
    # (会正常给您配送的 请问还有其他可以帮到您的吗?) asks about nothing the commitment said.
    question_tail: Optional[Match] = None
    # A phrase hit counts only where the model gives its utterance at least this probability:
    # the phrases catch what the model misses, the model drops the phrases' hits in what only
    # mentions trouble (a neighbour's broken window, a phone stolen last year).
    phrase_floor: Optional[float] = Field(default=None, gt=0, lt=1)
    # Readings below ``threshold`` that add up (see Accumulate).
    accumulate: Optional[Accumulate] = None
    # A model judgment of an utterance that ends in a question (? / 吗 / 么) counts only at this
    # probability or above: a question is far more often a plain request than trouble told, and
    # the model's judgments of questions just above ``threshold`` are mostly such requests.
    question_threshold: Optional[float] = Field(default=None, gt=0, lt=1)
    # …except a question this finds: a challenge said with the trouble (你们就是这么服务的吗 / 这正常么),
    # which ``threshold`` judges as it judges a statement.
    question_challenge: Optional[Match] = None
    # Model judgments are vetoed where this other model is confident (phrase hits are not).
    veto_model: Optional[ModelVeto] = None
    # Judgments (phrase hits too) dropped by what the other side said just before (see AfterVeto).
    veto_after: Optional[AfterVeto] = None
    # Judgments (phrase hits too) dropped where another model is sure of the utterance (see SureVeto).
    veto_model_all: Optional[SureVeto] = None
    # A flat answer to a question of the other side's counts as a phrase hit does (see Answers).
    answers: Optional[Union[Answers, list[Answers]]] = None

    _models: list[TextModel] = PrivateAttr(default_factory=list)
    _veto_model: Optional[TextModel] = PrivateAttr(default=None)
    _after_model: Optional[TextModel] = PrivateAttr(default=None)
    _sure_model: Optional[TextModel] = PrivateAttr(default=None)
    _hedges = PrivateAttr(default=None)
    _answer_hedges = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _something(self):
        if self.model is None and self.match is None:
            raise ValueError("needs a 'model', a 'match', or both")
        if self.model is None and (self.threshold is not None or self.veto is not None
                                   or self.unless_hedged or self.unless_question or self.phrase_floor is not None
                                   or self.veto_model is not None or self.question_threshold is not None
                                   or self.accumulate is not None):
            raise ValueError("'threshold', 'veto', 'veto_model', 'unless_hedged', 'unless_question', "
                             "'question_threshold', 'phrase_floor' and 'accumulate' apply to a 'model'")
        if self.question_tail is not None and not self.unless_question:
            raise ValueError("'question_tail' applies with 'unless_question'")
        if self.question_challenge is not None and self.question_threshold is None:
            raise ValueError("'question_challenge' applies with 'question_threshold'")
        return self

    @property
    def matchers(self) -> list[Match]:
        return _listed(self.match)

    @property
    def vetoes(self) -> list[Match]:
        return _listed(self.veto)

    @property
    def vetoes_all(self) -> list[Match]:
        return _listed(self.veto_all)

    def compile_detect(self, ctx: CompileContext) -> None:
        after = [] if self.veto_after is None else [self.veto_after.match] + (
            [self.veto_after.veto] if self.veto_after.veto is not None else [])
        questions = [m for m in (self.question_tail, self.question_challenge) if m is not None]
        if self.accumulate is not None and self.accumulate.unless is not None:
            questions.append(self.accumulate.unless)
        if self.veto_model_all is not None and self.veto_model_all.unless is not None:
            questions.append(self.veto_model_all.unless)
        answers = [m for a in _listed(self.answers) for m in (a.match, a.asked) + ((a.unless,) if a.unless else ())]
        for m in self.matchers + self.vetoes + self.vetoes_all + after + questions + answers:
            m.compile(ctx)
        refs = [self.model] if isinstance(self.model, str) else list(self.model or [])
        if not refs and self.model is not None:
            raise ValueError("'model' lists no model")
        base = Path(ctx.base_dir) if ctx.base_dir else None
        try:
            self._models = [load_model(resolve(ref, base)) for ref in refs]
            if self.veto_model is not None:
                self._veto_model = load_model(resolve(self.veto_model.model, base))
            if self.veto_after is not None:
                self._after_model = load_model(resolve(self.veto_after.model, base))
            if self.veto_model_all is not None:
                self._sure_model = load_model(resolve(self.veto_model_all.model, base))
        except ModelError as exc:
            raise ValueError(str(exc)) from None
        # each model's cut-off (the rubric's, or the model's own) bounds the other bars: a question bar at
        # or below it would do nothing (it asks more of a question than of a statement), and so would
        # readings that add up at or above it
        for model in self._models:
            cutoff = self.threshold if self.threshold is not None else model.threshold
            if self.question_threshold is not None and self.question_threshold <= cutoff:
                raise ValueError(f"'question_threshold' ({self.question_threshold}) must be above the cut-off "
                                 f"({cutoff}) of model {model.name!r}")
            if self.accumulate is not None and self.accumulate.threshold >= cutoff:
                raise ValueError(f"'accumulate' threshold ({self.accumulate.threshold}) must be below the cut-off "
                                 f"({cutoff}) of model {model.name!r}")
        if self.unless_hedged or self.answers is not None:
            hedges = Hedges.of(ctx)  # one compiled set serves both
            self._hedges = hedges if self.unless_hedged else None
            self._answer_hedges = hedges if self.answers is not None else None

    def detect_phrases(self, ctx: CompileContext) -> list[str]:
        return [p for m in self.matchers for p in m.expanded_phrases(ctx)]

    @property
    def text_models(self) -> list[TextModel]:
        # straight from pydantic's private store: ``self._models`` takes its slow __getattr__
        return self.__pydantic_private__["_models"]

    def added(self, call: Call, indices: list[int]) -> list[Found]:
        """The judgments that count only because they add up (see Accumulate), asked for where
        nothing among ``indices`` counts alone: each utterance that one of the models reads at
        ``accumulate.threshold`` or above, past the vetoes and ``accumulate.unless``, when at least
        ``count`` are; none otherwise. Worked out once per call."""
        acc = self.accumulate
        if acc is None or len(indices) < acc.count:
            return []
        key = ("added", id(self), tuple(indices))
        known = call.memo.get(key)
        if known is None:
            known = call.memo[key] = self._adding(call, indices)
        return known

    def _adding(self, call: Call, indices: list[int]) -> list[Found]:
        acc = self.accumulate
        models = self.text_models
        probs = [call.probabilities(model) for model in models]
        low = acc.threshold
        # most utterances are far below it: only those at it are looked at
        near = [i for i in indices if any([pr[i] >= low for pr in probs])]
        if len(near) < acc.count:
            return []
        kept = []
        for i in near:
            k = max(range(len(models)), key=lambda k: probs[k][i])
            p = probs[k][i]
            if not (acc.unless is not None and acc.unless.matcher.find(call.norms[i])) and not self._vetoed(call, i, p):
                kept.append((i, p, models[k].name))
        if len(kept) < acc.count:
            return []
        return [Found(i, None, p, name, len(kept)) for i, p, name in kept]

    def find(self, call: Call, indices: list[int], first_only: bool = False,
             per_segment: bool = False) -> list[Found]:
        """Utterances among ``indices`` that count, in order: every phrase hit (overlapping
        ones shown once; only the first of each segment with ``per_segment``), and the
        model's judgment of each utterance no phrase found; where none does, the readings that
        add up (``added``). ``first_only`` stops the model at its first positive utterance."""
        found = [Found(i, hit) for i, hit in self._phrase_hits(call, indices, per_segment)]
        if first_only and found:
            return found  # a phrase already found one: the models need not be asked
        phrases = len(found)  # in order already
        said = {f.index for f in found}
        for model in self.text_models:
            cutoff = self.threshold if self.threshold is not None else model.threshold
            probs = call.probabilities(model)
            # most utterances are far below the cutoff: only those above it are looked at
            for i in [i for i in indices if probs[i] >= cutoff]:
                if i not in said and not self._vetoed(call, i, probs[i]):
                    found.append(Found(i, None, probs[i], model.name))
                    said.add(i)
                    if first_only:
                        break
        if not found and self.accumulate is not None:
            found = self.added(call, indices)
            return found[:1] if first_only else list(found)
        if len(found) > phrases:
            found.sort(key=lambda f: (f.index, f.hit.start if f.hit else 0))
        return found

    def each(self, call: Call, indices: list[int]):
        """The first thing that counts in each segment, in segment order, lazily: models are
        asked about a segment only when the caller gets that far; where nothing counts alone,
        the readings that add up (``added``)."""
        first = {i: Found(i, hit) for i, hit in self._phrase_hits(call, indices, per_segment=True)}
        models = self.text_models
        cutoffs = [self.threshold if self.threshold is not None else model.threshold for model in models]
        some = False
        if not first and len(models) == 1 and indices:
            # the usual case: no phrase, one model asked from the first segment on, and most
            # segments far below its cutoff
            model, cutoff = models[0], cutoffs[0]
            probs = call.probabilities(model)
            for i in [i for i in indices if probs[i] >= cutoff]:
                if not self._vetoed(call, i, probs[i]):
                    some = True
                    yield Found(i, None, probs[i], model.name)
        else:
            asked: list = [None] * len(models)
            for i in indices:
                f = first.get(i)
                if f is None:
                    for k, model in enumerate(models):
                        if asked[k] is None:
                            asked[k] = call.probabilities(model)
                        p = asked[k][i]
                        if p >= cutoffs[k] and not self._vetoed(call, i, p):
                            f = Found(i, None, p, model.name)
                            break
                if f is not None:
                    some = True
                    yield f
        if not some and self.accumulate is not None:
            yield from self.added(call, indices)

    def _phrase_hits(self, call: Call, indices: list[int], per_segment: bool):
        hits = phrase_hits(self.matchers, call, indices, per_segment)
        if self.answers is not None:
            answered = self._answered(call, indices, {i for i, _ in hits})
            if answered:
                hits = sorted(hits + answered, key=lambda f: (f[0], f[1].start))
        # the vetoes that drop phrase hits too, each judged once per segment however many hits it
        # holds (a message of thousands of hits cost the square of its length)
        for veto, vetoed_at in ((self.veto_all, self._all_vetoed), (self.veto_after, self._after_vetoed),
                                (self.veto_model_all, self._sure_vetoed)):
            if hits and veto is not None:
                vetoed = {i: vetoed_at(call, i) for i in dict.fromkeys(i for i, _ in hits)}
                hits = [(i, hit) for i, hit in hits if not vetoed[i]]
        if self.phrase_floor is None or not hits:
            return hits
        probs = [call.probabilities(model) for model in self.text_models]
        return [(i, hit) for i, hit in hits if any(p[i] >= self.phrase_floor for p in probs)]

    def _answered(self, call: Call, indices: list[int], taken: set[int]) -> list[tuple[int, Hit]]:
        """(segment, hit) of each utterance among ``indices`` that answers the other side's question
        flatly (see Answers), but none in a segment ``taken`` already holds a hit of."""
        wanted = set(indices).difference(taken)
        runs = call.turns("any")  # turns as every rule counts them: a bot's or a subtitle's line is no one's
        # each turn's first utterance → (the other side's turn just before it, its own turn)
        opening = {run[0]: (runs[k - 1], run) for k, run in enumerate(runs) if k and run[0] in wanted}
        out: dict[int, Hit] = {}
        for ans in _listed(self.answers):
            # one search of the turns' first utterances (most calls have no answer of the kind)
            for i, hit in phrase_hits([ans.match], call, list(opening), per_segment=True):
                norm = call.norms[i]
                # (the last clause a question covers 吗 / 么 / ? at the end; 吧 there is a guess)
                if i in out or norm.clause(hit.end - 1)[1] != hit.end or norm.text.endswith(
                        "吧") or norm.is_question(*norm.clause(len(norm.text) - 1)):
                    continue
                asked, turn = opening[i]
                if self._asked_last(call, ans.asked, asked) and not self._turn_hedged(call, turn, ans.unless):
                    out[i] = hit
        return sorted(out.items())

    @staticmethod
    def _asked_last(call: Call, asked: Match, turn: list[int]) -> bool:
        """Whether ``asked`` finds the question in the turn with no other question after it."""
        # only the last utterance that asks anything, and those after it, can hold the last question
        # (each utterance looked at once: a turn of thousands of questions costs no square)
        last = next((k for k in range(len(turn) - 1, -1, -1) if _asks_from(call.norms[turn[k]], 0)), 0)
        for j in turn[last:]:
            norm = call.norms[j]
            if any(not _asks_from(norm, norm.clause(hit.end - 1)[1]) for hit in asked.matcher.find(norm)):
                return True
        return False

    def _turn_hedged(self, call: Call, turn: list[int], unless: Optional[Match]) -> bool:
        """Whether a hedge, or something ``unless`` finds, stands in an utterance of the answer's turn."""
        hedges = self.__pydantic_private__["_answer_hedges"]
        return any((hedges is not None and hedges.within(call.norms[j])) or (unless is not None and unless.matcher.find(
            call.norms[j])) for j in turn)

    def _vetoed(self, call: Call, i: int, p: float) -> bool:
        """Whether the model's judgment of utterance ``i`` (at probability ``p``) is dropped."""
        norm = call.norms[i]
        if len(norm.text) < MIN_CHARS:
            return True  # a lone mark or emoji: nothing for a model to judge
        bar = self.question_threshold
        if bar is not None and p < bar and _ends_asking(norm) and not (
                self.question_challenge is not None and self.question_challenge.matcher.find(norm)):
            return True
        hedges = self.__pydantic_private__["_hedges"]
        if hedges is not None and hedges.within(norm):
            return True
        if self.unless_question and self._asks(call.segments[i].text, norm):
            return True
        vm = self.__pydantic_private__["_veto_model"]
        if vm is not None and call.probabilities(vm)[i] >= self.veto_model.threshold:
            return True
        if self.veto_after is not None and self._after_vetoed(call, i):
            return True
        if self.veto_model_all is not None and self._sure_vetoed(call, i):
            return True
        return any(m.matcher.find(norm) for m in self.vetoes) or self._all_vetoed(call, i)

    def _asks(self, text: str, norm) -> bool:
        """Whether the utterance ends in a question, not counting trailing clauses in which
        ``question_tail`` finds something (a template offer of more help after a commitment),
        back to the clause where such a hit begins."""
        if not (text.rstrip().endswith(("?", "？")) or norm.text.endswith(("吗", "么"))):
            return False
        tail = self.question_tail
        if tail is None:
            return True
        hits = tail.matcher.find(norm)
        end = len(norm.text)
        while end > 0:
            start, stop = norm.clause(end - 1)
            # a hit reaching into this clause (an offer may run across a recogniser's space or a comma)
            inside = [h for h in hits if h.end > start and h.start < end]
            if not inside:
                return norm.is_question(start, min(stop, end))
            end = min(start, norm.clause(min(h.start for h in inside))[0])
        return True

    def _all_vetoed(self, call: Call, i: int) -> bool:
        norm = call.norms[i]
        return any(m.matcher.find(norm) for m in self.vetoes_all)

    def _after_vetoed(self, call: Call, i: int) -> bool:
        after = self.veto_after
        if not after.match.matcher.find(call.norms[i]):
            return False
        other = "customer" if call.segments[i].speaker == "agent" else "agent"
        before = call.turns_before(other, i, after.turns)
        if not before:
            return False
        probs = call.probabilities(self.__pydantic_private__["_after_model"])
        veto = after.veto
        return any(probs[j] >= after.threshold and (veto is None or not veto.matcher.find(call.norms[j]))
                   for turn in before for j in turn)

    def _sure_vetoed(self, call: Call, i: int) -> bool:
        sure = self.veto_model_all
        if call.probabilities(self.__pydantic_private__["_sure_model"])[i] < sure.threshold:
            return False
        return sure.unless is None or not sure.unless.matcher.find(call.norms[i])

    @property
    def veto_text_models(self) -> list[TextModel]:
        p = self.__pydantic_private__
        return [m for m in (p["_veto_model"], p["_after_model"], p["_sure_model"]) if m is not None]


def evidence(call: Call, found: Found, note: str = ""):
    """Evidence for one utterance that counted; a model's judgment carries its probability (and,
    where it counted only with others that add up, how many lines did: 3 句合计)."""
    if found.probability is not None:
        judged = f"模型 {found.model} 判定 p={found.probability:.2f}"
        if found.together:
            judged += f"（{found.together} 句合计）"
        note = f"{note} · {judged}" if note else judged
    return call.evidence(found.index, found.hit, note)

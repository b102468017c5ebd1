"""The one table of rule types: ``type`` → (rubric model, check). Add a type here and nowhere else."""

from __future__ import annotations

from typing import Annotated, Callable, Optional, Union

from pydantic import Field, PrivateAttr

from qa_scorer.rubric.call import Call, Outcome
from qa_scorer.rubric.checks import classifier, conditional, hold, interruption, phrase, speech_rate
from qa_scorer.rubric.schema import ItemBase, Match, RubricBase, Scope
from qa_scorer.textmodel import ModelBank, TextModel

_MODULES = (phrase, classifier, conditional, interruption, hold, speech_rate)

CHECKS: dict[type, Callable[[ItemBase, Call], Outcome]] = {m.Item: m.run for m in _MODULES}
# What an item's phrase matchers search in every call: (matchers, speaker, scope) as
# ``Call.select`` reads them, and ``within``: None, or a function (call, selected segments) ->
# the segments of those worth searching ahead (the checks search any others they look at);
# rule types without ``searches`` search as they go.
Search = tuple[list[Match], str, Optional[Scope], Optional[Callable[[Call, list[int]], list[int]]]]
SEARCHES: dict[type, Callable[[ItemBase], list[Search]]] = {
    m.Item: m.searches for m in _MODULES if hasattr(m, "searches")}
RULE_TYPES: list[str] = [m.Item.model_fields["type"].annotation.__args__[0] for m in _MODULES]

AnyItem = Annotated[Union[tuple(m.Item for m in _MODULES)], Field(discriminator="type")]


class Rubric(RubricBase):
    """A validated rubric; build it with :func:`qa_scorer.rubric.loader.load_rubric`."""

    items: list[AnyItem] = Field(min_length=1)
    # Set by the loader: a hash of the rubric's text, so history keeps versions apart.
    version: str = ""
    _bank: ModelBank = PrivateAttr(default_factory=lambda: ModelBank([]))

    def compile(self) -> None:
        ctx = self.context()
        for item in self.items:
            item.compile(ctx)
        self.bank_models()

    def bank_models(self) -> None:
        """Gather the compiled items' text models into the rubric's :attr:`model_bank`."""
        self._bank = ModelBank(self.text_models())

    def text_models(self) -> list[TextModel]:
        """Every text model the rubric's items use (a classifier item, a conditional's sides, and
        the models that veto them); one used twice is listed twice (the bank keeps one of each)."""
        out: list[TextModel] = []
        for item in self.items:
            for side in (item, getattr(item, "trigger", None), getattr(item, "response", None)):
                out.extend(getattr(side, "text_models", None) or ())
                out.extend(getattr(side, "veto_text_models", None) or ())
        return out

    @property
    def model_bank(self) -> ModelBank:
        """The models' weights in one table per feature set (see :class:`ModelBank`)."""
        return self.__pydantic_private__["_bank"]

    def hotwords(self, limit: int = 40) -> list[str]:
        """Distinct phrases the rubric listens for, shortest lists first (bounded)."""
        ctx = self.context()
        out: dict[str, None] = {}
        for item in self.items:
            for p in item.phrases(ctx):
                if 2 <= len(p) <= 12:
                    out.setdefault(p, None)
        return list(out)[:limit]

    def item(self, item_id: str) -> ItemBase:
        for it in self.items:
            if it.id == item_id:
                return it
        raise KeyError(item_id)


def run_check(item: ItemBase, call: Call) -> Outcome:
    return CHECKS[type(item)](item, call)

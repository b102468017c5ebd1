"""Typed records shared by every stage: transcripts in, scorecards out.

Transcript format v1 is defined here (and published as JSON Schema in
``schema/transcript-v1.json``). Every other stage reads or writes these records.
"""

from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Speaker = Literal["agent", "customer"]
Channel = Literal["phone", "chat"]
Status = Literal["pass", "fail", "na"]
Kind = Literal["required", "prohibited", "reward", "fatal"]

_SPEAKER_ALIASES = {
    "agent": "agent", "客服": "agent", "坐席": "agent", "staff": "agent", "rep": "agent",
    "customer": "customer", "客户": "customer", "顾客": "customer", "用户": "customer",
    "client": "customer", "caller": "customer",
}


class Word(BaseModel):
    model_config = ConfigDict(extra="ignore")
    word: str
    start: float
    end: float
    probability: Optional[float] = None


class Segment(BaseModel):
    """One utterance (or chat message) by one speaker."""

    model_config = ConfigDict(extra="ignore")
    speaker: Speaker
    text: str
    start: Optional[float] = Field(default=None, ge=0)
    end: Optional[float] = Field(default=None, ge=0)
    words: Optional[list[Word]] = None
    # How sure the speaker role is (1.0 for a stereo channel, lower for mono separation).
    speaker_confidence: Optional[float] = Field(default=None, ge=0, le=1)

    @field_validator("speaker", mode="before")
    @classmethod
    def _speaker_alias(cls, v: Any) -> Any:
        if isinstance(v, str):
            return _SPEAKER_ALIASES.get(v.strip().lower(), v)
        return v

    @model_validator(mode="after")
    def _times_ordered(self) -> "Segment":
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError(f"end ({self.end}) is before start ({self.start})")
        return self


class Transcript(BaseModel):
    """Transcript format v1: one call or chat."""

    model_config = ConfigDict(extra="allow")
    version: Literal[1] = 1
    call_id: str = Field(min_length=1)
    agent_id: str = "unknown"
    channel: Channel = "phone"
    started_at: Optional[str] = None
    audio: Optional[str] = None
    segments: list[Segment]
    # Extra facts about the call (manifest columns, transcription settings, ...).
    metadata: dict[str, Any] = Field(default_factory=dict)

    @property
    def timed(self) -> bool:
        """True when every segment has start and end times."""
        return bool(self.segments) and all(
            s.start is not None and s.end is not None for s in self.segments
        )

    @property
    def duration(self) -> Optional[float]:
        ends = [s.end for s in self.segments if s.end is not None]
        return max(ends) if ends else None


class Evidence(BaseModel):
    """Where a judgment comes from: a segment and the matched text, or the window searched."""

    model_config = ConfigDict(frozen=True)
    segment: Optional[int] = None  # index into Transcript.segments
    speaker: Optional[Speaker] = None
    start: Optional[float] = None
    end: Optional[float] = None
    text: str = ""  # the matched text as it appears in the segment
    span: Optional[tuple[int, int]] = None  # character offsets into the segment's text
    note: str = ""


class ItemDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")
    what: str = ""
    why: str = ""
    example: str = ""
    instead: str = ""


class ItemResult(BaseModel):
    id: str
    name: str = ""
    kind: Kind
    status: Status
    points: float = 0  # effect on the score: negative deduction, positive bonus, 0
    weight: float = 0  # the item's points in the rubric
    evidence: list[Evidence] = Field(default_factory=list)
    reason: str = ""
    doc: ItemDoc = Field(default_factory=ItemDoc)

    @property
    def flagged(self) -> bool:
        """What a reviewer would mark: a failure, or a reward earned."""
        return self.status == "pass" if self.kind == "reward" else self.status == "fail"


class Scorecard(BaseModel):
    call_id: str
    agent_id: str
    channel: Channel = "phone"
    started_at: Optional[str] = None
    audio: Optional[str] = None
    source: Optional[str] = None
    duration: Optional[float] = None
    rubric_id: str
    rubric_version: str
    base: float = 100
    score: float
    bonus: float = 0
    fatal: bool = False
    items: list[ItemResult]

    def item(self, item_id: str) -> ItemResult:
        for it in self.items:
            if it.id == item_id:
                return it
        raise KeyError(item_id)


class InputError(BaseModel):
    """One input that could not be processed; the batch goes on without it."""

    path: str
    message: str

"""Typed records shared by every stage: transcripts in, scorecards out.

Transcript format v1 is defined here (and published as JSON Schema in
``schema/transcript-v1.json``). Every other stage reads or writes these records.
"""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any, Callable, Literal, Optional, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

Speaker = Literal["agent", "customer"]
Channel = Literal["phone", "chat"]
Status = Literal["pass", "fail", "na"]
Kind = Literal["required", "prohibited", "reward", "fatal"]

# What a judgment means, defined once for scoring, the history, the reports and evaluation.
REWARD_KINDS: frozenset[str] = frozenset({"reward"})  # a passed item of these kinds earns a bonus
PENALTY_KINDS: frozenset[str] = frozenset({"prohibited", "fatal"})  # a failed one is a penalty


def is_reward(kind: str, status: str) -> bool:
    """A reward earned: a reward item that passed."""
    return kind in REWARD_KINDS and status == "pass"


def is_failure(kind: str, status: str) -> bool:
    """A failure to work on, which costs points: any item but a reward that failed (a reward
    not earned is not a failure)."""
    return status == "fail" and kind not in REWARD_KINDS


def is_penalty(kind: str, status: str) -> bool:
    """A penalty: a prohibited or fatal item that failed (something said that must not be)."""
    return kind in PENALTY_KINDS and status == "fail"


def is_flagged(kind: str, status: str) -> bool:
    """What a reviewer would mark: a failure, or a reward earned."""
    return is_reward(kind, status) or is_failure(kind, status)


class Judged:
    """The readings of an item's ``kind`` and ``status`` above, for every record that carries
    both (an item result, a stored item count, a report's item reference)."""

    __slots__ = ()
    kind: str
    status: str

    @property
    def flagged(self) -> bool:
        """What a reviewer would mark: a failure, or a reward earned."""
        return is_flagged(self.kind, self.status)

    @property
    def failed(self) -> bool:
        """A failure to work on (see ``is_failure``)."""
        return is_failure(self.kind, self.status)

    @property
    def rewarded(self) -> bool:
        """A reward earned."""
        return is_reward(self.kind, self.status)

    @property
    def penalty(self) -> bool:
        """A prohibited or fatal item that failed."""
        return is_penalty(self.kind, self.status)


# The reason every item of a call without speech carries (see score.score_transcript).
NO_SPEECH_REASON = "无有效语音 no speech in this call: nothing to judge"
# What the reason of a reward item not earned starts with (its status is then na: no failure,
# but the item was judged, so the reports count it among the calls a reward was tried on).
UNEARNED_PREFIX = "未获得："


# The names other exports give the two sides (a shop platform's 卖家 / 买家, a call system's
# 话务员 / 来电人, a chat tool's support / visitor). An automated sender (bot, 机器人, system) is
# not taken for either side: its lines are the company's, not the agent's own words.
_SPEAKER_ALIASES = {
    "agent": "agent", "客服": "agent", "坐席": "agent", "staff": "agent", "rep": "agent",
    "人工客服": "agent", "客服人员": "agent", "坐席员": "agent", "话务员": "agent", "售后": "agent",
    "卖家": "agent", "商家": "agent", "店家": "agent", "工作人员": "agent",
    "seller": "agent", "merchant": "agent", "support": "agent", "operator": "agent", "店小二": "agent",
    "小二": "agent", "customer service": "agent", "customer_service": "agent", "cs": "agent",
    "customer": "customer", "客户": "customer", "顾客": "customer", "用户": "customer",
    "client": "customer", "caller": "customer", "买家": "customer", "访客": "customer",
    "来电人": "customer", "来电者": "customer", "消费者": "customer",
    "buyer": "customer", "visitor": "customer", "user": "customer", "consumer": "customer",
    "会员": "customer", "乘客": "customer", "持卡人": "customer", "机主": "customer", "业主": "customer",
}

# An automated sender's name: a Latin word of its own (bot, IVR: not Talbot, tb_bottle88, an
# ecosystem fan), one of a few whole names (system, assistant: not assistant manager), or a Chinese
# name that starts or ends so (智能客服小星, 系统消息, 小蜜机器人: not 系统工程师).
_AUTOMATED_WORDS = frozenset({"bot", "robot", "chatbot", "ivr"})
_AUTOMATED_NAMES = frozenset({"system", "assistant", "ai", "ai assistant", "virtual assistant", "auto reply",
                              "autoreply", "auto-reply", "系统", "机器人"})
_AUTOMATED_STARTS = ("机器人", "智能客服", "智能助手", "智能助理", "自动客服", "自动回复", "ai客服", "ai助手",
                     "系统消息", "系统通知", "系统提示", "系统自动")
_AUTOMATED_ENDS = ("机器人", "智能客服", "自动回复", "系统消息", "系统通知")


# A platform's handle for a customer: the role word and an id after it (用户_7731, 星联用户139****5521,
# 会员No.88); a shop's sub-account: a shop's or a desk's name and the agent's after a colon
# (棉花糖家居旗舰店:小桃, 客户服务中心:小王; not Re:Zero or 微信:wxid_8k2j1).
_CUSTOMER_HANDLE = re.compile(r"(?:客户|顾客|用户|买家|会员|访客)[\s_\-#:：.]*(?:no\.?|id)?[\s_\-#:：.]*[0-9*＊xX]+$")
_SUB_ACCOUNT = re.compile(r"^[^:：]*(店|旗舰|专营|专卖|官方|公司|商城|商行|工作室|服务中心|服务部|客服部|售后部)[^:：]*[:：][^:：]+$")
# The company's staff by title (客户经理 / 客户代表 / 客户服务专员): read as the agent, but too weak to
# decide the other name of a conversation (王经理 may be a customer addressed by title)
_STAFF_TITLES = ("经理", "代表", "专员", "顾问", "主管")


def automated_sender(name: str) -> bool:
    """Whether a speaker name is a bot's or the system's (bot, 机器人, 智能客服小星, 系统消息, IVR)."""
    key = name.strip().lower()
    if key in _SPEAKER_ALIASES:
        return False
    return (key in _AUTOMATED_NAMES or bool(_AUTOMATED_WORDS & set(re.split(r"[^a-z0-9]+", key)))
            or key.startswith(_AUTOMATED_STARTS) or key.endswith(_AUTOMATED_ENDS))


def _role(name: str) -> tuple[str, bool]:
    """(role, whether the name says it outright) of a speaker name, or ValueError."""
    key = name.strip().lower()
    if key in _SPEAKER_ALIASES:
        return _SPEAKER_ALIASES[key], True
    if automated_sender(name):
        raise ValueError(f"{name!r} is an automated sender, not the agent or the customer: leave its "
                         "lines out, or give them as agent if the agent wrote them")
    if _SUB_ACCOUNT.match(key):
        return "agent", True
    if any(w in key for w in ("客服", "坐席", "话务员")):
        return "agent", True
    if any(w in key for w in _STAFF_TITLES):
        return "agent", False
    for role, words in (("agent", ("售后",)), ("customer", ("客户", "顾客", "用户", "买家"))):
        if key.startswith(words) or key.endswith(words):
            return role, True
    if _CUSTOMER_HANDLE.search(key):
        return "customer", True
    raise ValueError(f"{name!r} is not a speaker: use agent or customer (客服/坐席/卖家/support… and "
                     "客户/顾客/用户/买家/visitor… are read as them)")


def speaker_role(name: str) -> str:
    """``agent`` or ``customer`` for a speaker name an export may use: the two words, the names
    in ``_SPEAKER_ALIASES``, an agent's or customer's name with its role before or after it
    (客服小美, 客服-小王, 在线客服, 用户123), a staff title (客户经理), a platform's customer handle
    (用户_7731) and a shop's sub-account (店铺名:小桃). Anything else is refused with a message that
    names it; so is an automated sender here (``Transcript`` reads one as the agent's side, marked
    ``automated``)."""
    return _role(name)[0]


_PLAIN_SPEAKERS = frozenset({"agent", "customer"})


def two_party_names(names: list[str]) -> dict[str, str]:
    """Roles for the speaker names of one conversation that ``speaker_role`` cannot read, where
    the others tell: one unknown name beside names that say outright they are one side only is
    the other side (a chat export names the customer by nickname, tb_小猪88, beside 客服小桃). A
    name read by a staff title only (王经理) decides nothing; automated senders are left out;
    empty when that does not decide (two unknown names, or both sides known)."""
    known: set[str] = set()
    unknown: list[str] = []
    weak = False
    for name in dict.fromkeys(n.strip() for n in names):
        if automated_sender(name):
            continue
        try:
            role, outright = _role(name)
        except ValueError:
            unknown.append(name)
            continue
        known.add(role)
        weak = weak or not outright
    if len(unknown) == 1 and len(known) == 1 and not weak:
        return {unknown[0]: "customer" if known == {"agent"} else "agent"}
    return {}


# The largest time a segment may give, in seconds: room for clock times (epoch seconds, about
# 1.7e9), none for milliseconds or absurd values (1.7e308 showed a call 300 digits long).
MAX_SECONDS = 1e10

# Validation context for records read back from the history: they were checked on the way in,
# and a rule added since (stricter ids or dates) must not make an older stored call unreadable.
STORED = {"stored": True}


def _stored(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("stored"))


# Free-form JSON kept with a transcript (metadata, extra top-level fields) may nest this deep.
MAX_JSON_DEPTH = 64
# Control characters (C0, DEL and C1: a terminal may take U+009B for an escape sequence), the
# Unicode line and paragraph separators, and the bidirectional embedding, override and isolate
# marks (which make an id read differently than it is, in a terminal or a page).
_CONTROL = (frozenset(chr(c) for c in range(32)) | {"\x7f"} | frozenset(chr(c) for c in range(0x80, 0xA0))
            | frozenset("\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))


# The same characters, to find them in text shown on a terminal.
control_characters = re.compile("[" + "".join(sorted(re.escape(c) for c in _CONTROL)) + "]")


# Characters that show nothing though they are letters or symbols: the Hangul fillers and the
# blank braille pattern (a name of only these would read as blank in every list).
_BLANK = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def _visible(value: str) -> bool:
    """Whether some character of ``value`` shows: not a space, a control, a format character
    (zero-width space and joiners, direction marks, the byte-order mark, tags), a mark with no
    letter to sit on (a variation selector, the combining grapheme joiner), an unassigned or
    private-use code point, or a blank."""
    return any(not c.isspace() and c not in _BLANK and unicodedata.category(c) not in _UNSEEN for c in value)


_UNSEEN = frozenset({"Cc", "Cf", "Cn", "Co", "Cs", "Mn", "Me", "Zs", "Zl", "Zp"})


def check_call_id(value: str) -> str:
    """A call id must have visible characters and no line breaks or other control characters
    (it names files, pages and history rows). Raises ValueError saying what is wrong."""
    if not value.strip():
        raise ValueError("must not be empty or only whitespace")
    if not _visible(value):
        raise ValueError("must have a visible character (found only invisible ones: "
                         + ", ".join(f"U+{ord(c):04X}" for c in dict.fromkeys(value)) + ")")
    bad = sorted({c for c in value if c in _CONTROL})
    if bad:
        raise ValueError("must not contain line breaks or control characters (found "
                         + ", ".join(repr(c) for c in bad) + ")")
    return value


def check_agent_id(value: str) -> str:
    """An agent id names a folder and heads pages: visible characters, no line breaks or other
    control characters."""
    if any(c in _CONTROL for c in value):
        raise ValueError("must not contain line breaks or control characters")
    if not _visible(value):
        raise ValueError("must have a visible character (found only blanks or invisible ones)")
    return value


def check_started_at(value: str) -> str:
    """``started_at`` must be an ISO 8601 date or date-time (``2026-11-02``,
    ``2026-11-02T10:15:00+08:00``, ``...Z``). Returns it unchanged; raises ValueError otherwise."""
    text = value.strip()
    try:
        datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 date or date-time (like 2026-11-02T10:15:00+08:00)") from None
    return value


def json_value_problem(value: Any, path: str) -> Optional[tuple[str, str]]:
    """The first (JSON path, problem) in free-form JSON that the history cannot keep: a number
    that is not finite (NaN, Infinity), a string with a lone surrogate, or nesting deeper than
    ``MAX_JSON_DEPTH``. None when the value is fine. Iterative: any depth is safe to check."""
    stack: list[tuple[Any, str, int]] = [(value, path, 0)]
    while stack:
        v, where, depth = stack.pop()
        if isinstance(v, float):
            if not math.isfinite(v):
                return where, "Input should be a finite number"
        elif isinstance(v, str):
            if has_surrogate(v):
                return where, "Input should be valid Unicode text (found a lone surrogate)"
        elif isinstance(v, (dict, list, tuple)):
            if depth >= MAX_JSON_DEPTH:
                return where, f"nested more than {MAX_JSON_DEPTH} levels deep"
            if isinstance(v, dict):
                for k, x in v.items():
                    if isinstance(k, str) and has_surrogate(k):
                        return where, "key should be valid Unicode text (found a lone surrogate)"
                    stack.append((x, f"{where}.{k}", depth + 1))
            else:
                for i, x in enumerate(v):
                    stack.append((x, f"{where}[{i}]", depth + 1))
    return None


def has_surrogate(s: str) -> bool:
    """Whether a string holds a lone surrogate (text that cannot be written as UTF-8)."""
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _json_value_error(value: Any, path: str) -> None:
    found = json_value_problem(value, path)
    if found is not None:
        where, problem = found
        raise PydanticCustomError("json_value", "{problem}", {"path": where, "problem": problem})


_Model = TypeVar("_Model", bound=BaseModel)
_set = object.__setattr__  # past pydantic's own __setattr__ (and frozen records' refusal)


def trusted(cls: type[_Model], **fields: Any) -> _Model:
    """``cls.model_construct(**fields)`` for a record whose fields are all given and already
    valid (taken from a validated rubric and transcript): the same object, without pydantic's
    walk over every field's aliases and defaults, which cost scoring more than building the rest
    of its evidence and item results. Every field of ``cls`` must be named (KeyError otherwise);
    they are kept in the class's order, which is the order they are written out in."""
    record = cls.__new__(cls)
    known = _FIELDS.get(cls)
    names, pick, name_set = known if known is not None else _fields_of(cls)
    # Named in the class's order (as every caller does), the keyword arguments' own dict (a
    # new one each call) is the record's; otherwise it is made in that order.
    values = fields if tuple(fields) == names else dict(zip(names, pick(fields)))
    _set(record, "__dict__", values)
    _set(record, "__pydantic_fields_set__", set(name_set))
    _set(record, "__pydantic_extra__", None)
    _set(record, "__pydantic_private__", None)
    return record


# _fields_of's answers by class, read first: a dict lookup costs less than the cache's call
_FIELDS: dict[type, tuple[tuple[str, ...], Callable[[dict], tuple], frozenset[str]]] = {}


@lru_cache(maxsize=64)  # one entry per record class
def _fields_of(cls: type[BaseModel]) -> tuple[tuple[str, ...], Callable[[dict], tuple], frozenset[str]]:
    """A record class's field names, in order, a function that picks their values (in that
    order) from a dict of them, raising KeyError for a missing one, and the names as a set."""
    names = tuple(cls.__pydantic_fields__)
    if len(names) > 1:
        got = names, itemgetter(*names), frozenset(names)
    else:
        got = names, lambda values: tuple(values[name] for name in names), frozenset(names)
    _FIELDS[cls] = got
    return got


def updated(record: _Model, **changes: Any) -> _Model:
    """``record.model_copy(update=changes)``, made directly for a record without extra or
    private values (scoring re-makes a few item results per call with their points, and
    model_copy's general path cost more than the rest of the tally)."""
    if record.__pydantic_extra__ is not None or record.__pydantic_private__ is not None:
        return record.model_copy(update=changes)
    cls = type(record)
    copy = cls.__new__(cls)
    _set(copy, "__dict__", {**record.__dict__, **changes})
    _set(copy, "__pydantic_extra__", None)
    _set(copy, "__pydantic_fields_set__", record.__pydantic_fields_set__ | changes.keys())
    _set(copy, "__pydantic_private__", None)
    return copy


class Word(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)
    word: str
    start: float
    end: float
    probability: Optional[float] = None


class Segment(BaseModel):
    """One utterance (or chat message) by one speaker."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)
    speaker: Speaker
    text: str
    start: Optional[float] = Field(default=None, ge=0)
    end: Optional[float] = Field(default=None, ge=0)
    words: Optional[list[Word]] = None
    # How sure the speaker role is (1.0 for a stereo channel, lower for mono separation).
    speaker_confidence: Optional[float] = Field(default=None, ge=0, le=1)
    # Sent by a bot or the system on the company's side (an export's 机器人 / 智能客服 / 系统消息):
    # shown with the agent's lines, judged as nobody's words.
    automated: Optional[bool] = None

    @field_validator("speaker", mode="before")
    @classmethod
    def _speaker_alias(cls, v: Any) -> Any:
        if isinstance(v, str):
            return speaker_role(v)
        return v

    @field_validator("start", "end")
    @classmethod
    def _seconds(cls, v: Optional[float], info: ValidationInfo) -> Optional[float]:
        if v is not None and v > MAX_SECONDS and not _stored(info):
            raise ValueError(f"{v:g} is more than {MAX_SECONDS:.0e} seconds: times are seconds (from the call's "
                             "start, or a clock time in seconds), not milliseconds")
        return v

    @model_validator(mode="after")
    def _times_ordered(self) -> "Segment":
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError(f"end ({self.end}) is before start ({self.start})")
        return self


class Transcript(BaseModel):
    """Transcript format v1: one call or chat."""

    # Every number must be finite (no NaN or Infinity): a transcript is refused here, naming
    # the JSON path, rather than poisoning the history.
    model_config = ConfigDict(extra="allow", allow_inf_nan=False)
    version: Literal[1] = 1
    call_id: str = Field(min_length=1)
    agent_id: str = "unknown"
    channel: Channel = "phone"
    started_at: Optional[str] = None
    audio: Optional[str] = None
    segments: list[Segment]
    # Extra facts about the call (manifest columns, transcription settings, ...).
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _speaker_names(cls, data: Any) -> Any:
        """An export's own speaker names: an automated sender's lines go to the agent's side marked
        ``automated``; the one name no rule reads, beside names of one side only, is the other side
        (``two_party_names``), kept in ``metadata.speaker_names``. Nothing to do, and no cost, when
        every segment says agent or customer."""
        if not isinstance(data, dict) or not isinstance(data.get("segments"), list):
            return data
        names = {s["speaker"] for s in data["segments"] if isinstance(s, dict) and isinstance(s.get("speaker"), str)}
        if names <= _PLAIN_SPEAKERS:
            return data
        bots = {n for n in names if automated_sender(n)}
        roles = two_party_names(list(names))
        if not roles and not bots:
            return data

        def named(seg: Any) -> Any:
            if not isinstance(seg, dict) or not isinstance(seg.get("speaker"), str):
                return seg
            if seg["speaker"] in bots:
                return {**seg, "speaker": "agent", "automated": True}
            role = roles.get(seg["speaker"].strip())
            return {**seg, "speaker": role} if role else seg

        segments = [named(s) for s in data["segments"]]
        if not roles:
            return {**data, "segments": segments}
        meta = {} if data.get("metadata") is None else data["metadata"]
        if isinstance(meta, dict):  # (anything else is refused as it is)
            before = meta.get("speaker_names")
            meta = {**meta, "speaker_names": {**before, **roles} if isinstance(before, dict) else roles}
        return {**data, "segments": segments, "metadata": meta}

    @field_validator("call_id")
    @classmethod
    def _call_id(cls, v: str, info: ValidationInfo) -> str:
        return v if _stored(info) else check_call_id(v)

    @field_validator("agent_id")
    @classmethod
    def _agent_id(cls, v: str, info: ValidationInfo) -> str:
        return v if _stored(info) else check_agent_id(v)

    @field_validator("started_at")
    @classmethod
    def _started_at(cls, v: Optional[str], info: ValidationInfo) -> Optional[str]:
        if v is None or _stored(info):
            return v
        return check_started_at(v) if v.strip() else None

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, v: dict[str, Any]) -> dict[str, Any]:
        _json_value_error(v, "$.metadata")
        return v

    @model_validator(mode="after")
    def _extra_fields(self) -> "Transcript":
        if self.model_extra:
            _json_value_error(self.model_extra, "$")
        return self

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

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)
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


class ItemResult(Judged, BaseModel):
    """One item's judgment on one call. Frozen: a changed judgment is a new record
    (``model_copy(update=...)``), never an edit of one already handed out."""

    model_config = ConfigDict(allow_inf_nan=False, frozen=True)
    id: str
    name: str = ""
    kind: Kind
    status: Status
    points: float = 0  # effect on the score: negative deduction, positive bonus, 0
    weight: float = 0  # the item's points in the rubric
    evidence: list[Evidence] = Field(default_factory=list)
    reason: str = ""
    doc: ItemDoc = Field(default_factory=ItemDoc)


class Scorecard(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False)
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
    # True when the call has no speech to judge (no segment with any words): every item is
    # na and the score is the base, which says nothing about the agent. 无有效语音.
    no_speech: bool = False
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

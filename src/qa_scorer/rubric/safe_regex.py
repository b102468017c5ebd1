"""Rubric regexes that cannot hang scoring: refused at load, or run with a bounded cost.

Every ``regex`` / ``exclude_regex`` entry of a rubric goes through :func:`plan` when the rubric
is loaded. A pattern is refused (the loader reports it at its ``file:line:col``) when it

* uses a back reference (``\\1``, ``(?P=name)``) or a conditional group: matching those needs a
  backtracking search whose cost has no useful bound;
* can match the empty string (``''``, ``a*``, ``(?=x)``): every position would be a hit;
* has *catastrophic backtracking*: a repeated part that can match the same text in more than
  one way (``(a+)+$``, ``(a|a)*b``, ``(.*)*x``, ``(a|aa)+``, ``(\\d+\\w*)+``). This is decided
  on the pattern's position automaton (Glushkov), with each transition counted as often as
  the pattern allows it (``(a*)*`` has ``a -> a`` twice): such a pattern is exponentially
  ambiguous, i.e. some state ``p`` has two different paths back to itself reading the same
  text, which shows in the automaton's product with itself as a strongly connected component
  holding a pair ``(p, p)`` and either a pair ``(q, r)``, ``q != r``, or a doubled transition
  (Weber and Seidl). The automaton may only have more paths than the matcher: zero-width parts
  (anchors, lookarounds) count as always passing, every repeat of two or more counts as a
  loop and a part that can match empty as a second way round it, so nothing ambiguous slips
  through (and ``(a?)*`` is refused with the rest); lookaround bodies are checked on their own.

What passes is then run in one of two ways, and neither can blow up:

1. Open-ended repeats (``*``, ``+``, ``{n,}``) are first capped: they match at most
   ``REPEAT_CAP`` times more than their minimum. Every repeat in the pattern is then bounded,
   so the pattern matches at most ``width`` characters from any position.
2. Python's ``re`` (the engine rubrics were written for, needed for lookarounds and ``\\b``)
   runs the pattern when a static bound on its backtracking work from one start position,
   :func:`_cost`, is at most ``COST_BUDGET`` steps. The bound is sound: a backtracking
   matcher explores, for a sequence ``A B``, ``A``'s attempts plus ``B``'s attempts once for
   every way ``A`` can end (``ways(A)``); for alternatives, the attempts of each (literal
   alternatives that can all match at one position must be prefixes of one another, so only
   the longest such chain counts); for a bounded repeat ``X{m,n}``, at most ``ways(X)**k``
   paths reach the k-th iteration, and when ``X`` is one character class and the next item a
   character outside it (``\\w+\\s``), all ways but one fail on that character at once; a
   lookaround is tried in full but succeeds in one way.
   ``finditer`` starts at most once per text position, so a text of ``n`` characters costs at
   most ``n * COST_BUDGET`` steps: linear.
3. Otherwise the pattern runs on RE2 (``google-re2``), an automaton engine whose search time
   is linear in the text it reads, whatever the pattern: at most the program size (capped at
   ``MAX_RE2_PROGRAM`` instructions; repeats are unrolled, so RE2 also refuses more than
   1,000 nested repetitions) per character, and one step per character while its DFA (given
   ``RE2_MEMORY``, or ``RE2_MEMORY_PER_INSTRUCTION`` a program instruction up to
   ``RE2_MEMORY_MAX``) holds. RE2 reads past a match only while a longer match is still possible,
   at most ``width`` <= ``MAX_WIDTH`` characters, so finding all ``k`` matches reads at most
   ``n + k * MAX_WIDTH`` characters: linear again. Patterns RE2 cannot run with Python's
   meaning (lookarounds, ``\\b``, a character class holding a negated ``\\S``/``\\W`` among
   other members) or whose automaton is too large, and too costly for step 2, are refused
   with the bound in the message. The translation keeps Python's Unicode meaning of ``\\d``
   (``\\p{Nd}``), ``\\w`` and ``\\s``; both engines use leftmost-first semantics, so they find
   the same matches.

A matcher's patterns run on one engine whenever they can (all on Python's re, or all on RE2),
so their matches are those of one pattern joined with ``|``: leftmost first, no overlaps.
Groups are always compiled non-capturing (matching never reads them, and capturing groups
make both engines slower).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate
from typing import Iterator, Optional

try:  # Python 3.11+
    from re import _constants as C
    from re import _parser as P
except ImportError:  # pragma: no cover - Python 3.10
    import sre_constants as C
    import sre_parse as P

REPEAT_CAP = 100
COST_BUDGET = 20_000
MAX_WIDTH = 2_000
MAX_LOOP_POSITIONS = 400
MAX_PRODUCT_EDGES = 2_000_000
RE2_MEMORY = 64 << 20
# Bytes of automaton memory per program instruction, where that is more than RE2_MEMORY: a
# DFA state holds up to one entry per instruction, so a large program (a matcher's many
# patterns joined, their capped repeats unrolled) fits only a few hundred states in 64 MiB;
# its DFA then keeps throwing its states away and rebuilding them, dozens of times slower
# than with room for a thousand or so. The budget is a ceiling: memory is taken as states
# are made (a whole batch of real chats adds a few MiB).
RE2_MEMORY_PER_INSTRUCTION = 4 << 10
# ... and no more than this for one program, however large (a rubric's own list of tens of
# thousands of phrases makes a trie program that MAX_RE2_PROGRAM does not bound)
RE2_MEMORY_MAX = 512 << 20
MAX_RE2_PROGRAM = 100_000
_BIG = 10 ** 15

_ATOMS = (C.LITERAL, C.NOT_LITERAL, C.ANY, C.IN)
_REPEATS = tuple(getattr(C, name) for name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT") if hasattr(C, name))
_ATOMIC = getattr(C, "ATOMIC_GROUP", None)
_UNBOUNDED = C.MAXREPEAT
_MAXCHAR = sys.maxunicode


class Unsupported(Exception):
    """The pattern cannot be run by RE2 with Python's meaning."""


@dataclass(frozen=True)
class Plan:
    """How one regex may run: ``py`` is the rewritten pattern for Python's re when its cost
    bound allows it, ``re2`` the translation for RE2 when there is one (both non-capturing,
    open repeats capped, the pattern's own flags scoped to it so that plans join with ``|``).
    At least one is set."""

    py: Optional[str]
    re2: Optional[str]
    cost: int
    width: int

    @property
    def engine(self) -> str:
        return "re" if self.py is not None else "re2"


# --- the parse tree --------------------------------------------------------------------------


def _parse(regex: str):
    try:
        return P.parse(regex)
    except Exception as exc:  # re.error and, for pathological input, RecursionError
        raise ValueError(f"invalid regular expression {regex!r}: {exc}") from None


def _walk(items) -> Iterator[tuple]:
    """Every (op, av) in a parse tree, depth first."""
    for op, av in items:
        yield op, av
        if op is C.BRANCH:
            for b in av[1]:
                yield from _walk(b)
        elif op is C.SUBPATTERN:
            yield from _walk(av[-1])
        elif op in _REPEATS:
            yield from _walk(av[2])
        elif op in (C.ASSERT, C.ASSERT_NOT):
            yield from _walk(av[1])
        elif op is _ATOMIC:
            yield from _walk(av)
        elif op is C.GROUPREF_EXISTS:
            yield from _walk(av[1])
            if av[2] is not None:
                yield from _walk(av[2])


def _cap(lo: int, hi: int) -> int:
    return lo + REPEAT_CAP if hi == _UNBOUNDED else hi


# --- writing the tree back out ---------------------------------------------------------------

_FLAG_LETTERS = ((C.SRE_FLAG_IGNORECASE, "i"), (C.SRE_FLAG_MULTILINE, "m"), (C.SRE_FLAG_DOTALL, "s"),
                 (C.SRE_FLAG_ASCII, "a"))


@lru_cache(maxsize=1)
def _space() -> str:
    """The characters Python's \\s matches in a str pattern."""
    return "".join(c for c in map(chr, range(_MAXCHAR + 1)) if c.isspace())


def _flags(add: int, remove: int = 0, for_re2: bool = False) -> str:
    letters = [(f, ch) for f, ch in _FLAG_LETTERS if not (for_re2 and ch == "a")]
    on = "".join(ch for f, ch in letters if add & f)
    off = "".join(ch for f, ch in letters if remove & f)
    return on + ("-" + off if off else "")


def _esc(ch: str, for_re2: bool) -> str:
    if not for_re2:
        return re.escape(ch)
    if 0xD800 <= ord(ch) <= 0xDFFF:
        raise Unsupported("a lone surrogate")
    if ch.isascii() and not ch.isalnum():
        return "\\x{%x}" % ord(ch)
    return ch


_PY_CATEGORY = {C.CATEGORY_DIGIT: r"\d", C.CATEGORY_NOT_DIGIT: r"\D", C.CATEGORY_SPACE: r"\s",
                C.CATEGORY_NOT_SPACE: r"\S", C.CATEGORY_WORD: r"\w", C.CATEGORY_NOT_WORD: r"\W"}


def _re2_category(cat, ascii_only: bool) -> tuple[str, bool]:
    """(class members, negated) for a category: Python's Unicode meaning unless (?a)."""
    if cat in (C.CATEGORY_DIGIT, C.CATEGORY_NOT_DIGIT):
        body = "0-9" if ascii_only else r"\p{Nd}"
    elif cat in (C.CATEGORY_WORD, C.CATEGORY_NOT_WORD):
        body = "0-9A-Za-z_" if ascii_only else r"\p{L}\p{N}_"
    else:
        body = "".join(_esc(c, True) for c in _space() if not ascii_only or c.isascii())
    return body, cat in (C.CATEGORY_NOT_DIGIT, C.CATEGORY_NOT_WORD, C.CATEGORY_NOT_SPACE)


def _class(av, for_re2: bool, ascii_only: bool) -> str:
    negate = False
    parts: list[str] = []
    negated_cats: list[str] = []
    for op, a in av:
        if op is C.NEGATE:
            negate = True
        elif op is C.LITERAL:
            parts.append(_esc(chr(a), for_re2))
        elif op is C.RANGE:
            parts.append(_esc(chr(a[0]), for_re2) + "-" + _esc(chr(a[1]), for_re2))
        elif op is C.CATEGORY:
            if not for_re2:
                parts.append(_PY_CATEGORY[a])
            else:
                body, neg = _re2_category(a, ascii_only)
                (negated_cats if neg else parts).append(body)
        else:
            raise Unsupported(f"class member {op}")
    if negated_cats:
        # RE2 cannot nest a negated class inside another: only [\S] and [^\S] translate.
        if len(negated_cats) > 1 or parts:
            raise Unsupported("a negated \\S, \\W or \\D among other class members")
        return ("[" if negate else "[^") + negated_cats[0] + "]"
    if not parts:
        raise Unsupported("an empty character class")
    return "[" + ("^" if negate else "") + "".join(parts) + "]"


def _write(items, for_re2: bool, ascii_only: bool = False, sieve: bool = False) -> str:
    """The tree as pattern text for Python's re or for RE2 (non-capturing, repeats capped).

    ``sieve`` (with ``for_re2``): the pattern with its zero-width tests left out (lookarounds,
    ``\\b`` and ``\\B``), atomic groups and possessive repeats made plain ones: it matches
    wherever the pattern does, and maybe elsewhere too (see :func:`sieve`)."""
    out: list[str] = []
    for op, av in items:
        if op is C.LITERAL:
            out.append(_esc(chr(av), for_re2))
        elif op is C.NOT_LITERAL:
            out.append("[^" + _esc(chr(av), for_re2) + "]")
        elif op is C.ANY:
            out.append(".")
        elif op is C.IN:
            out.append(_class(av, for_re2, ascii_only))
        elif op is C.BRANCH:
            out.append("(?:" + "|".join(_write(b, for_re2, ascii_only, sieve) for b in av[1]) + ")")
        elif op is C.SUBPATTERN:
            _, add, remove, body = av
            inner_ascii = (ascii_only or bool(add & C.SRE_FLAG_ASCII)) and not remove & C.SRE_FLAG_ASCII
            flags = _flags(add, remove, for_re2)
            out.append("(?" + flags + ":" + _write(body, for_re2, inner_ascii, sieve) + ")")
        elif op in _REPEATS:
            lo, hi, body = av
            hi = _cap(lo, hi)
            if for_re2 and hi > 1000:
                raise Unsupported("a repeat count above 1000")
            possessive = getattr(C, "POSSESSIVE_REPEAT", None) is op
            if for_re2 and possessive and not sieve:
                raise Unsupported("a possessive repeat")
            count = "{%d}" % lo if lo == hi else "{%d,%d}" % (lo, hi)
            if sieve and lo < hi:
                # open, not counted: a smaller automaton, and the sieve need not be exact
                count = "?" if (lo, hi) == (0, 1) else "*" if lo == 0 else "+" if lo == 1 else "{%d,}" % lo
            suffix = "?" if op is C.MIN_REPEAT else "+" if possessive and not for_re2 else ""
            out.append("(?:" + _write(body, for_re2, ascii_only, sieve) + ")" + count + suffix)
        elif op is C.AT:
            if av in (C.AT_BOUNDARY, C.AT_NON_BOUNDARY) and for_re2:
                if sieve:
                    continue
                raise Unsupported("\\b or \\B (RE2's are ASCII-only)")
            out.append({C.AT_BEGINNING: "^", C.AT_BEGINNING_STRING: r"\A", C.AT_END: "$",
                        C.AT_END_STRING: r"\z" if for_re2 else r"\Z", C.AT_BOUNDARY: r"\b",
                        C.AT_NON_BOUNDARY: r"\B"}[av])
        elif op in (C.ASSERT, C.ASSERT_NOT):
            if sieve:
                continue
            if for_re2:
                raise Unsupported("a lookaround")
            direction, body = av
            out.append("(?" + ("<" if direction < 0 else "") + ("=" if op is C.ASSERT else "!")
                       + _write(body, for_re2, ascii_only, sieve) + ")")
        elif op is _ATOMIC:
            if sieve:
                out.append("(?:" + _write(av, for_re2, ascii_only, sieve) + ")")
                continue
            if for_re2:
                raise Unsupported("an atomic group")
            out.append("(?>" + _write(av, for_re2, ascii_only, sieve) + ")")
        else:
            raise Unsupported(str(op))
    return "".join(out)


# --- the backtracking bound ------------------------------------------------------------------


def _literal_text(items) -> Optional[str]:
    if all(op is C.LITERAL for op, _ in items):
        return "".join(chr(av) for _, av in items)
    return None


def _prefix_chain(words: list[str]) -> int:
    """The most words that can all match at one position (each a prefix of the next)."""
    best: dict[str, int] = {}
    for w in sorted(set(words), key=len):
        best[w] = 1 + max((best[w[:k]] for k in range(1, len(w)) if w[:k] in best), default=0)
    return max(best.values(), default=0)


def _cost(items, ignorecase: bool = False) -> tuple[int, int]:
    """(steps, ways): a bound on the backtracking steps to exhaust ``items`` from one
    position, and on the number of different ways (end, path) they can succeed there."""
    items = list(items)
    steps, ways = 0, 1
    for k in range(len(items) - 1, -1, -1):
        op, av = items[k]
        s, w = _cost_one(op, av, ignorecase)
        if w > 1 and k + 1 < len(items) and not ignorecase and _stops_at_next(items[k], items[k + 1]):
            # A repeat of one character class followed by a character outside it: every way
            # but the one that ends where the class's run ends fails at that character at once.
            steps = min(_BIG, s + (w - 1) + steps)
        else:
            steps, ways = min(_BIG, s + w * steps), min(_BIG, w * ways)
    return steps, ways


def _stops_at_next(item, nxt) -> bool:
    op, av = item
    if op not in _REPEATS or len(av[2]) != 1 or av[2][0][0] not in _ATOMS or nxt[0] not in _ATOMS:
        return False
    (body_op, body_av), = av[2]
    # DOTALL: '.' counts as every character, which only makes the sets meet more often.
    return not _meet(_charset(body_op, body_av, C.SRE_FLAG_DOTALL), _charset(nxt[0], nxt[1], C.SRE_FLAG_DOTALL))


def _cost_one(op, av, ignorecase: bool) -> tuple[int, int]:
    if op in _ATOMS or op is C.AT:
        return 1, 1
    if op in (C.ASSERT, C.ASSERT_NOT):
        return _cost(av[1], ignorecase)[0] + 1, 1
    if op is _ATOMIC:
        return _cost(av, ignorecase)[0] + 1, 1
    if op is C.SUBPATTERN:
        _, add, remove, body = av
        return _cost(body, (ignorecase or bool(add & C.SRE_FLAG_IGNORECASE)) and not remove & C.SRE_FLAG_IGNORECASE)
    if op is C.BRANCH:
        steps, ways, words = 1, 0, []
        for b in av[1]:
            s, w = _cost(b, ignorecase)
            steps = min(_BIG, steps + s)
            text = None if ignorecase else _literal_text(b)
            if text:
                words.append(text)
            else:
                ways = min(_BIG, ways + w)
        return steps, min(_BIG, ways + _prefix_chain(words))
    if op in _REPEATS:
        lo, hi, body = av
        hi = _cap(lo, hi)
        s, w = _cost(body, ignorecase)
        if w == 1:  # one way through each iteration
            return min(_BIG, hi + 1 + hi * s), hi - lo + 1
        steps, ways, reach = hi + 1, 0, 1  # reach: paths arriving at the k-th iteration
        for k in range(hi + 1):
            if k >= lo:
                ways = min(_BIG, ways + reach)
            if k < hi:
                steps = min(_BIG, steps + reach * s)
                reach = min(_BIG, reach * w)
            if steps >= _BIG:
                break
        return steps, max(ways, 1)
    raise ValueError(f"unsupported regular expression construct {op}")


# --- catastrophic backtracking: exponential ambiguity ----------------------------------------


@lru_cache(maxsize=16)
def _category_ranges(cat) -> tuple[tuple[int, int], ...]:
    pattern = {C.CATEGORY_DIGIT: r"\d", C.CATEGORY_NOT_DIGIT: r"\D", C.CATEGORY_SPACE: r"\s",
               C.CATEGORY_NOT_SPACE: r"\S", C.CATEGORY_WORD: r"\w", C.CATEGORY_NOT_WORD: r"\W"}[cat]
    text = "".join(map(chr, range(_MAXCHAR + 1)))
    return tuple((m.start(), m.end() - 1) for m in re.finditer(pattern + "+", text))


def _normal(ranges) -> tuple[tuple[int, int], ...]:
    out: list[list[int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return tuple((a, b) for a, b in out)


def _complement(ranges) -> tuple[tuple[int, int], ...]:
    out, nxt = [], 0
    for lo, hi in _normal(ranges):
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = hi + 1
    if nxt <= _MAXCHAR:
        out.append((nxt, _MAXCHAR))
    return tuple(out)


def _charset(op, av, flags: int) -> tuple[tuple[int, int], ...]:
    """The characters an atom accepts, as sorted ranges (a superset under IGNORECASE, and for
    the classes \\w \\d \\s under ASCII: their Unicode ranges are the wrong ones there, and a
    negated one such as (?a:\\W) accepts every ideograph)."""
    if flags & C.SRE_FLAG_IGNORECASE:
        return ((0, _MAXCHAR),)
    if flags & (C.SRE_FLAG_ASCII | C.SRE_FLAG_LOCALE) and op is C.IN and any(o is C.CATEGORY for o, _ in av):
        return ((0, _MAXCHAR),)
    if op is C.LITERAL:
        return ((av, av),)
    if op is C.NOT_LITERAL:
        return _complement([(av, av)])
    if op is C.ANY:
        return ((0, _MAXCHAR),) if flags & C.SRE_FLAG_DOTALL else _complement([(10, 10)])
    ranges, negate = [], False
    for o, a in av:
        if o is C.NEGATE:
            negate = True
        elif o is C.LITERAL:
            ranges.append((a, a))
        elif o is C.RANGE:
            ranges.append(a)
        elif o is C.CATEGORY:
            ranges.extend(_category_ranges(a))
        else:
            return ((0, _MAXCHAR),)
    return _complement(ranges) if negate else _normal(ranges)


def _meet(a, b) -> bool:
    i = j = 0
    while i < len(a) and j < len(b):
        if a[i][1] < b[j][0]:
            i += 1
        elif b[j][1] < a[i][0]:
            j += 1
        else:
            return True
    return False


class _Glushkov:
    """The position automaton of a pattern (one state per character atom), keeping count of
    the different ways each transition arises: ``(a*)*``, ``(a?b?)*`` and ``(a|a)*`` (which
    Python's parser turns into ``a(?:|)``) differ from ``a*`` only in those counts."""

    def __init__(self, items, flags: int):
        self.atoms: list[tuple] = []
        self._sets: dict[int, tuple] = {}
        # follow[p][q]: how many different ways q may follow p (capped at 2: two is ambiguity).
        self.follow: list[dict[int, int]] = []
        self.loops: list[set[int]] = []  # positions of each repeated part
        self.asserts: list = []  # lookaround bodies, checked on their own
        self._build(items, flags)

    def charset(self, p: int) -> tuple:
        got = self._sets.get(p)
        if got is None:
            got = self._sets[p] = _charset(*self.atoms[p])
        return got

    def _atom(self, op, av, flags) -> int:
        self.atoms.append((op, av, flags))
        self.follow.append({})
        return len(self.atoms) - 1

    def _link(self, last: dict[int, int], first: dict[int, int]) -> None:
        for p, m in last.items():
            row = self.follow[p]
            for q, n in first.items():
                row[q] = min(2, row.get(q, 0) + m * n)

    @staticmethod
    def _add(a: dict[int, int], b: dict[int, int], times: int = 1) -> dict[int, int]:
        out = dict(a)
        if times:
            for k, v in b.items():
                out[k] = min(2, out.get(k, 0) + v * times)
        return out

    def _build(self, items, flags):
        """(first, last, empty) of a sequence: how many ways lead from its start to each first
        position and from each last position to its end, and how many ways it matches ''."""
        first: dict[int, int] = {}
        last: dict[int, int] = {}
        empty = 1
        for op, av in items:
            f, l, e = self._one(op, av, flags)
            self._link(last, f)
            first = self._add(first, f, empty)
            last = self._add(l, last, e)
            empty = min(2, empty * e)
        return first, last, empty

    def _one(self, op, av, flags):
        if op in _ATOMS:
            p = self._atom(op, av, flags)
            return {p: 1}, {p: 1}, 0
        if op is C.AT:
            return {}, {}, 1
        if op in (C.ASSERT, C.ASSERT_NOT):
            self.asserts.append(av[1])
            return {}, {}, 1
        if op is _ATOMIC:
            return self._build(av, flags)
        if op is C.SUBPATTERN:
            _, add, remove, body = av
            return self._build(body, (flags | add) & ~remove)
        if op is C.BRANCH:
            first: dict[int, int] = {}
            last: dict[int, int] = {}
            empty = 0
            for b in av[1]:
                f, l, e = self._build(b, flags)
                first = self._add(first, f)
                last = self._add(last, l)
                empty = min(2, empty + e)
            return first, last, empty
        if op in _REPEATS:
            lo, hi, body = av
            if hi == 0:
                return {}, {}, 1
            start = len(self.atoms)
            f, l, e = self._build(body, flags)
            if hi >= 2:  # a loop: the part may follow itself
                self._link(l, f)
                self.loops.append(set(range(start, len(self.atoms))))
                if e >= 1:  # empty iterations between two others: more ways round the loop
                    self._link(l, f)
            return f, l, min(2, e + (1 if lo == 0 else 0))
        raise ValueError(f"unsupported regular expression construct {op}")

    def ambiguous(self) -> bool:
        """Whether some state has two different paths back to itself on the same text."""
        looped = set().union(*self.loops) if self.loops else set()
        if not looped:
            return False
        if len(looped) > MAX_LOOP_POSITIONS:
            raise ValueError(f"a repeated part with more than {MAX_LOOP_POSITIONS} characters is too large "
                             "to prove safe from catastrophic backtracking; split it up")
        follow = {p: [q for q in self.follow[p] if q in looped] for p in looped}
        double = {(p, q) for p in looped for q, n in self.follow[p].items() if n > 1 and q in looped}
        meets: dict[tuple[int, int], bool] = {}

        def meet(a: int, b: int) -> bool:
            if a == b:
                return True
            key = (a, b) if a < b else (b, a)
            got = meets.get(key)
            if got is None:
                got = meets[key] = _meet(self.charset(a), self.charset(b))
            return got

        # Pairs reachable from the diagonal, then Tarjan's strongly connected components.
        edges: dict[tuple[int, int], list[tuple[int, int]]] = {}
        todo = [(p, p) for p in looped]
        seen = set(todo)
        budget = MAX_PRODUCT_EDGES
        while todo:
            p, q = todo.pop()
            out = []
            for a in follow[p]:
                for b in follow[q]:
                    budget -= 1
                    if meet(a, b):
                        out.append((a, b))
            if budget < 0:
                raise ValueError("the pattern's repeated parts are too complex to prove safe from "
                                 "catastrophic backtracking; simplify them")
            edges[(p, q)] = out
            for nxt in out:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        for comp in _components(edges):
            if not any(a == b for a, b in comp):
                continue
            if not all(a == b for a, b in comp):
                return True  # a diagonal and an off-diagonal pair on one cycle
            members = set(comp)
            if any((a, b) in double for a, _ in comp for b, _ in edges[(a, a)] if (b, b) in members):
                return True  # two parallel transitions on one cycle
        return False


def _components(edges: dict) -> Iterator[list]:
    """Strongly connected components (iterative Tarjan)."""
    index: dict = {}
    low: dict = {}
    on_stack: set = set()
    stack: list = []
    counter = 0
    for root in edges:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            succ = edges.get(node, [])
            recurse = False
            while i < len(succ):
                nxt = succ[i]
                i += 1
                if nxt not in index:
                    work.append((node, i))
                    work.append((nxt, 0))
                    recurse = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if recurse:
                continue
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                yield comp
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])


def _catastrophic(items, flags: int) -> bool:
    g = _Glushkov(items, flags)
    if g.ambiguous():
        return True
    return any(_catastrophic(body, flags) for body in g.asserts)


# --- the plan --------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def plan(regex: str) -> Plan:
    """Check one rubric regex and decide how it runs; ValueError says why it is refused."""
    try:
        return _plan(regex)
    except RecursionError:
        raise ValueError(f"{regex[:40]!r}…: groups nested too deeply") from None


def _plan(regex: str) -> Plan:
    parsed = _parse(regex)
    for op, _ in _walk(parsed):
        if op in (C.GROUPREF, C.GROUPREF_EXISTS):
            raise ValueError(f"{regex!r}: back references and conditional groups are not allowed "
                             "(matching them can take exponential time)")
    lo, _ = parsed.getwidth()
    if lo == 0:
        raise ValueError(f"{regex!r} matches the empty string, so it would match everywhere")
    flags = parsed.state.flags
    if _catastrophic(list(parsed), flags):
        raise ValueError(f"{regex!r} has catastrophic backtracking: a repeated part can match the same "
                         "text in more than one way (nested or overlapping repeats such as (a+)+ or "
                         "(a|a)*); rewrite it so each repeated part has one way to match")
    cost, _ = _cost(list(parsed), bool(flags & C.SRE_FLAG_IGNORECASE))
    width = _width(list(parsed))
    own = flags & ~(C.SRE_FLAG_MULTILINE | C.SRE_FLAG_UNICODE)
    py = re2 = None
    if cost <= COST_BUDGET:
        try:
            py = f"(?{_flags(own)}:{_write_guarded(list(parsed), flags)})"
        except Unsupported as exc:
            raise ValueError(f"{regex!r} uses {exc}, which rubrics do not support") from None
    why = ""
    try:
        re2 = f"(?{_flags(own, 0, True)}:{_write(parsed, True, bool(flags & C.SRE_FLAG_ASCII))})"
    except Unsupported as exc:
        why = f"uses {exc}, which only Python's backtracking engine runs"
    if re2 is not None:
        # RE2 refuses nested repeats of more than 1000 in all, and the automaton grows with the
        # repeats: estimated first (no compiling a huge one), then measured.
        if _repeat_product(list(parsed)) > 1000:
            re2, why = None, "nests repeats to more than 1,000 repetitions in all, more than RE2 runs"
        else:
            size = _program_estimate(list(parsed))
            if size <= 4 * MAX_RE2_PROGRAM:  # a rough estimate: measure what could fit
                size = _re2_program_size(re2)
            if size > MAX_RE2_PROGRAM:
                re2, why = None, (f"would need an RE2 automaton of {_shown(size)} instructions (at most "
                                  f"{MAX_RE2_PROGRAM:,})")
    if re2 is not None and width > MAX_WIDTH:
        re2, why = None, (f"can match up to {width:,} characters (at most {MAX_WIDTH:,}; open repeats "
                          f"count as {REPEAT_CAP} repetitions)")
    if py is None and re2 is None:
        raise ValueError(f"{regex!r} may take up to {_shown(cost)} steps per text position (at most "
                         f"{COST_BUDGET:,}) and {why}; use fewer or smaller repeats or alternatives")
    return Plan(py, re2, cost, width)


def sieve(regex: str) -> Optional[str]:
    """A pattern for RE2 that finds something in every line where ``regex`` (a line-local
    pattern, see :func:`line_local`) matches, and maybe in other lines too; None where there
    is none worth running (under IGNORECASE or DOTALL, or when no stretch of it takes a
    character).

    It is the two widest stretches of ``regex`` between its broad gaps (``[^\\n]{0,16}``,
    ``.*``), in their order with one open gap between them: a match of ``regex`` holds them so,
    in the same line. Each top-level alternative gets its own. Zero-width tests (lookarounds,
    ``\\b``) are left out and counted repeats made open (see :func:`_write`). Many sieves
    joined stay a small automaton, where the patterns joined, with every gap counted, make
    RE2's automaton outgrow its memory and fall back to a slow search. So patterns that only
    Python's re runs (they have lookarounds) are sought with RE2 first, and only the lines
    where their sieves find something are searched by backtracking (``RegexSet``)."""
    try:
        parsed = P.parse(regex)
        flags = parsed.state.flags
        if flags & (C.SRE_FLAG_IGNORECASE | C.SRE_FLAG_DOTALL):
            return None
        stretch = _sieve_of(list(parsed), flags)
        if stretch is None:
            return None
        ascii_only = bool(flags & C.SRE_FLAG_ASCII)
        out = "(?:" + "|".join(_write(items, True, ascii_only, sieve=True) for items in stretch) + ")"
    except (Unsupported, RecursionError, re.error):
        return None
    return out


def _sieve_of(items, flags: int) -> Optional[list[list]]:
    """The stretches (item lists) one of which every match of ``items`` holds: one for a
    sequence, one per alternative for an alternation; None where some way has none."""
    while len(items) == 1 and items[0][0] is C.SUBPATTERN and not items[0][1][1] and not items[0][1][2]:
        items = list(items[0][1][-1])
    if len(items) == 1 and items[0][0] is C.BRANCH:
        out: list[list] = []
        for branch in items[0][1][1]:
            got = _sieve_of(list(branch), flags)
            if got is None:
                return None
            out.extend(got)
        return out
    runs: list[tuple[int, int, list]] = []  # (min width, place, items)
    run: list = []
    for item in items + [None]:
        if item is not None and not _broad_gap(item, flags):
            run.append(item)
            continue
        if run:
            lo = P.SubPattern(P.State(), run).getwidth()[0]
            if lo:
                runs.append((lo, len(runs), run))
        run = []
    if not runs:
        # every stretch is a gap, or holds one: a group's own stretches then, the first that has
        # any (a match of the sequence holds a match of each of its groups)
        for op, av in items:
            if op in (C.SUBPATTERN, C.BRANCH) and (op is C.BRANCH or not av[1] and not av[2]):
                got = _sieve_of([(op, av)], flags)
                if got is not None:
                    return got
        return None
    # the two widest stretches, in their order, with a gap between them
    two = sorted(sorted(runs, key=lambda r: -r[0])[:2], key=lambda r: r[1])
    if len(two) == 1:
        return [two[0][2]]
    return [two[0][2] + [(C.MAX_REPEAT, (0, _UNBOUNDED, [(C.NOT_LITERAL, 10)]))] + two[1][2]]


def _broad_gap(item, flags: int) -> bool:
    """Whether ``item`` is, or holds, a repeat of a broad class that may take more or fewer
    characters (``[^\\n]{0,16}``, ``.*``, ``[^的]{1,8}``)."""
    op, av = item
    if op in _REPEATS:
        lo, hi, body = av
        if hi != lo:
            for o, a in _walk(body):
                if o in _ATOMS and sum(h - l + 1 for l, h in _charset(o, a, flags)) > GUARD_MAX_CHARS:
                    return True
        return any(_broad_gap(x, flags) for x in body)
    if op is C.SUBPATTERN:
        return any(_broad_gap(x, (flags | av[1]) & ~av[2]) for x in av[-1])
    if op is C.BRANCH:
        return any(_broad_gap(x, flags) for b in av[1] for x in b)
    if op is _ATOMIC:
        return any(_broad_gap(x, flags) for x in av)
    return False  # atoms, anchors; lookarounds are left out of the sieve whatever they hold


def _repeat_product(items) -> int:
    """The largest product of nested repeat counts (RE2 refuses more than 1000)."""
    best = 1
    for op, av in items:
        if op in _REPEATS:
            best = max(best, _cap(av[0], av[1]) * _repeat_product(av[2]))
        elif op is C.SUBPATTERN:
            best = max(best, _repeat_product(av[-1]))
        elif op is C.BRANCH:
            best = max([best] + [_repeat_product(b) for b in av[1]])
        elif op in (C.ASSERT, C.ASSERT_NOT):
            best = max(best, _repeat_product(av[1]))
        elif op is _ATOMIC:
            best = max(best, _repeat_product(av))
    return best


def _program_estimate(items, times: int = 1) -> int:
    """Roughly how many RE2 instructions the pattern compiles to (Unicode classes are large)."""
    total = 0
    for op, av in items:
        if op is C.LITERAL:
            total += times
        elif op in (C.NOT_LITERAL, C.ANY):
            total += 20 * times
        elif op is C.IN:
            weight = 10 + 10 * len(av)
            for o, a in av:
                if o is C.CATEGORY:
                    weight += 1400 if a in (C.CATEGORY_WORD, C.CATEGORY_NOT_WORD) else 300
            total += weight * times
        elif op in _REPEATS:
            total += _program_estimate(av[2], times * max(1, _cap(av[0], av[1])))
        elif op is C.SUBPATTERN:
            total += _program_estimate(av[-1], times)
        elif op is C.BRANCH:
            total += sum(_program_estimate(b, times) for b in av[1])
        total = min(total, _BIG)
    return total


def _re2_compile(pattern: str):
    """``pattern`` compiled for RE2 with ``RE2_MEMORY`` for its automaton, or
    ``RE2_MEMORY_PER_INSTRUCTION`` per instruction of a larger program, at most
    ``RE2_MEMORY_MAX`` (re2.error if RE2 refuses it). Room for the DFA: capped repeats of Unicode
    classes make large programs, and with RE2's default 8 MiB the DFA gives up and falls back to
    a slower search."""
    compiled = _re2_with(pattern, RE2_MEMORY)
    room = min(compiled.programsize * RE2_MEMORY_PER_INSTRUCTION, RE2_MEMORY_MAX)
    if room > RE2_MEMORY:  # a large program: compiled again with room for its states
        compiled = _re2_with(pattern, room)
    return compiled


def _re2_with(pattern: str, memory: int):
    """``pattern`` compiled for RE2 with ``memory`` bytes for its program and automaton."""
    import re2

    options = re2.Options()
    options.max_mem = memory
    return re2.compile(pattern, options)


def _re2_program_size(pattern: str) -> int:
    """The size of ``pattern``'s RE2 program (only read, never searched with: compiled once, with
    the plain budget, whatever room a search would give it)."""
    import re2

    try:
        return _re2_with("(?m)" + pattern, RE2_MEMORY).programsize
    except re2.error:
        return _BIG


def _shown(n: int) -> str:
    return "more than 10^15" if n >= _BIG else f"{n:,}"


def _width(items) -> int:
    """The longest match, with open repeats capped (lookarounds read but do not consume)."""
    total = 0
    for op, av in items:
        if op in _ATOMS:
            total += 1
        elif op is C.SUBPATTERN:
            total += _width(av[-1])
        elif op is _ATOMIC:
            total += _width(av)
        elif op is C.BRANCH:
            total += max(_width(b) for b in av[1])
        elif op in _REPEATS:
            total += _cap(av[0], av[1]) * _width(av[2])
        total = min(total, _BIG)
    return total


def check(regex: str) -> str:
    """The schema's validator: the regex as given, or ValueError."""
    plan(regex)
    return regex


def line_local(regex: str) -> bool:
    """Whether ``regex``, run as :class:`RegexSet` runs it (MULTILINE) over lines joined by
    ``"\\n"``, finds in each line exactly what it finds in that line searched alone. True when
    nothing in it, lookarounds included, can match a line break (so no match, and no attempt
    that a match would shadow, reaches into the next line), it has no ``\\A`` or ``\\Z``, and
    its ``^`` and ``$`` are MULTILINE ones: then a line break is to it what a text's edge is
    (``\\b`` and ``\\B`` see neither as a word character). False when unsure (IGNORECASE
    counts every character as a possible line break). Scoring may then search a line once and
    reuse the result for every selection of lines it appears in."""
    try:
        parsed = P.parse(regex)
    except Exception:  # noqa: BLE001 - not a pattern this can vouch for
        return False
    newline = ((10, 10),)

    def local(items, flags: int) -> bool:
        for op, av in items:
            if op in _ATOMS:
                if _meet(_charset(op, av, flags), newline):
                    return False
            elif op is C.AT:
                if av in (C.AT_BEGINNING_STRING, C.AT_END_STRING):
                    return False
                if av in (C.AT_BEGINNING, C.AT_END) and not flags & C.SRE_FLAG_MULTILINE:
                    return False
            elif op is C.SUBPATTERN:
                _, add, remove, body = av
                if not local(body, (flags | add) & ~remove):
                    return False
            elif op is C.BRANCH:
                if not all(local(b, flags) for b in av[1]):
                    return False
            elif op in _REPEATS:
                if not local(av[2], flags):
                    return False
            elif op in (C.ASSERT, C.ASSERT_NOT):
                if not local(av[1], flags):
                    return False
            elif op is _ATOMIC:
                if not local(av, flags):
                    return False
            else:
                return False
        return True

    try:
        return local(list(parsed), parsed.state.flags | C.SRE_FLAG_MULTILINE)
    except RecursionError:
        return False


# --- running ---------------------------------------------------------------------------------


class _LineStarts:
    """What ``_first`` found of ``^``: the top level's MULTILINE setting, and whether a way
    through the pattern reaches a ``^`` (of that setting) before it has taken a character."""

    __slots__ = ("multiline", "found")

    def __init__(self, flags: int):
        self.multiline = bool(flags & re.M)
        self.found = False


def _first(items, flags: int, starts: Optional[_LineStarts] = None) -> tuple[Optional[list[tuple[int, int]]], bool]:
    """(ranges of the characters a match of ``items`` can begin with, whether it can match
    empty); None for ranges when unsure (the caller then adds nothing).

    With ``starts``: a way through that reaches a ``^`` before it has taken a character can
    only begin at a line's start; its characters after the ``^`` are left out of the ranges
    and ``starts.found`` is set: the caller lets a match begin at a line's start too."""
    out: list[tuple[int, int]] = []
    for op, av in items:
        if op in _ATOMS:
            return out + list(_charset(op, av, flags)), False
        if op is C.AT and av is C.AT_BEGINNING and starts is not None and bool(flags & re.M) == starts.multiline:
            starts.found = True
            return out, False
        if op in (C.AT, C.ASSERT, C.ASSERT_NOT):
            continue  # zero-width: the match's first character comes after it
        if op is C.SUBPATTERN:
            got, empty = _first(av[-1], (flags | av[1]) & ~av[2], starts)
        elif op is C.BRANCH:
            got, empty = [], False
            for branch in av[1]:
                more, can = _first(branch, flags, starts)
                if more is None:
                    return None, False
                got, empty = got + more, empty or can
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT):
            got, empty = _first(av[2], flags, starts)
            empty = empty or av[0] == 0
        else:  # atomic groups, possessive repeats, anything else: not worth the bother
            return None, False
        if got is None:
            return None, False
        out += got
        if not empty:
            return out, False
    return out, True


def _scans_by_itself(items) -> bool:
    """Whether Python's re finds candidate positions on its own: a pattern that begins with a
    literal, a character class or alternatives that each begin with a literal gets a quick
    scan for its first character (re._compiler._compile_info); others are tried at every
    position of the text."""
    while items and items[0][0] is C.SUBPATTERN:
        items = items[0][1][-1]
    if not items:
        return False
    op, av = items[0]
    if op is C.BRANCH:
        return all(branch and branch[0][0] is C.LITERAL for branch in av[1])
    return op in (C.LITERAL, C.IN)


# An alternative's own first-character guard is written only for at most this many ranges and
# characters (see _write_guarded).
GUARD_MAX_RANGES = 64
GUARD_MAX_CHARS = 4096


def _ranges_class(ranges) -> str:
    return "".join("\\U%08x" % lo if lo == hi else "\\U%08x-\\U%08x" % (lo, hi) for lo, hi in ranges)


def _write_guarded(items, flags: int) -> str:
    """``items`` written for Python's re (as :func:`_write`), each top-level alternative that
    re would enter in full at every position led by a lookahead for the characters it can
    begin with.

    Python's re tries the alternatives of a group one by one; one that begins with a literal
    or a character class is left at once where its first character is not there, but one that
    begins with lookbehinds (``(?<!不管)(?<!无论)付款``), an optional part or a nested group is
    entered and worked through first. Rubric regexes are often long lists of such
    alternatives, joined again with the rest of an item's patterns, so most of the search time
    went into alternatives that could not match where they were tried. The lookahead
    ``(?=[付支…])`` costs one character-class test and changes no match: every match of the
    alternative begins with one of those characters. Alternatives that can match empty, begin
    at ``^`` or can begin with any character are left as they are. Each guard adds at most
    one step to an alternative's attempt, so the cost bound of :func:`_cost` at most doubles
    and stays linear in the text (the engine is chosen on the unguarded pattern's bound)."""
    if len(items) == 1 and items[0][0] is C.BRANCH:
        return "(?:" + "|".join(_write_guarded(list(b), flags) for b in items[0][1][1]) + ")"
    if len(items) == 1 and items[0][0] is C.SUBPATTERN and not items[0][1][1] and not items[0][1][2]:
        return "(?:" + _write_guarded(list(items[0][1][-1]), flags) + ")"
    text = _write(items, False)
    if not items or items[0][0] in (C.LITERAL, C.IN):
        return text  # re leaves it at once where its first character is not there
    starts = _LineStarts(flags)
    ranges, empty = _first(items, flags, starts)
    if ranges is None or empty or starts.found:
        return text
    ranges = _normal(ranges)
    # a broad class (\\w, [^\\n], …) skips next to nothing and, compiled as a long list of
    # ranges, costs more per position than it spares: only selective first characters pay
    if not ranges or len(ranges) > GUARD_MAX_RANGES or sum(hi - lo + 1 for lo, hi in ranges) > GUARD_MAX_CHARS:
        return text
    return f"(?=[{_ranges_class(ranges)}])" + text


def compile_skipping(pattern: str, flags: int = 0) -> re.Pattern:
    """``re.compile(pattern, flags)``, made to skip quickly over the positions where no match
    can begin: when Python's re would try the whole pattern at every position (it begins with
    a group of alternatives, a lookbehind, ...), a lookahead for the characters a match can
    begin with goes first. It finds exactly the same matches: a match (never empty here) begins
    with one of those characters, and where one stands the pattern is tried as before. Many
    phrases and regexes joined with "|" then cost a character-class test per position, not a
    try of every alternative."""
    compiled = re.compile(pattern, flags)
    try:
        parsed = P.parse(pattern, flags)
        starts = _LineStarts(parsed.state.flags)
        ranges, empty = _first(list(parsed), parsed.state.flags, starts)
    except RecursionError:
        return compiled
    if ranges is None or empty or _scans_by_itself(list(parsed)):
        return compiled
    ranges = _normal(ranges)
    if ranges == ((0, _MAXCHAR),):
        return compiled
    first = _ranges_class(ranges)
    # alternatives that begin with ^ are tried where a line starts (^ of the same flags), the
    # others where one of their first characters stands
    if starts.found:
        guard = f"(?:(?=[{first}])|^)" if first else "^"
    elif first:
        guard = f"(?=[{first}])"
    else:  # nothing can begin a match
        return compiled
    try:
        return re.compile(f"{guard}(?:{pattern})", flags)
    except re.error:  # a global flag such as (?x) must stay at the very start: leave it as it was
        return compiled


_SURROGATES = re.compile("[\ud800-\udfff]")


def _needle_hits(needle: re.Pattern, text: str, found) -> Iterator[tuple[int, int]]:
    """Spans of needles in ``text``, ``found`` the first: after each, the next one after the
    end of its line."""
    while found is not None:
        yield found.span()
        end = text.find("\n", found.end())
        if end < 0:
            return
        found = needle.search(text, end + 1)


class RegexSet:
    """Several planned patterns searched as one: the ones for Python's re joined into one
    pattern, the ones for RE2 into another; spans of both, in no particular order.

    Each engine's patterns go with their needles (see :func:`needles`) when they have some:
    a text without one is not searched, and of a text of lines joined by ``"\n"`` only the
    lines holding one are, when the patterns are line-local (see :func:`line_local`) and those
    lines are a small part of the text."""

    __slots__ = ("py", "re2", "py_needles", "re2_needles", "local", "needles", "py_sieve")

    def __init__(self, py_parts: list[str], re2_parts: list[str], py_needles: Optional[tuple[str, ...]] = None,
                 re2_needles: Optional[tuple[str, ...]] = None, local: bool = False,
                 py_sources: Optional[list[str]] = None):
        # MULTILINE: ^ and $ anchor at each segment when segments are searched joined by "\n".
        self.py = compile_skipping("|".join(py_parts), re.M) if py_parts else None
        self.re2 = _re2_compile("(?m)" + "|".join(re2_parts)) if re2_parts else None
        self.py_needles = _needle_pattern(py_needles) if py_parts else None
        self.re2_needles = _needle_pattern(re2_needles) if re2_parts else None
        self.local = local
        # Where Python's patterns have no needles, their sieves (see :func:`sieve`, made from
        # ``py_sources``, the patterns as the rubric wrote them) on RE2 find the lines they may
        # match in: one pass of an automaton, then the backtracking search of those lines only
        # (line-local patterns, see _run).
        self.py_sieve = None
        if py_parts and py_sources and local and self.py_needles is None:
            found = [sieve(r) for r in py_sources]
            if all(found):
                import re2

                try:
                    self.py_sieve = _re2_compile("(?m)" + "|".join(found))
                except re2.error:  # too large a program for RE2: search every line
                    self.py_sieve = None
                if self.py_sieve is not None and self.py_sieve.programsize > MAX_RE2_PROGRAM:
                    self.py_sieve = None
        # Literal strings one of which every match of the set holds (None: no such promise):
        # a text holding none of them has no spans. Not where an RE2 needle holds U+FFFD: RE2
        # reads a lone surrogate as one, so its match may hold the needle where the text does not.
        self.needles: Optional[tuple[str, ...]] = None
        if ((not py_parts or self.py_needles is not None) and (not re2_parts or self.re2_needles is not None)
                and not any("\ufffd" in n for n in re2_needles or ())):
            self.needles = tuple(sorted(set(py_needles or ()) | set(re2_needles or ())))

    @classmethod
    def build(cls, regexes: list[str], literal_parts: Optional[list[str]] = None) -> Optional["RegexSet"]:
        """Plans for ``regexes`` (rubric regexes) plus ``literal_parts`` (patterns the rubric
        builds itself from phrases, for Python's re), or None when there are none."""
        literal_parts = [f"(?:{p})" for p in literal_parts or []]
        plans = [plan(r) for r in regexes]
        if all(p.py is not None for p in plans):
            on_re2 = [False] * len(plans)
        elif all(p.re2 is not None for p in plans):
            # One engine for all of them keeps the matches of one pattern joined with "|"
            # (leftmost first, no overlaps), as when every pattern runs on Python's re.
            on_re2 = [True] * len(plans)
        else:
            on_re2 = [p.re2 is not None for p in plans]
        py = literal_parts + [p.py for p, two in zip(plans, on_re2) if not two]
        r2 = [p.re2 for p, two in zip(plans, on_re2) if two]
        if not py and not r2:
            return None
        # each engine's needles, read from the patterns as the rubric wrote them
        py_sources = literal_parts + [r for r, two in zip(regexes, on_re2) if not two]
        py_needles = _all_needles(py_sources)
        re2_needles = _all_needles([r for r, two in zip(regexes, on_re2) if two])
        local = all(line_local(r) for r in literal_parts + regexes)
        return cls(py, r2, py_needles, re2_needles, local, py_sources)

    def spans(self, text: str, pos: int = 0) -> list[tuple[int, int]]:
        """Spans of matches starting at ``pos`` or later (lookbehinds still see what is before)."""
        # (looked for only where an RE2 search follows: the check is a search of the text)
        odd = ((self.re2 is not None or self.py_sieve is not None) and not text.isascii()
               and _SURROGATES.search(text) is not None)
        if self.py is not None:
            # a lone surrogate is U+FFFD to RE2, which a sieve's class may not hold: no sieve then
            out = self._run(self.py.finditer, self.py_needles, text, pos, None if odd else self.py_sieve)
        else:
            out = []
        if self.re2 is not None:
            safe = _SURROGATES.sub("\ufffd", text) if odd else text
            out.extend(self._run(self.re2.finditer, self.re2_needles, safe, pos))
        return [s for s in out if s[1] > s[0]]

    def _run(self, finditer, needle: Optional[re.Pattern], text: str, pos: int, sieve=None) -> list[tuple[int, int]]:
        """Spans of one engine's matches from ``pos`` on, where its needles (or its sieve)
        allow any."""
        if needle is not None:
            found = needle.search(text, pos)
            if found is None:  # every match holds a needle: there is none
                return []
            if pos or not self.local:
                return [m.span() for m in finditer(text, pos)]
            hits: Iterator[tuple[int, int]] = _needle_hits(needle, text, found)
        elif sieve is not None and not pos and self.local:
            hits = (m.span() for m in sieve.finditer(text))
        else:
            return [m.span() for m in finditer(text, pos)]
        # the lines that hold a needle or a sieve's match, (start, end), in order
        lines: list[tuple[int, int]] = []
        kept = 0
        size = len(text)
        last = -1  # the end of the last line kept
        for at, to in hits:
            if at <= last:
                continue
            start = text.rfind("\n", 0, at) + 1
            end = text.find("\n", to)
            if end < 0:
                end = size
            lines.append((start, end))
            last = end
            kept += end - start + 1
            if kept * 2 > size:  # most of the text: search it whole
                return [m.span() for m in finditer(text, pos)]
        if not lines:
            return []
        if len(lines) == 1:
            start, end = lines[0]
            return [(a + start, b + start) for a, b in (m.span() for m in finditer(text[start:end]))]
        # Those lines joined by "\n" as they were: a line-local pattern finds in each what it
        # finds there in the whole text, and nothing in the lines left out (they hold no needle).
        part = "\n".join([text[a:b] for a, b in lines])
        where = list(accumulate([b - a + 1 for a, b in lines], initial=0))  # each line's start in part
        out = []
        k = 0
        for m in finditer(part):
            a, b = m.span()
            while where[k + 1] <= a:
                k += 1
            shift = lines[k][0] - where[k]
            out.append((a + shift, b + shift))
        return out


# A trie of literal words whose words begin with at least this many characters runs on RE2:
# Python's re tries the trie at every position holding one of its first characters (a fifth of
# a conversation's positions, for a few hundred words), RE2's automaton reads each character
# once. Small tries stay on re: RE2's Python wrapper costs more per match found.
RE2_FIRST_CHARS = 40


def literal_re2(pattern: str, words: list[str]):
    """``pattern`` (literal words as one pattern: a trie, see ``trie_pattern``) compiled for
    RE2 when its words begin with ``RE2_FIRST_CHARS`` characters or more and it holds only
    what RE2 runs as re does (no lookaround, such as a number's guards against other digits),
    else None. RE2's leftmost-first matching then finds what re finds."""
    if len({w[0] for w in words if w}) < RE2_FIRST_CHARS or "(?<" in pattern or "(?=" in pattern or "(?!" in pattern:
        return None
    if any("\ufffd" in w for w in words):  # stands for a lone surrogate in RE2's text
        return None
    import re2

    try:
        return _re2_compile(pattern)
    except re2.error:  # pragma: no cover - a trie of escaped words is plain RE2 syntax
        return None


def re2_spans(compiled, text: str, pos: int = 0) -> list[tuple[int, int]]:
    """Spans of an RE2 pattern's matches from ``pos`` on, a lone surrogate read as U+FFFD
    (UTF-8 has no place for it; a replacement keeps every offset)."""
    safe = _SURROGATES.sub("\ufffd", text) if not text.isascii() and _SURROGATES.search(text) else text
    return [m.span() for m in compiled.finditer(safe, pos)]


def _all_needles(patterns: list[str]) -> Optional[tuple[str, ...]]:
    """The needles of patterns joined with "|": each one's, together (None if one has none)."""
    if not patterns:
        return None
    out: set[str] = set()
    for p in patterns:
        got = needles(p, re.M)
        if got is None:
            return None
        out.update(got)
    return tuple(sorted(out)) if len(out) <= MAX_ALL_NEEDLES else None


# Characters found in nearly every line of a conversation: a needle made of them alone (不是,
# 有没有) lets nearly every line through, and looking for it costs more than it spares.
_COMMON = frozenset("的一是不了我你您他她它在有这那个们人好吗么呢吧啊哦就都也没要会能说还和")


def _common(needle: str) -> bool:
    return all(ch in _COMMON for ch in needle) or (len(needle) == 1 and not needle.isalpha())


def _needle_pattern(found: Optional[tuple[str, ...]]) -> Optional[re.Pattern]:
    """A pattern that finds any of the needles; None for none, or when one is common (see
    ``_COMMON``)."""
    if not found or any(map(_common, found)):
        return None
    return compile_skipping(trie_pattern(list(found)))


class NeedleFinder:
    """Which of many sets' needles a text holds, in one search: a set none of whose needles
    the text holds has no spans there (see ``RegexSet.needles``), so it need not be searched.

    The needles are one trie, tried at every position as a lookahead: at each position the
    longest needle there, and with it every needle that is a prefix of it, which are all the
    needles that begin there."""

    __slots__ = ("finder", "prefixes")

    def __init__(self, words: list[str]):
        found = sorted(set(words) - {""})
        self.finder = compile_skipping(f"(?=({trie_pattern(found)}))") if found else None
        known = set(found)
        self.prefixes = {w: frozenset(w[:k] for k in range(1, len(w) + 1) if w[:k] in known) for w in found}

    def held(self, text: str) -> set[str]:
        if self.finder is None:
            return set()
        out: set[str] = set()
        for longest in {m.group(1) for m in self.finder.finditer(text)}:
            out |= self.prefixes[longest]
        return out


def trie_pattern(words: list[str]) -> str:
    """One pattern for many literal words, shaped as a character trie: matching walks the trie
    instead of trying every word at every position; the longest word wins."""
    root: dict = {}
    for w in words:
        node = root
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict, top: bool = False) -> str:
        alts, singles = [], []
        for ch in sorted(k for k in node if k):
            rest = build(node[ch])
            if rest:
                alts.append(re.escape(ch) + rest)
            else:
                singles.append(re.escape(ch))
        if top:  # one-character words as alternatives of their own (see _alternation_pattern)
            return "|".join(alts + singles)
        if singles:
            alts.append(singles[0] if len(singles) == 1 else "[" + "".join(singles) + "]")
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        if "" in node:
            body = "(?:" + body + ")?"
        return body

    return build(root, top=True)


# --- needles: literal text every match holds --------------------------------------------------

MAX_NEEDLES = 64  # of one part of a pattern
MAX_ALL_NEEDLES = 1024  # of a set of patterns


def needles(pattern: str, flags: int = 0) -> Optional[tuple[str, ...]]:
    """Literal strings at least one of which every match of ``pattern`` holds in the text it
    matches (lookarounds, which match nothing, are never read for them); None when the pattern
    offers none (a branch without literal text, IGNORECASE, more than ``MAX_NEEDLES``). Where
    none of them is, the pattern cannot match (:meth:`RegexSet.spans` skips such lines)."""
    try:
        parsed = P.parse(pattern, flags)
        got = _needles(list(parsed), parsed.state.flags)
    except (RecursionError, re.error):
        return None
    return tuple(sorted(got)) if got is not None else None


def _needles(items, flags: int) -> Optional[set[str]]:
    """Needles of a sequence: the best of those its required parts offer. Consecutive parts
    that each match one of a few strings (a literal, a class of literals, alternatives of
    such) offer every string their run can match; a group its own needles, alternatives all of
    theirs together, a repeat of at least once its body's."""
    if flags & C.SRE_FLAG_IGNORECASE:
        return None
    options: list[set[str]] = []
    run: Optional[set[str]] = None  # the strings the current run of finite parts can match

    def close() -> None:
        if run and "" not in run:
            options.append(run)

    for op, av in items:
        strings = _strings(op, av, flags)
        if strings is not None:
            joined = {a + b for a in run for b in strings} if run is not None else strings
            if len(joined) <= MAX_NEEDLES:
                run = joined
                continue
            close()
            run = strings
            continue
        close()
        run = None
        got = None
        if op is C.SUBPATTERN:
            got = _needles(av[-1], (flags | av[1]) & ~av[2])
        elif op is C.BRANCH:
            got = set()
            for branch in av[1]:
                more = _needles(branch, flags)
                if more is None:
                    got = None
                    break
                got |= more
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT) and av[0] >= 1:
            got = _needles(av[2], flags)
        if got is not None and 0 < len(got) <= MAX_NEEDLES and all(got):
            options.append(got)
    close()
    if not options:
        return None
    # the rarest in text, roughly: the fewest needles of common characters only, the longest
    # shortest needle, then the fewest needles
    return max(options, key=lambda o: (-sum(map(_common, o)), min(map(len, o)), -len(o)))


def _strings(op, av, flags: int) -> Optional[set[str]]:
    """Every string one part can match, when that is a few literal strings (else None)."""
    if flags & C.SRE_FLAG_IGNORECASE:
        return None
    if op is C.LITERAL:
        return {chr(av)}
    if op is C.IN:
        if av and len(av) <= MAX_NEEDLES and all(o is C.LITERAL for o, _ in av):
            return {chr(a) for _, a in av}
        return None
    if op is C.SUBPATTERN:
        out = {""}
        sub_flags = (flags | av[1]) & ~av[2]
        for o, a in av[-1]:
            part = _strings(o, a, sub_flags)
            if part is None:
                return None
            out = {x + y for x in out for y in part}
            if len(out) > MAX_NEEDLES:
                return None
        return out
    if op is C.BRANCH:
        out = set()
        for branch in av[1]:
            part = _strings(C.SUBPATTERN, (None, 0, 0, branch), flags)
            if part is None:
                return None
            out |= part
            if len(out) > MAX_NEEDLES:
                return None
        return out
    return None

"""YAML → :class:`Rubric`, with every mistake reported as ``file:line:col: message``."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Iterable

from pydantic import ValidationError

from qa_scorer.normalize import regular_file_bytes
from qa_scorer.rubric.registry import RULE_TYPES, Rubric

DEFAULT_RUBRIC = Path(__file__).resolve().parents[1] / "data" / "default.yaml"

# Limits checked before a rubric is built, so that no file can make loading hang or exhaust
# memory: the bundled rubric is about 60 KiB, a dozen levels deep, a few thousand values.
MAX_BYTES = 1 << 20
MAX_DEPTH = 50
MAX_VALUES = 200_000
MAX_NUMBER_CHARS = 100


# what a pattern too deeply nested for Python's regex parser (or the matcher's word trie) is told
TOO_DEEP = ("a pattern is too deeply nested or too long to compile (a very long list of words that begin "
            "alike?); split it into several patterns")


class RubricError(Exception):
    """A mistake in a rubric file (the user's, not a bug). ``problems`` are ``file:line:col: msg``."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def _yaml():
    from ruamel.yaml import YAML

    y = YAML(typ="rt")
    y.allow_duplicate_keys = False
    return y


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if hasattr(node, "isoformat"):
        return node.isoformat()
    if isinstance(node, str):
        return str(node)
    return node


def _locate(root: Any, loc: Iterable[Any]) -> tuple[int, int, list[Any]]:
    """1-based line and column of the YAML node at ``loc`` (or its nearest known parent), and
    the part of ``loc`` that names real YAML keys (pydantic adds union tags to the path)."""
    node = root
    line, col = 0, 0
    path: list[Any] = []
    for part in loc:
        in_map = isinstance(node, dict) and part in node
        in_seq = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_map or in_seq:
            try:
                line, col = node.lc.key(part) if in_map else node.lc.item(part)
            except (AttributeError, KeyError, TypeError):
                pass
            node = node[part]
            path.append(part)
        elif isinstance(part, str) and (isinstance(node, (dict, list)) and (
                part in RULE_TYPES or "[" in part or part in ("str", "int", "float"))):
            continue  # a union tag or branch pydantic put in the path
        else:
            path.append(part)
            break
    return line + 1, col + 1, path


def _position(root: Any, loc: Iterable[Any]) -> tuple[int, int]:
    line, col, _ = _locate(root, loc)
    return line, col


def _describe(err: dict, path: list[Any]) -> str:
    # (a validator's own name in the path, function-after[…], says nothing to a rubric's author)
    field = ".".join(str(p) for p in path if not (isinstance(p, str) and "[" in p)) or "rubric"
    kind = err["type"]
    if kind == "extra_forbidden":
        return f"unknown key {path[-1]!r}" if path else "unknown key"
    if kind == "missing":
        return f"missing required key {path[-1]!r}" if path else "missing key"
    if kind == "union_tag_invalid":
        return f"unknown rule type {err.get('ctx', {}).get('tag', err.get('input'))!r} (known: {', '.join(RULE_TYPES)})"
    if kind == "union_tag_not_found":
        return f"missing 'type' (one of: {', '.join(RULE_TYPES)})"
    msg = err["msg"].removeprefix("Value error, ")
    return f"{field}: {msg}"


def _duplicate_ids(root: Any, path: str) -> list[str]:
    items = root.get("items") if isinstance(root, dict) else None
    out, seen = [], set()
    for n, item in enumerate(items if isinstance(items, list) else []):
        item_id = item.get("id") if isinstance(item, dict) else None
        if isinstance(item_id, str):
            if item_id in seen:
                line, col = _position(root, ["items", n, "id"])
                out.append(f"{path}:{line}:{col}: duplicate item id {item_id!r}")
            seen.add(item_id)
    return out


def _branch_noise(err: dict) -> bool:
    """Errors from the list branch of ``match: Match | [Match]`` when a mapping was given."""
    return any(isinstance(p, str) and p.startswith("list[") for p in err["loc"]) and err["type"] == "list_type"


def _check_shape(text: str, path: str) -> None:
    """Refuse, from the YAML event stream and before anything is built, what would make
    building the rubric explode: nesting deeper than ``MAX_DEPTH``, more than ``MAX_VALUES``
    values once aliases are expanded (the "billion laughs" file: a few hundred bytes of nested
    aliases that expand to billions of values), an alias used inside its own anchor, and
    numbers too long to convert. Stops at the first problem, so the parser never walks the
    rest of a hostile file (its cost grows with the nesting depth)."""
    from ruamel.yaml.events import AliasEvent, CollectionEndEvent, CollectionStartEvent, ScalarEvent

    def fail(mark, message: str):
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        raise RubricError([f"{path}:{line}:{col}: {message}"])

    open_: list[list] = []  # [anchor, expanded values so far] per open collection
    sizes: dict[str, int] = {}
    total = 0
    for ev in _yaml().parse(text):
        if isinstance(ev, AliasEvent):
            if any(anchor == ev.anchor for anchor, _ in open_):
                fail(ev.start_mark, f"alias *{ev.anchor} is used inside its own anchor (a recursive structure)")
            n = sizes.get(ev.anchor, 1)
        elif isinstance(ev, ScalarEvent):
            value = ev.value or ""
            if (not ev.style and len(value) > MAX_NUMBER_CHARS and value.lstrip("+-.")[:1].isdigit()):
                fail(ev.start_mark, f"a number of {len(value)} characters is out of range "
                                    "(quote it if it is meant as text)")
            n = 1
            if ev.anchor:
                sizes[ev.anchor] = 1
        elif isinstance(ev, CollectionStartEvent):
            if len(open_) >= MAX_DEPTH:
                fail(ev.start_mark, f"nested more than {MAX_DEPTH} levels deep")
            open_.append([ev.anchor, 1])
            n = 1
        elif isinstance(ev, CollectionEndEvent):
            anchor, size = open_.pop()
            if anchor:
                sizes[anchor] = size
            continue
        else:
            continue
        for entry in open_:
            entry[1] += n
        total += n
        if total > MAX_VALUES:
            fail(ev.start_mark, f"the rubric expands to more than {MAX_VALUES:,} values"
                                + (" through YAML aliases" if isinstance(ev, AliasEvent) else ""))


def parse_rubric(text: str, path: str = "<rubric>") -> Rubric:
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_BYTES:
        raise RubricError([f"{path}:1:1: the rubric is {size:,} bytes; at most {MAX_BYTES:,} (1 MiB) are read"])
    try:
        _check_shape(text, path)
        root = _yaml().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise RubricError([f"{path}:{line}:{col}: YAML syntax: {exc.problem or exc.context}"]) from None
    except YAMLError as exc:
        raise RubricError([f"{path}:1:1: YAML: {exc}"]) from None
    except (ValueError, TypeError, OverflowError) as exc:  # a value the YAML library cannot build (a 31st of February)
        raise RubricError([f"{path}:1:1: YAML: cannot read a value: {exc}"]) from None
    if not isinstance(root, dict):
        raise RubricError([f"{path}:1:1: a rubric is a mapping with 'id' and 'items'"])
    try:
        rubric = Rubric.model_validate(_plain(root))
    except RecursionError:
        raise RubricError([f"{path}:1:1: {TOO_DEEP}"]) from None
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            if _branch_noise(err):
                continue
            loc = tuple(err["loc"]) + (("type",) if err["type"].startswith("union_tag") else ())
            line, col, keys = _locate(root, loc)
            problems.append(f"{path}:{line}:{col}: {_describe(err, keys)}")
        # the checks below need a built rubric; a duplicate id is seen in the text, so it is said now too
        problems += _duplicate_ids(root, path)
        raise RubricError(sorted(set(problems), key=problems.index)) from None
    rubric.path = path
    problems = []
    seen: dict[str, int] = {}
    ctx = rubric.context()  # one for all items: what @{name} writes out is counted over the whole rubric
    for n, item in enumerate(rubric.items):
        if item.id in seen:
            line, col = _position(root, ["items", n, "id"])
            problems.append(f"{path}:{line}:{col}: duplicate item id {item.id!r}")
        seen[item.id] = n
        try:
            item.compile(ctx)
        except ValueError as exc:
            line, col = _position(root, ["items", n])
            problems.append(f"{path}:{line}:{col}: item {item.id!r}: {exc}")
        except RecursionError:
            line, col = _position(root, ["items", n])
            problems.append(f"{path}:{line}:{col}: item {item.id!r}: {TOO_DEEP}")
    if problems:
        raise RubricError(problems)
    rubric.bank_models()
    # The rubric's text and the contents of the models it names: a model retrained in place (same
    # file name) judges differently, so it makes a new version, as an edited cut-off does.
    digests = sorted({m.digest for m in rubric.text_models() if m.digest})
    rubric.version = hashlib.sha256("\n".join([text, *digests]).encode("utf-8")).hexdigest()[:12]
    rubric.path = path
    return rubric


def load_rubric(path: str | Path | None = None) -> Rubric:
    """Load and validate a rubric file (the bundled default when ``path`` is None)."""
    p = Path(path) if path is not None else DEFAULT_RUBRIC
    try:
        data = regular_file_bytes(p, MAX_BYTES + 1)  # never more than the cap, whatever the file is
        if len(data) > MAX_BYTES:
            raise RubricError([f"{p}:1:1: the rubric is larger than {MAX_BYTES:,} bytes (1 MiB); refused unread"])
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise RubricError([f"{p}: file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RubricError([f"{p}: cannot read: {exc}"]) from None
    return parse_rubric(text, str(p))

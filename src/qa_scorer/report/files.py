"""File names and recordings for the report folder: ``safe_name`` for every id that names a
file, relative links, and the one check of where a recording may be copied from."""

from __future__ import annotations

import hashlib
import os
import re
import stat
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Mapping, Optional, Sequence
from urllib.parse import quote

from qa_scorer.ingest import AUDIO_SUFFIXES, RecordingError, locate_recording, real_roots
from qa_scorer.outputs import atomic_copy
from qa_scorer.store import StoredCall

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_.")
_WINDOWS_RESERVED = frozenset(
    ["con", "prn", "aux", "nul"] + [f"com{i}" for i in range(10)] + [f"lpt{i}" for i in range(10)]
)
_MAX_NAME = 60


@lru_cache(maxsize=1 << 16)
def safe_name(s: str) -> str:
    """A file name for an id that stays inside its folder and never collides with another id's.

    Lower-case ASCII letters, digits, ``-_.`` and CJK ideographs are kept; anything else
    (``/``, ``\\``, spaces, control characters...) becomes ``_``, upper case is folded, and
    leading or trailing dots are dropped. Whenever that changed the id, ``~`` and a hash of
    the original id are appended: kept ids never contain ``~``, so two different ids never
    get the same name, even on case-insensitive file systems.
    """
    out = []
    for c in s:
        if c in _NAME_CHARS or "\u4e00" <= c <= "\u9fff" or "\u3400" <= c <= "\u4dbf":
            out.append(c)
        elif "A" <= c <= "Z":
            out.append(c.lower())
        else:
            out.append("_")
    name = "".join(out).strip(".")[:_MAX_NAME].rstrip(".")
    if name != s or not name or name.split(".")[0] in _WINDOWS_RESERVED:
        digest = hashlib.sha256(s.encode("utf-8", "surrogatepass")).hexdigest()[:10]
        name = f"{name or '_'}~{digest}"
    return name


def href(*parts: str) -> str:
    """A relative URL from path parts (file names from ``safe_name``)."""
    return "/".join(quote(p) for p in parts)


def audio_suffix(path: str) -> str:
    suffix = Path(path).suffix.lower()
    return suffix if re.fullmatch(r"\.[a-z0-9]{1,6}", suffix) else ".audio"


@dataclass
class Recording:
    path: Optional[Path] = None  # the real file to copy
    missing: Optional[str] = None  # named but not there
    refused: Optional[str] = None  # named but not allowed: why


def audio_source(call: StoredCall, media_roots: Sequence[Path] = (),
                 claimed: Optional[Mapping[str, set[str]]] = None) -> Recording:
    """Where the call's recording may be copied from, or why it may not.

    A recording checked when the call was scored (``StoredCall.recording``) is used if it is
    still that regular file. Otherwise the transcript's ``audio`` must lead, after every link,
    to a regular file inside the folder of the call's source file or a media root. ``claimed``
    (``History.recording_agents``): a recording that calls of another agent were scored with is
    refused, whoever's it is (one named by transcripts of two agents would let either play the
    other's call).
    """
    ref = call.scorecard.audio or call.transcript.audio
    found = _audio_source(call, ref, media_roots)
    if claimed:
        found = unshared(call, found, claimed)
    if found.path is not None and found.path.suffix.lower() not in AUDIO_SUFFIXES:
        # a page or script named as the recording would be served from the app's own origin
        # and copied beside the reports, where opening it runs it
        return Recording(refused=f"{ref or found.path.name}: not a recording (the file types taken are "
                                 + ", ".join(sorted(AUDIO_SUFFIXES)) + ")")
    return found


def unshared(call: StoredCall, found: Recording, claimed: Mapping[str, set[str]]) -> Recording:
    """``found``, or refused where ``claimed`` (``History.recording_agents``) says calls of
    another agent were scored with the same file (one recording is one call)."""
    if found.path is None or not claimed.get(str(found.path), set()) - {call.agent_id}:
        return found
    ref = call.scorecard.audio or call.transcript.audio
    return Recording(refused=f"{ref or found.path.name}: also the recording of a call of another agent; "
                             "one recording is one call")


def _audio_source(call: StoredCall, ref: Optional[str], media_roots: Sequence[Path]) -> Recording:
    if call.recording:
        p = Path(call.recording)
        try:
            real = p.resolve(strict=True)
            st = real.stat()
        except (OSError, RuntimeError):
            return Recording(missing=ref or call.recording)
        if real != p or not stat.S_ISREG(st.st_mode):
            return Recording(refused=f"{call.recording}: no longer the regular file checked when the call was scored")
        return Recording(path=real)
    if not ref:
        return Recording()
    source = call.source or call.scorecard.source
    base = Path(source).parent if source else None
    roots = real_roots(([base] if base is not None else []) + list(media_roots))
    try:
        return Recording(path=locate_recording(ref, base, roots))
    except RecordingError as exc:
        if exc.missing:
            return Recording(missing=ref)
        return Recording(refused=exc.message)


def copy_recording(src: Path, dst: Path) -> bool:
    """Put the recording ``src`` (a checked, real path) at ``dst`` unless that copy is already
    there. True if written. A link or anything but a regular file at ``dst`` is replaced."""
    try:
        st = src.stat()
        dt = os.lstat(dst)
        if stat.S_ISREG(dt.st_mode) and dt.st_size == st.st_size and (
                dt.st_ino == st.st_ino or int(dt.st_mtime) >= int(st.st_mtime)):
            return False
    except OSError:
        pass
    atomic_copy(src, dst)
    return True


def link(src: Path, dst: Path) -> None:
    """Hard-link src to dst (same bytes, no extra disk), copying where links are not supported."""
    atomic_copy(src, dst)


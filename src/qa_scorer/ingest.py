"""Find inputs, read manifests, load transcripts (format v1), decode audio and split channels."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Literal, Optional, Sequence

import numpy as np
from pydantic import ValidationError

from qa_scorer.models import (InputError, Transcript, check_agent_id, check_call_id, check_started_at,
                              has_surrogate)
from qa_scorer.normalize import regular_file_bytes, spreadsheet_text

TRANSCRIPT_SUFFIXES = {".json", ".jsonl"}
# Many transcripts in one file: JSON Lines (one transcript v1 object per line), or a .json file
# whose top level is an array of them. A bundle holds at most this many calls.
MAX_BUNDLE_CALLS = 1_000_000
MAX_BUNDLE_BYTES = 1024 * 1024 * 1024


class TranscriptError(Exception):
    """A transcript file that cannot be read; the message names the file and the JSON path."""

    def __init__(self, path: str | Path, message: str):
        self.path = str(path)
        self.message = message
        super().__init__(f"{self.path}: {message}")


def _json_path(loc: Iterable[Any]) -> str:
    out = "$"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def parse_transcript(data: Any, path: str | Path = "<memory>") -> Transcript:
    """Validate already-decoded JSON as a transcript v1, with errors naming the JSON path."""
    if not isinstance(data, dict):
        raise TranscriptError(path, "$: expected a JSON object with 'version', 'call_id' and 'segments'")
    try:
        return Transcript.model_validate(data)
    except ValidationError as exc:
        msgs = []
        for err in exc.errors():
            where = (err.get("ctx") or {}).get("path")
            if not isinstance(where, str):
                loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
                where = _json_path(loc)
            msgs.append((where, err["msg"]))
        raise TranscriptError(path, "; ".join(_grouped(msgs))) from None
    except RecursionError:
        raise TranscriptError(path, "$: nested too deeply to read") from None


_SEGMENT_FIELD = re.compile(r"^\$\.segments\[(\d+)\]((?:\.\w+|\[\d+\])+)$")


def _grouped(errors: list[tuple[str, str]]) -> list[str]:
    """``path: message`` per error, the same message on the same field of several segments once,
    with how many more segments have it (an export's unknown speaker name is one error, not one
    a line)."""
    out: list[str] = []
    seen: dict[tuple[str, str], int] = {}
    more: dict[int, list[str]] = {}
    for where, msg in errors:
        m = _SEGMENT_FIELD.match(where)
        if m:
            key = (re.sub(r"\[\d+\]", "[*]", m.group(2)), msg)  # a word's field in many segments too
            if key in seen:
                more[seen[key]].append(m.group(1))
                continue
            seen[key] = len(out)
            more[len(out)] = []
        out.append(f"{where}: {msg}")
    for at, rest in more.items():
        if rest:
            shown = ", ".join(rest[:5]) + (", …" if len(rest) > 5 else "")
            out[at] += f" (and in {len(rest)} more segment{'s' if len(rest) > 1 else ''}: {shown})"
    return out


# A JSON escape of a UTF-16 surrogate (\ud800-\udfff): only when the text has one is the slower
# search for lone surrogates run (a pair, as in emoji, decodes to one character and is fine).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
# Far above any call's transcript (an hour of speech with word timings is a few MiB).
MAX_TRANSCRIPT_BYTES = 64 * 1024 * 1024


def decode_json(raw: bytes, path: str | Path = "<memory>") -> Any:
    """Parse a JSON document. Anything wrong with it is a TranscriptError naming the file: not
    UTF-8, invalid JSON (with line and column), a number with too many digits, nesting too deep
    to parse, or a lone surrogate escape in a string (with its JSON path)."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TranscriptError(path, f"not UTF-8 text (byte {exc.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TranscriptError(path, f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise TranscriptError(path, "invalid JSON: nested too deeply to read") from None
    except ValueError as exc:  # an integer with more digits than Python converts, ...
        raise TranscriptError(path, f"invalid JSON: {exc}") from None
    if _SURROGATE_ESCAPE.search(text):
        where = _lone_surrogate(data)
        if where is not None:
            raise TranscriptError(path, f"{where}: text holds a lone surrogate (an unpaired \\ud800-\\udfff "
                                        "escape), which is not valid Unicode")
    return data


def _lone_surrogate(data: Any) -> Optional[str]:
    """JSON path of the first string (or key) holding a lone surrogate, else None."""
    stack: list[tuple[Any, str]] = [(data, "$")]
    while stack:
        v, where = stack.pop()
        if isinstance(v, str):
            if has_surrogate(v):
                return where
        elif isinstance(v, dict):
            for k, x in v.items():
                if has_surrogate(k):
                    return f"{where} (a key)"
                stack.append((x, f"{where}.{k}"))
        elif isinstance(v, list):
            stack.extend((x, f"{where}[{i}]") for i, x in enumerate(v))
    return None


def load_transcript(path: str | Path) -> Transcript:
    """Read one transcript v1 JSON file. Every problem is a TranscriptError naming the file and,
    where there is one, the JSON path."""
    p = Path(path)
    try:
        st = p.stat()
        if not stat.S_ISREG(st.st_mode):
            raise TranscriptError(p, "not a regular file")
        if st.st_size > MAX_TRANSCRIPT_BYTES:
            raise TranscriptError(p, f"larger than {MAX_TRANSCRIPT_BYTES >> 20} MiB; not a transcript")
        raw = p.read_bytes()
    except OSError as exc:
        raise TranscriptError(p, f"cannot read file: {exc.strerror or exc}") from None
    return parse_transcript(decode_json(raw, p), p)



def load_transcript_input(path: str | Path, record: Any = None, where: str = "") -> tuple[Optional[Transcript], Optional[InputError]]:
    """A transcript file as one input of a batch: the transcript, or the error naming the file
    (nothing raised, so one bad file does not end the batch). ``record`` is one call already read
    from a bundle (see ``read_bundle``), ``where`` its place there (``line 3`` or ``$[2]``)."""
    if record is not None:
        try:
            return parse_transcript(record, path), None
        except TranscriptError as exc:
            return None, InputError(path=str(path), message=_placed(exc.message, where))
        except Exception as exc:  # noqa: BLE001 - one bad call must not end the batch
            return None, InputError(path=str(path), message=_placed(f"cannot be read ({type(exc).__name__}: {exc})", where))
    try:
        return load_transcript(path), None
    except TranscriptError as exc:
        return None, InputError(path=str(path), message=exc.message)
    except Exception as exc:  # noqa: BLE001 - one bad file must not end the batch
        return None, InputError(path=str(path), message=f"cannot be read ({type(exc).__name__}: {exc})")

def _placed(message: str, where: str) -> str:
    """An error message of one call in a bundle, placed: ``line 3: $.segments[0]...`` for JSON
    Lines, ``$[2].segments[0]...`` for an array."""
    if not where:
        return message
    if where.startswith("$") and message.startswith("$"):
        # every field's path of a grouped message (``$.a: …; $.b: …``), not only the first
        return re.sub(r"(^|; )\$(?=[.\[:])", lambda m: m.group(1) + where, message)
    return f"{where}: {message}"


def read_bundle(path: str | Path) -> Optional[list[tuple[str, Any, Optional[InputError]]]]:
    """The calls of a file that holds many transcripts, or None when it holds one (a .json file
    whose top level is not an array).

    A ``.jsonl`` file is JSON Lines: one transcript v1 object per line (blank lines skipped); a
    ``.json`` file starting with ``[`` is an array of them. Each call comes as (where, decoded
    JSON, None) or, when its line cannot be decoded, (where, None, error naming the file and the
    line), so one bad line loses only itself. An unreadable file or an array that is not valid
    JSON is one error for the whole file."""
    p = Path(path)
    is_lines = p.suffix.lower() == ".jsonl"
    try:
        st = p.stat()
        if not stat.S_ISREG(st.st_mode):
            return None if not is_lines else [("", None, InputError(path=str(p), message="not a regular file"))]
        if not is_lines:
            with p.open("rb") as fh:
                head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
            if not head.startswith(b"["):
                return None
        if st.st_size > MAX_BUNDLE_BYTES:
            return [("", None, InputError(path=str(p), message=(
                f"larger than {MAX_BUNDLE_BYTES >> 20} MiB; split it into smaller files")))]
        raw = p.read_bytes()
    except OSError as exc:
        if not is_lines:
            return None  # load_transcript reports it
        return [("", None, InputError(path=str(p), message=f"cannot read file: {exc.strerror or exc}"))]
    out: list[tuple[str, Any, Optional[InputError]]] = []
    if not is_lines:
        try:
            data = decode_json(raw, p)
        except TranscriptError as exc:
            return [("", None, InputError(path=str(p), message=exc.message))]
        return _array_calls(data, p)
    first = next((line for line in raw.splitlines() if line.strip()), b"")
    try:
        first.decode("utf-8")
    except UnicodeDecodeError as exc:  # the file's encoding: one error for it, not one a line
        return [("", None, InputError(path=str(p), message=(
            f"not UTF-8 text (line 1, byte {exc.start}); save it as UTF-8 (a GBK export: iconv -f GBK -t UTF-8)")))]
    try:
        decode_json(first, p)
    except TranscriptError:
        # not JSON Lines: one JSON document spread over lines (pretty-printed), read as a .json file
        try:
            data = decode_json(raw, p)
        except TranscriptError:
            pass
        else:
            return _array_calls(data, p) if isinstance(data, list) else [("", data, None)]
    for n, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        where = f"line {n}"
        if len(out) >= MAX_BUNDLE_CALLS:
            out.append((where, None, InputError(path=str(p), message=f"{where}: more than {MAX_BUNDLE_CALLS} calls in one file; the rest is not read")))
            break
        if len(line) > MAX_TRANSCRIPT_BYTES:
            out.append((where, None, InputError(path=str(p), message=f"{where}: larger than {MAX_TRANSCRIPT_BYTES >> 20} MiB; not a transcript")))
            continue
        try:
            out.append((where, decode_json(line, p), None))
        except TranscriptError as exc:
            msg = exc.message.replace("invalid JSON at line 1, column", "invalid JSON at column")
            out.append((where, None, InputError(path=str(p), message=f"{where}: {msg}")))
    return out


def _array_calls(data: list, p: Path) -> list[tuple[str, Any, Optional[InputError]]]:
    """The calls of a JSON array of transcripts, each named by its index (``$[3]``)."""
    if len(data) > MAX_BUNDLE_CALLS:
        return [("", None, InputError(path=str(p), message=f"more than {MAX_BUNDLE_CALLS} calls in one file"))]
    return [(f"$[{i}]", rec, None) for i, rec in enumerate(data)]


def transcript_file_inputs(path: str | Path) -> list[tuple[str, Optional[Transcript], Optional[InputError]]]:
    """Every call of one transcript file, loaded: (source, transcript, None) or (source, None,
    error). A file with one transcript gives one entry; a bundle (``read_bundle``) one per call,
    its source naming the line (``calls.jsonl:3``) or the array index (``calls.json$[2]``)."""
    bundle = read_bundle(path)
    if bundle is None:
        t, err = load_transcript_input(path)
        return [(str(path), t, err)]
    out: list[tuple[str, Optional[Transcript], Optional[InputError]]] = []
    for where, record, err in bundle:
        source = _bundle_source(path, where)
        if err is not None:
            out.append((source, None, err))
        else:
            t, err = load_transcript_input(path, record, where)
            out.append((source, t, err))
    return out


def _bundle_source(path: str | Path, where: str) -> str:
    if not where:
        return str(path)
    return f"{path}:{where[5:]}" if where.startswith("line ") else f"{path}{where}"


def find_transcripts(paths: Iterable[str | Path]) -> list[Path]:
    """Expand files and directories (recursively) into transcript files, sorted and unique."""
    found: list[Path] = []
    seen: set[Path] = set()
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            files = [f for f in _walk(p) if f.is_file() and f.suffix.lower() in TRANSCRIPT_SUFFIXES]
        else:
            files = [p]
        for f in files:
            key = f.resolve()
            if key not in seen:
                seen.add(key)
                found.append(f)
    return found


# --- Audio inputs -------------------------------------------------------------------------------

AUDIO_SUFFIXES = {
    ".wav", ".wave", ".mp3", ".m4a", ".mp4", ".aac", ".flac", ".ogg", ".oga", ".opus",
    ".wma", ".amr", ".webm", ".au", ".aif", ".aiff", ".gsm", ".3gp", ".mka",
}
AGENT_CHANNELS = ("left", "right", "auto", "mono")
MANIFEST_COLUMNS = ("call_id", "agent_id", "audio", "started_at", "agent_channel")


class AudioError(Exception):
    """An audio file that cannot be used (corrupt, empty, no samples); names the file."""

    def __init__(self, path: str | Path, message: str):
        self.path = str(path)
        self.message = message
        super().__init__(f"{self.path}: {message}")


class RecordingError(Exception):
    """A recording that may not be used: missing, a dangling link, not a regular file, or outside
    the folders recordings may come from (directly or through a symbolic link)."""

    def __init__(self, message: str, missing: bool = False):
        self.message = message
        self.missing = missing  # simply not there (reported, but not a hostile reference)
        super().__init__(message)


def _within(real: Path, roots: Sequence[Path]) -> bool:
    return any(real == r or r in real.parents for r in roots)


def real_roots(folders: Iterable[str | Path]) -> list[Path]:
    """The folders (resolved) recordings may come from; missing ones are left out."""
    out: list[Path] = []
    for f in folders:
        try:
            r = Path(f).resolve(strict=True)
        except (OSError, RuntimeError):
            continue
        if r.is_dir() and r not in out:
            out.append(r)
    return out


def locate_recording(ref: str | Path, base: Optional[Path], roots: Sequence[Path]) -> Path:
    """The real path of the recording ``ref`` names (relative to ``base``, the folder of the
    file that names it), provided it is a regular file inside one of ``roots`` (resolved folders)
    after following every symbolic link. Raises RecordingError saying why not otherwise.

    This is the one gate for recordings named by transcripts and manifests: nothing outside
    the input folders (or a configured media root) is read into the reports, and no link
    leading out of them is followed.
    """
    text = str(ref)
    if not text.strip() or "\x00" in text:
        raise RecordingError("the recording path is empty or not a valid path")
    p = Path(text)
    if not p.is_absolute():
        if base is None:
            raise RecordingError(f"relative recording path {text!r} with no folder to resolve it in")
        p = Path(base) / p
    try:
        real = p.resolve(strict=True)
    except FileNotFoundError:
        if os.path.islink(p):
            raise RecordingError(f"recording {text!r} is a dangling symbolic link "
                                 f"(to {os.readlink(p)!r})") from None
        raise RecordingError(f"recording not found: {text}", missing=True) from None
    except (OSError, RuntimeError) as exc:  # a link loop, no permission, a name too long ...
        raise RecordingError(f"recording {text!r} cannot be resolved ({getattr(exc, 'strerror', None) or exc})") from None
    if not _within(real, roots):
        how = " through a symbolic link" if real != Path(os.path.abspath(p)) else ""
        raise RecordingError(f"recording {text!r} leads outside the input folders{how} (to {real}); "
                             "recordings are used only from the folder of the file that names them, "
                             "the folders given on the command line, or a --media-root")
    try:
        st = real.stat()
    except OSError as exc:
        raise RecordingError(f"recording {text!r} cannot be read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(st.st_mode):
        raise RecordingError(f"recording {text!r} is not a regular file")
    return real


@dataclass
class CallInput:
    """One call to process: an audio recording or a transcript file, with what is known about it."""

    path: Path
    kind: Literal["audio", "transcript"]
    call_id: str
    agent_id: str = "unknown"
    started_at: Optional[str] = None
    agent_channel: str = "left"  # "left" | "right" | "auto" | "mono"
    metadata: dict[str, Any] = field(default_factory=dict)
    # True when a manifest named the agent channel; otherwise the transcription options decide.
    channel_from_manifest: bool = False
    # One call of a file holding many (read_bundle): its decoded JSON and its place in the file.
    record: Any = None
    where: str = ""
    # A recording a manifest row describes (its call id, agent and date come from the row).
    listed: bool = False

    @property
    def source(self) -> str:
        """The input named for this call in errors and the history: the file, and for a call of a
        bundle its line (``calls.jsonl:3``) or array index (``calls.json$[2]``)."""
        return _bundle_source(self.path, self.where)


def _kind_of(path: Path) -> Optional[str]:
    suffix = path.suffix.lower()
    if suffix in TRANSCRIPT_SUFFIXES:
        return "transcript"
    if suffix in AUDIO_SUFFIXES:
        return "audio"
    return None


def _read_manifest(manifest: Path, roots: Sequence[Path] = ()) -> tuple[dict[Path, dict[str, Any]], list[InputError]]:
    """Rows of a manifest CSV keyed by the recording's real path; errors name the file and line.

    A row's recording must lie inside the manifest's folder or one of ``roots``.
    """
    rows: dict[Path, dict[str, Any]] = {}
    errors: list[InputError] = []
    where = str(manifest)
    try:
        text = spreadsheet_text(regular_file_bytes(manifest))
    except OSError as exc:
        return rows, [InputError(path=where, message=f"cannot read manifest: {exc.strerror or exc}")]
    except UnicodeDecodeError as exc:
        return rows, [InputError(path=where, message=f"manifest is not UTF-8 or GBK text (byte {exc.start}: {exc.reason})")]
    allowed = real_roots([manifest.parent, *roots])
    reader = csv.DictReader(io.StringIO(text), strict=True)
    try:
        fieldnames = reader.fieldnames or []
    except csv.Error as exc:
        return rows, [InputError(path=f"{where}:1", message=_csv_problem(exc))]
    header = [h.strip() for h in fieldnames]
    missing = [c for c in ("call_id", "audio") if c not in header]
    if missing:
        return rows, [InputError(path=f"{where}:1", message=f"manifest header lacks column(s) {', '.join(missing)}; "
                                                          f"expected {','.join(MANIFEST_COLUMNS)}")]
    seen_ids: dict[str, int] = {}
    seen_audio: dict[Path, int] = {}
    row_audio: dict[int, str] = {}  # line → the recording its row names
    rows_iter = iter(reader)
    while True:
        first_line = reader.line_num + 1  # where the next row starts
        try:
            raw = next(rows_iter)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(InputError(path=f"{where}:{first_line}", message=_csv_problem(exc)))
            if "unexpected end of data" in str(exc):
                break
            continue
        line = first_line
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        if None in raw:  # more cells than header columns
            errors.append(InputError(path=f"{where}:{line}", message="more cells than header columns"))
            continue
        call_id, audio = row.get("call_id", ""), row.get("audio", "")
        if audio:
            row_audio[line] = audio
        if not call_id or not audio:
            errors.append(InputError(path=f"{where}:{line}", message="call_id and audio must not be empty"))
            continue
        try:
            check_call_id(call_id)
        except ValueError as exc:
            errors.append(InputError(path=f"{where}:{line}", message=f"call_id {call_id!r} {exc}"))
            continue
        try:
            check_agent_id(row.get("agent_id") or "")
        except ValueError as exc:
            errors.append(InputError(path=f"{where}:{line}", message=f"agent_id {row.get('agent_id')!r} {exc}"))
            continue
        started_at = row.get("started_at") or None
        if started_at is not None:
            try:
                check_started_at(started_at)
            except ValueError as exc:
                errors.append(InputError(path=f"{where}:{line}", message=f"started_at: {exc}"))
                continue
        given = (row.get("agent_channel") or "").lower()
        channel = given or "left"
        if channel not in AGENT_CHANNELS:
            errors.append(InputError(path=f"{where}:{line}",
                                     message=f"agent_channel '{channel}' is not one of {', '.join(AGENT_CHANNELS)}"))
            continue
        if call_id in seen_ids:
            errors.append(InputError(path=f"{where}:{line}",
                                     message=f"call_id '{call_id}' already used on line {seen_ids[call_id]}"))
            continue
        try:
            real = locate_recording(audio, manifest.parent, allowed)
        except RecordingError as exc:
            message = f"audio file not found: {audio}" if exc.missing else exc.message
            errors.append(InputError(path=f"{where}:{line}", message=message))
            continue
        if real in seen_audio:
            errors.append(InputError(path=f"{where}:{line}", message=(
                f"recording {audio} is already listed on line {seen_audio[real]} "
                f"(call_id '{rows[real]['call_id']}'); one recording is one call")))
            continue
        seen_ids[call_id] = line
        seen_audio[real] = line
        audio_path = Path(audio)
        if not audio_path.is_absolute():
            audio_path = manifest.parent / audio_path
        rows[real] = {
            "call_id": call_id,
            "agent_id": row.get("agent_id") or "unknown",
            "started_at": started_at,
            "agent_channel": channel,
            "channel_given": bool(given),
            "path": audio_path,
            "metadata": {k: v for k, v in row.items() if k not in MANIFEST_COLUMNS and k},
        }
    # A row with a mistake keeps its recording out of the batch: scored under its file name instead,
    # it would be recorded as another call (agent "unknown") that the corrected row then duplicates.
    for n, e in enumerate(errors):
        line = int(e.path.rsplit(":", 1)[1]) if e.path.startswith(f"{where}:") else None
        if line not in row_audio:
            continue
        try:
            real = locate_recording(row_audio[line], manifest.parent, allowed)
        except RecordingError:
            continue
        if real not in rows:
            rows[real] = {"rejected": line, "path": manifest.parent / row_audio[line]}
            errors[n] = InputError(path=e.path, message=f"{e.message}; its recording is not scored until the row is right")
    return rows, errors


def _csv_problem(exc: csv.Error) -> str:
    msg = str(exc)
    if "unexpected end of data" in msg:
        return ('unbalanced quote: a cell opened with " on this line is never closed, so the rest of the '
                "manifest was not read; close the quote or double it (\"\") inside a quoted cell")
    if "expected after" in msg:
        return f'unbalanced quote: text follows a closing " in a cell ({msg}); double a quote ("") inside a quoted cell'
    return f"not valid CSV: {msg}"


def _walk(folder: Path) -> list[Path]:
    """Every file (and file-like entry) under ``folder``, sorted; symbolic links to folders are
    not descended into. Hidden entries (a name starting with ".") are skipped, as version control
    and test runners skip them: the transcription cache that ``transcribe --out`` keeps
    (``.cache/``) holds a second copy of every call, and ``._*`` files are a Mac's metadata."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        base = Path(dirpath)
        dirnames[:] = [name for name in dirnames if not name.startswith(".")]
        found.extend(base / name for name in filenames if not name.startswith("."))
        found.extend(base / name for name in dirnames if os.path.islink(base / name))
    return sorted(found)


def discover_inputs(
    paths: list[str | Path], manifest: Optional[Path] = None, media_roots: Sequence[str | Path] = (),
) -> tuple[list[CallInput], list[InputError]]:
    """Expand files and folders (recursively) into calls: audio recordings and transcript JSON files.

    With a manifest CSV (columns call_id,agent_id,audio,started_at,agent_channel; other columns are
    kept as metadata) audio files get their call id, agent and channel from it, and the manifest's
    audio files are inputs even when ``paths`` is empty. Without one, the call id is the file stem.

    Files named on the command line are used as named. Inside a folder, a symbolic link is
    followed only when it stays inside that folder (or a media root); a link that leads out, or
    leads nowhere, is an error naming it. A manifest's recordings must lie inside the manifest's
    folder, a folder in ``paths`` or a media root.
    Problems (missing files, unknown file types, manifest mistakes) are returned, not raised.
    """
    errors: list[InputError] = []
    rows: dict[Path, dict[str, Any]] = {}
    media = real_roots(media_roots)
    folders = real_roots(Path(p) for p in paths if Path(p).is_dir())
    if manifest is not None:
        rows, errors = _read_manifest(Path(manifest), folders + media)

    files: list[Path] = []
    seen: set[Path] = set()

    def add(f: Path) -> None:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            files.append(f)

    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            allowed = real_roots([p]) + media
            for f in _walk(p):
                if _kind_of(f) is None:
                    continue
                if os.path.islink(f):
                    try:
                        real = f.resolve(strict=True)
                    except FileNotFoundError:
                        errors.append(InputError(path=str(f), message=f"dangling symbolic link (to {os.readlink(f)!r})"))
                        continue
                    except (OSError, RuntimeError) as exc:
                        errors.append(InputError(path=str(f), message=f"cannot resolve symbolic link ({exc})"))
                        continue
                    if not _within(real, allowed):
                        errors.append(InputError(path=str(f), message=(
                            f"symbolic link leads outside the input folder {p} (to {real}); not used")))
                        continue
                if f.is_file():
                    add(f)
        elif p.is_file():
            if _kind_of(p) is None:
                errors.append(InputError(path=str(p), message=f"unknown file type '{p.suffix or '(none)'}'; "
                                                            "expected .json, .jsonl or an audio file"))
            else:
                add(p)
        elif os.path.islink(p):
            errors.append(InputError(path=str(p), message=f"dangling symbolic link (to {os.readlink(p)!r})"))
        else:
            errors.append(InputError(path=str(p), message="no such file or folder"))
    for key, row in rows.items():
        if key not in seen and "rejected" not in row:
            add(row["path"])

    inputs: list[CallInput] = []
    ids: dict[str, Path] = {}
    for f in files:
        kind = _kind_of(f)
        if kind == "transcript":
            bundle = read_bundle(f)
            if bundle is not None:
                for where, record, err in bundle:
                    if err is not None:
                        errors.append(err)
                    else:
                        inputs.append(CallInput(path=f, kind="transcript", call_id=_bundle_source(f, where),
                                                record=record, where=where))
                continue
        row = rows.get(f.resolve()) if kind == "audio" else None
        if row is not None and "rejected" in row:
            continue  # its manifest row's error says why
        if row is not None:
            inp = CallInput(path=f, kind="audio", call_id=row["call_id"], agent_id=row["agent_id"],
                            started_at=row["started_at"], agent_channel=row["agent_channel"],
                            metadata=dict(row["metadata"]), channel_from_manifest=row["channel_given"], listed=True)
        else:
            inp = CallInput(path=f, kind=kind, call_id=f.stem)  # type: ignore[arg-type]
        if inp.kind == "audio":
            try:
                check_call_id(inp.call_id)
            except ValueError as exc:
                errors.append(InputError(path=str(f), message=f"call id {inp.call_id!r} (from the file name) {exc}; "
                                                             "give it a call_id in a manifest"))
                continue
        if inp.kind == "audio" and inp.call_id in ids:
            errors.append(InputError(path=str(f), message=f"call id '{inp.call_id}' is also used by {ids[inp.call_id]}; "
                                                         "rename the file or give it a call_id in a manifest"))
            continue
        if inp.kind == "audio":
            ids[inp.call_id] = f
        inputs.append(inp)
    return inputs, errors


def probe_duration(path: str | Path) -> Optional[float]:
    """The recording's duration in seconds from its header (no decoding); None when unknown."""
    import av  # PyAV, bundled FFmpeg

    try:
        with av.open(str(path), mode="r", metadata_errors="ignore") as container:
            stream = container.streams.audio[0]
            if stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
            if container.duration is not None:
                return container.duration / 1_000_000
    except Exception:  # noqa: BLE001 - probing is best effort; decode_audio reports the error
        return None
    return None


def decode_audio(path: str | Path, sr: int = 16000) -> list[np.ndarray]:
    """Decode a recording into one float32 array per channel (mono: one, stereo: two), at ``sr`` Hz.

    Recordings with more than two channels keep their first two (the left/right pair; see
    ``audio_channels`` for how many the file has). Raises AudioError naming the
    file for anything unusable: missing, empty, corrupt, not audio, or without samples.
    """
    import av  # PyAV, bundled FFmpeg: wav (PCM, mu-law, A-law), mp3, m4a, flac, ogg, ...

    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise AudioError(p, f"cannot read file: {exc.strerror or exc}") from None
    if size == 0:
        raise AudioError(p, "empty file (0 bytes)")
    chunks: list[np.ndarray] = []
    try:
        with av.open(str(p), mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise AudioError(p, "no audio stream in file")
            stream = container.streams.audio[0]
            if stream.codec_context is None:  # a format tag no decoder knows
                raise AudioError(p, "cannot decode audio (no decoder for its format); "
                                    "the file is corrupt or not a supported audio format")
            n_in = stream.codec_context.channels or 1
            # More than two channels: resample every channel in the file's own layout, then keep
            # the first two, the left/right pair (front left/right of 5.1). Packed float, one plane
            # whatever the count, taken apart here: planar frames of eight channels or more keep
            # their planes where the decoder's bindings do not read them (the process crashed).
            layout = "mono" if n_in == 1 else "stereo" if n_in == 2 else stream.layout
            packed = n_in > 2
            resampler = av.AudioResampler(format="flt" if packed else "fltp", layout=layout, rate=sr)

            def channels(out) -> np.ndarray:
                if not packed:
                    return out.to_ndarray()[:2]
                n = len(out.layout.channels)
                return out.to_ndarray().reshape(-1, n).T[:2]

            for frame in container.decode(stream):
                frame.pts = None
                for out in resampler.resample(frame):
                    chunks.append(channels(out))
            for out in resampler.resample(None):
                chunks.append(channels(out))
    except AudioError:
        raise
    except av.error.FFmpegError as exc:
        raise AudioError(p, f"cannot decode audio ({exc.strerror or type(exc).__name__}); "
                            "the file is corrupt or not a supported audio format") from None
    except (ValueError, RuntimeError, OSError) as exc:
        raise AudioError(p, f"cannot decode audio: {exc}") from None
    if not chunks:
        raise AudioError(p, "no audio samples (zero-length recording)")
    data = np.concatenate(chunks, axis=1).astype(np.float32, copy=False)
    if data.shape[1] == 0:
        raise AudioError(p, "no audio samples (zero-length recording)")
    return [np.ascontiguousarray(ch) for ch in data]


def audio_channels(path: str | Path) -> Optional[int]:
    """How many channels the recording's first audio stream has (from its header); None if unknown."""
    import av

    try:
        with av.open(str(path), mode="r", metadata_errors="ignore") as container:
            codec = container.streams.audio[0].codec_context
            return (codec.channels or None) if codec is not None else None
    except Exception:  # noqa: BLE001 - best effort, like probe_duration
        return None

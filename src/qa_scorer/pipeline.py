"""The batch jobs behind the CLI: inputs → transcripts → scorecards → history → reports.

Every stage is called from here in order; a bad input is recorded as an error naming the file
and the batch goes on (whatever goes wrong with one input, short of the history database itself
failing). Each call is written to the history as soon as it is scored, so a batch that is
stopped loses nothing already done. Every output file is written atomically.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Callable, Iterable, Optional

from qa_scorer.ingest import RecordingError, find_transcripts, locate_recording, real_roots, transcript_file_inputs
from qa_scorer.models import InputError, Scorecard, Transcript
from qa_scorer.outputs import OwnedFiles, atomic_write_text, output_lock
from qa_scorer.rubric.engine import prepared
from qa_scorer.rubric.registry import Rubric
from qa_scorer.score import score_transcript

DEFAULT_OUT = Path("reports")


@dataclass
class ScoredCall:
    transcript: Transcript
    scorecard: Scorecard
    source: str
    # (score, bonus, fatal) after the human rulings the history carried over to this result,
    # where they differ from the scorecard's (the machine's); None otherwise
    ruled: Optional[tuple[float, float, bool]] = None


@dataclass
class BatchResult:
    calls: list[ScoredCall] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)
    out_dir: Optional[Path] = None
    db: Optional[Path] = None
    rendered: Optional[object] = None  # render.RenderSummary when reports were rendered
    # (call id, why) for stereo calls that sound as if the agent were on the other channel, or with
    # one channel silent
    channel_doubts: list[tuple[str, str]] = field(default_factory=list)
    # (call id, why) for recordings that hold less audio than their header says (cut off)
    cut_off: list[tuple[str, str]] = field(default_factory=list)
    # (call id, why) for what was scored on an assumption: a recording a manifest was given for but
    # that has no row in it (call id from its file name, agent unknown, dated today), a transcript
    # without a channel or a recording (scored as a phone call)
    assumed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def scorecards(self) -> list[Scorecard]:
        return [c.scorecard for c in self.calls]


def score_transcript_files(
    paths: Iterable[str | Path],
    rubric: Rubric,
    *,
    on_progress: Optional[Callable[[int, int], None]] = None,
) -> BatchResult:
    """Load and score transcript files (directories are searched recursively). No files written."""
    result = BatchResult()
    files = find_transcripts(paths)
    loaded = []
    total = 0
    for path in files:
        for source, transcript, error in transcript_file_inputs(path):
            total += 1
            if error is not None:
                result.errors.append(error)
            else:
                loaded.append((source, transcript))
    # one scorecard per call id, by the rule ``score`` keeps the history with: a repeat is an
    # error naming both files (an evaluation must not count a call twice)
    kept, repeats = unique_transcripts(
        [(SimpleNamespace(kind="transcript", source=str(src), pair=(src, t)), t) for src, t in loaded])
    result.errors.extend(repeats)
    loaded = [inp.pair for inp, _ in kept]
    calls = prepared(rubric, (t for _, t in loaded))
    for n, ((source, transcript), (_, call)) in enumerate(zip(loaded, calls), 1):
        try:
            card = score_transcript(transcript, rubric, source=source, call=call)
        except Exception as exc:  # noqa: BLE001 - one bad input must not end the batch
            result.errors.append(_unexpected(source, exc))
        else:
            result.calls.append(ScoredCall(transcript, card, source))
        if on_progress:
            on_progress(n + total - len(loaded), total)
    return result


def file_stem(call_id: str) -> str:
    """A safe file name for a call id (the same one the HTML reports use)."""
    from qa_scorer.report import safe_name

    return safe_name(call_id)


def _unexpected(path, exc: BaseException) -> InputError:
    return InputError(path=str(path), message=f"could not be processed ({type(exc).__name__}: {exc})")


def write_json(cards: list[Scorecard], path: Path) -> None:
    """All scorecards as one JSON list (atomically: a killed run leaves the previous file)."""
    data = [c.model_dump(mode="json") for c in cards]
    atomic_write_text(Path(path), json.dumps(data, ensure_ascii=False, indent=1))


def write_call_files(call: ScoredCall, out_dir: Path) -> list[Path]:
    """The call's scorecard under scorecards/ and its transcript under transcripts/ (for hand
    correction and re-scoring), each written atomically. Returns the paths written."""
    stem = file_stem(call.scorecard.call_id)
    written = []
    for folder, record in (("scorecards", call.scorecard), ("transcripts", call.transcript)):
        path = Path(out_dir) / folder / f"{stem}.json"
        atomic_write_text(path, record.model_dump_json(indent=1, exclude_none=folder == "transcripts"))
        written.append(path)
    return written


def score_batch(
    paths: Iterable[str | Path],
    rubric: Rubric,
    *,
    out_dir: Path = DEFAULT_OUT,
    db: Optional[Path] = None,
    json_path: Optional[Path] = None,
    manifest: Optional[Path] = None,
    transcribe_options=None,
    retranscribe: bool = False,
    render: bool = True,
    progress: bool = True,
    media_roots: Iterable[str | Path] = (),
) -> BatchResult:
    """Score transcripts and recordings: transcribe what needs it, score, record to the
    history, write per-call files, and render the reports into ``out_dir``.

    Recordings are used only from inside the folders they are found in or named from (the
    folder of the transcript or manifest, a folder in ``paths``) or a ``media_roots`` folder;
    a transcript whose ``audio`` leads elsewhere is scored without it and reported.
    Raises ``store.StoreError`` when the history database cannot be used.
    """
    from qa_scorer.ingest import discover_inputs
    from qa_scorer.store import History, StoreError
    from qa_scorer.transcribe import TranscribeOptions, transcribe_batch

    out_dir = Path(out_dir)
    db = Path(db) if db is not None else out_dir / "qa.sqlite"
    result = BatchResult(out_dir=out_dir, db=db)
    paths = list(paths)
    media = real_roots(media_roots)
    folders = real_roots(p for p in paths if Path(p).is_dir())
    with History(db) as history:
        inputs, errors = discover_inputs(paths, manifest, media)
        result.errors.extend(errors)
        inputs, errors = unique_calls(inputs)
        result.errors.extend(errors)
        inputs = without_named_recordings(inputs)
        if manifest is not None:
            result.assumed += [(i.call_id, f"{i.path}: not in the manifest; call id from the file name, agent "
                                           "unknown, dated the day it is scored") for i in inputs if i.kind == "audio" and not i.listed]
        options = transcribe_options or TranscribeOptions()
        pairs, errors = transcribe_batch(inputs, options, out_dir / ".cache" / "transcripts",
                                         retranscribe=retranscribe, progress=progress)
        result.errors.extend(errors)
        pairs, errors = unique_transcripts(pairs)
        result.errors.extend(errors)
        result.assumed += [(t.call_id, f"{inp.source}: no \"channel\" and no recording; scored as a phone call "
                                       "(hold and speech rate judged): a chat log needs \"channel\": \"chat\"")
                           for inp, t in pairs if inp.kind == "transcript" and "channel" not in t.model_fields_set
                           and not t.audio]
        result.channel_doubts = mark_channel_doubts(t for _, t in pairs)
        result.cut_off = cut_off_calls(t for _, t in pairs)
        written: list[Path] = []
        checked, claims = _recording_claims(pairs, history, folders + media)
        stored = history.recording_agents()  # the history's claims before this batch: one query
        calls = prepared(rubric, (t for _, t in pairs))  # the models read the calls a chunk at a time
        for (inp, _), check in zip(_with_progress(pairs, "scoring", progress), checked):
            source = inp.source
            _, call = next(calls)
            try:
                if isinstance(check, Exception):
                    raise check
                transcript, recording, problem = check
                if recording is not None and problem is None:
                    problem = _shared(inp, transcript, recording, claims, stored)
                if problem is not None:
                    result.errors.append(problem)
                card = score_transcript(transcript, rubric, source=source, call=call)
                history.record(transcript, card, source=source, recording=recording)
                now = history.effective(card.call_id, card.rubric_version)
                call = ScoredCall(transcript, card, source,
                                  ruled=now if now is not None and now != (card.score, card.bonus, card.fatal) else None)
                written += write_call_files(call, out_dir)
            except StoreError:
                raise
            except Exception as exc:  # noqa: BLE001 - one bad input must not end the batch
                result.errors.append(_unexpected(inp.source, exc))
                continue
            result.calls.append(call)
        scored = {c.scorecard.call_id for c in result.calls}
        result.channel_doubts = [d for d in result.channel_doubts if d[0] in scored]
        result.cut_off = [d for d in result.cut_off if d[0] in scored]
        # (a recording skipped as a repeat of another was not scored on any assumption)
        result.assumed = [d for d in result.assumed if d[0] in scored]
        if json_path is not None:
            write_json(result.scorecards, json_path)
        if render and result.calls:
            from qa_scorer.report import render_update

            # Only what this batch changed: its scorecards, its agents' pages, index, dashboard
            # (the files written above are listed with the outputs in the same pass).
            result.rendered = render_update(history, out_dir, [c.scorecard.call_id for c in result.calls],
                                            media_roots=media, written=written)
        elif written:
            with output_lock(out_dir):
                owned = OwnedFiles.load(out_dir)
                for path in written:
                    owned.add(path)
                owned.save()
    return result


def _recording_claims(pairs: list, history, roots: list[Path]) -> tuple[list, dict[str, list[tuple[str, str]]]]:
    """Each call's ``_check_recording`` (or the exception it raised, for the call to report when it
    is scored), and per recording (real path) the calls of this batch scored with it: (agent id,
    source)."""
    checked: list = []
    claims: dict[str, list[tuple[str, str]]] = {}
    for inp, transcript in pairs:
        try:
            check = _check_recording(inp, transcript, history, roots)
        except Exception as exc:  # noqa: BLE001 - the call's own error comes when it is scored
            checked.append(exc)
            continue
        checked.append(check)
        recording = check[1]
        if recording is not None:
            claims.setdefault(recording, []).append((check[0].agent_id, inp.source))
    return checked, claims


def _shared(inp, transcript: Transcript, recording: str, claims: dict, stored: dict) -> Optional[InputError]:
    """The error for a call scored with a recording that calls of another agent are scored with,
    in this batch or in the history (``stored``), naming the other call's file where it is in this
    batch; None otherwise. One recording is one call: the call keeps the recording as its claim,
    so that the reports and the review app, which refuse a recording claimed for two agents, play
    and copy it for neither (either agent could otherwise play the other's call)."""
    others = [src for agent, src in claims.get(recording, []) if agent != transcript.agent_id]
    earlier = stored.get(recording, set()) - {transcript.agent_id}
    if not others and not earlier:
        return None
    ref = transcript.audio if inp.kind == "transcript" else Path(inp.path).name
    where = f"the recording of {others[0]}" if others else "the recording of a call of another agent in the history"
    field = "$.audio: " if inp.kind == "transcript" else ""
    return InputError(path=inp.source, message=f"{field}{ref}: also {where}; one recording is one call: "
                                               "played and copied for neither")


def _check_recording(inp, transcript: Transcript, history, roots: list[Path]):
    """(transcript, checked recording path or None, InputError or None) for one call.

    A recording input is its own recording. A transcript's ``audio`` must lead to a regular
    file inside the transcript's folder, a folder given as input, or a media root, or be the
    recording the history already holds for this call (checked when it was scored before);
    otherwise the call is scored without it and the error names the file and ``$.audio``.
    """
    if inp.kind == "audio":
        real = Path(inp.path).resolve(strict=True)
        # The recording itself: an absolute path stays valid from the history, the reports and
        # the transcript written beside the scorecard.
        return transcript.model_copy(update={"audio": str(real)}), str(real), None
    ref = transcript.audio
    if not ref:
        return transcript, None, None
    folder = Path(inp.path).parent
    try:
        real = locate_recording(ref, folder, real_roots([folder]) + roots)
        return transcript, str(real), None
    except RecordingError as exc:
        if exc.missing:
            return transcript, None, None  # reported when the reports are rendered
        problem = exc.message
    known = history.recording(transcript.call_id)
    if known:
        try:
            if (folder / ref).resolve(strict=True) == Path(known):
                return transcript, known, None
        except (OSError, RuntimeError):
            pass
    refused = {"path": ref, "reason": problem}
    transcript = transcript.model_copy(update={
        "audio": None, "metadata": {**transcript.metadata, "audio_refused": refused}})
    return transcript, None, InputError(path=inp.source, message=f"$.audio: {problem}; scored without the recording")


def unique_transcripts(pairs: list) -> tuple[list, list[InputError]]:
    """One transcript per call id, by the id the transcripts carry (a transcript file's own
    ``call_id`` need not match its file name), as ``unique_calls`` does by file name: a
    transcript beats a recording of the same call, otherwise the first is scored; every repeat
    is an error naming both files, so no call silently replaces another in the history."""
    chosen: dict[str, tuple] = {}
    for inp, t in pairs:
        first = chosen.get(t.call_id)
        if first is None or (first[0].kind == "audio" and inp.kind == "transcript"):
            chosen[t.call_id] = (inp, t)
    errors = []
    kept_ids = {id(p[0]) for p in chosen.values()}
    for inp, t in pairs:
        if id(inp) not in kept_ids:
            errors.append(InputError(path=inp.source, message=(
                f"call id {t.call_id!r} is also given by {chosen[t.call_id][0].source}; "
                "that one was scored, this one skipped")))
    return [p for p in pairs if id(p[0]) in kept_ids], errors


def without_named_recordings(inputs: list) -> list:
    """The inputs less each recording that a valid transcript among them names as its ``audio``:
    that transcript is the call (a vendor's export names its recordings by another id than the
    call's, rec/9f2c1e.wav for call V-0001); scored again on its own, the recording was a second
    call under its file name and agent unknown, counted twice, and copied where an agent bound to
    unknown could play it. A recording a manifest row describes is its own call and stays; so does
    one named only by a transcript that is refused (its error says why) or too large to read."""
    from qa_scorer.ingest import MAX_TRANSCRIPT_BYTES, TranscriptError, parse_transcript

    loose = {Path(i.path).resolve(): i for i in inputs if i.kind == "audio" and not i.listed}
    if not loose:
        return inputs
    named: set[Path] = set()
    for inp in inputs:
        if inp.kind != "transcript":
            continue
        record = inp.record
        if record is None:
            try:
                if Path(inp.path).stat().st_size > MAX_TRANSCRIPT_BYTES:
                    continue
                raw = Path(inp.path).read_bytes()
                if b'"audio"' not in raw:
                    continue
                record = json.loads(raw.decode("utf-8-sig"))
            except (OSError, ValueError, RecursionError):
                continue  # its own error comes when it is read
        ref = record.get("audio") if isinstance(record, dict) else None
        if not isinstance(ref, str) or not ref.strip():
            continue
        try:
            where = (Path(inp.path).parent / ref).resolve()
        except (OSError, RuntimeError, ValueError):
            continue
        if where not in loose:
            continue
        try:
            parse_transcript(record, inp.path)
        except TranscriptError:
            continue  # refused: the recording is scored as a call of its own, as before
        named.add(where)
    if not named:
        return inputs
    return [i for i in inputs if i.kind != "audio" or i.listed or Path(i.path).resolve() not in named]


def unique_calls(inputs: list) -> tuple[list, list[InputError]]:
    """One input per call id. When a recording and a transcript share an id (a recording with
    its hand-corrected transcript beside it), the transcript is scored; any other repeat is
    reported and skipped, so no call silently replaces another in the history."""
    chosen: dict[str, object] = {}
    for inp in inputs:
        first = chosen.get(inp.call_id)
        if first is None or (first.kind == "audio" and inp.kind == "transcript"):
            chosen[inp.call_id] = inp
    errors = []
    for inp in inputs:
        kept = chosen[inp.call_id]
        if inp is not kept:
            errors.append(InputError(path=inp.source, message=(
                f"call id {inp.call_id!r} is also given by {kept.source}; that one was scored, this one skipped")))
    kept_ids = {id(i) for i in chosen.values()}
    return [i for i in inputs if id(i) in kept_ids], errors


def cut_off_calls(transcripts: Iterable[Transcript]) -> list[tuple[str, str]]:
    """(call id, why) for each call whose recording holds clearly less audio than its header
    says (``metadata.asr.cut_off``, set when it was transcribed): scored as if the call ended
    where the file does."""
    out = []
    for t in transcripts:
        asr = t.metadata.get("asr") if isinstance(t.metadata, dict) else None
        cut = asr.get("cut_off") if isinstance(asr, dict) else None
        if isinstance(cut, dict) and isinstance(cut.get("header_s"), (int, float)) and isinstance(cut.get("decoded_s"), (int, float)):
            out.append((t.call_id, f"the recording holds {cut['decoded_s']:.1f} s of the {cut['header_s']:.1f} s its "
                                   "header says: cut off (a failed upload or copy?); judged as far as it goes"))
    return out


def mark_channel_doubts(transcripts: Iterable[Transcript]) -> list[tuple[str, str]]:
    """(call id, why) for each stereo call whose words say the agent is on the other channel than
    the one given, or with one channel silent; the why is also kept in the transcript's
    ``metadata.roles.doubt``."""
    from qa_scorer.transcribe.roles import channel_doubt, roles_of

    doubts = []
    for t in transcripts:
        why = channel_doubt(t)
        roles = roles_of(t)
        if why is not None:
            roles["doubt"] = why
            doubts.append((t.call_id, why))
        elif roles is not None:
            roles.pop("doubt", None)  # a doubt written before and settled since (speakers corrected)
    return doubts


def transcribe_only(
    paths: Iterable[str | Path],
    out_dir: Path,
    *,
    manifest: Optional[Path] = None,
    transcribe_options=None,
    retranscribe: bool = False,
    progress: bool = True,
    hotwords: Optional[list[str]] = None,
    media_roots: Iterable[str | Path] = (),
    channel_doubts: Optional[list[tuple[str, str]]] = None,
    cut_off: Optional[list[tuple[str, str]]] = None,
) -> tuple[list[Path], list[InputError]]:
    """Transcribe recordings into transcript v1 files (one per call) without scoring; stereo calls
    whose sides may be wrong (``mark_channel_doubts``) are added to ``channel_doubts``."""
    from qa_scorer.ingest import discover_inputs
    from qa_scorer.transcribe import TranscribeOptions, transcribe_batch

    out_dir = Path(out_dir)
    inputs, errors = discover_inputs(list(paths), manifest, media_roots)
    options = transcribe_options or TranscribeOptions()
    if hotwords is not None and options.hotwords is None:
        options = options.model_copy(update={"hotwords": hotwords})
    audio = [i for i in inputs if i.kind == "audio"]
    pairs, more = transcribe_batch(audio, options, out_dir / ".cache",
                                   retranscribe=retranscribe, progress=progress)
    doubts = mark_channel_doubts(t for _, t in pairs)
    if channel_doubts is not None:
        channel_doubts.extend(doubts)
    if cut_off is not None:
        cut_off.extend(cut_off_calls(t for _, t in pairs))
    written = []
    for _, transcript in pairs:
        path = out_dir / f"{file_stem(transcript.call_id)}.json"
        atomic_write_text(path, transcript.model_dump_json(indent=1, exclude_none=True))
        written.append(path)
    return written, errors + more


def report(
    out_dir: Path,
    *,
    db: Optional[Path] = None,
    since=None,
    until=None,
    agent: Optional[str] = None,
    agent_bundles: bool = False,
    media_roots: Iterable[str | Path] = (),
):
    """Re-render index, scorecards, agents' pages and dashboard from the history."""
    from qa_scorer.report import render_reports
    from qa_scorer.store import History

    out_dir = Path(out_dir)
    db = Path(db) if db is not None else out_dir / "qa.sqlite"
    _must_exist(db)
    with History(db) as history:
        return render_reports(history, out_dir, since=since, until=until, agent=agent,
                              agent_bundles=agent_bundles, media_roots=list(media_roots))


def export(out_dir: Path, *, db: Optional[Path] = None, since=None, until=None,
           agent: Optional[str] = None, unreadable: Optional[dict[str, str]] = None) -> list[Path]:
    """The dashboard's tables as CSV files for Excel. Stored calls that cannot be read back are
    left out and, when ``unreadable`` is given, listed there (call id → why)."""
    from qa_scorer.report import export_csv
    from qa_scorer.store import History

    out_dir = Path(out_dir)
    db = Path(db) if db is not None else out_dir / "qa.sqlite"
    _must_exist(db)
    with History(db) as history:
        files = export_csv(history, out_dir, since=since, until=until, agent=agent)
        if unreadable is not None:
            unreadable.update(history.unreadable)
        return files


def _must_exist(db: Path) -> None:
    from qa_scorer.store import StoreError

    if not db.exists():
        raise StoreError(f"{db}: no history database here; score some calls first (qa-scorer score ... --out DIR)")


def _with_progress(items: list, label: str, enabled: bool):
    if not enabled or len(items) < 50:
        yield from items
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  transient=True) as bar:
        task = bar.add_task(label, total=len(items))
        for item in items:
            yield item
            bar.advance(task)

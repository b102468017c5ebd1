"""Command line: parse arguments, call one library function, print, set the exit code.

Exit codes: 0 all good; 1 some input failed (the rest were still processed); 2 usage error;
3 rubric error; 4 history database error; 5 labels error.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

EXIT_INPUT, EXIT_RUBRIC, EXIT_STORE, EXIT_LABELS = 1, 3, 4, 5

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Offline call-quality scoring for Mandarin contact centres.")
rubric_app = typer.Typer(no_args_is_help=True, help="Check and explain rubric files.")
app.add_typer(rubric_app, name="rubric")

# No emoji codes: user text and locations such as "f.yaml:100:7" must print as they are (not 💯).
out = Console(soft_wrap=False, emoji=False)
err = Console(stderr=True, soft_wrap=True, emoji=False)

RubricOpt = typer.Option(None, "--rubric", "-r", help="Rubric YAML file (default: the bundled rubrics/default.yaml).")


def _load_rubric(path: Optional[Path]):
    from qa_scorer.rubric.loader import RubricError, load_rubric

    try:
        return load_rubric(path)
    except RubricError as exc:
        for problem in exc.problems:
            err.print(problem, markup=False, highlight=False)
        raise typer.Exit(EXIT_RUBRIC)


def _shown(text: object) -> str:
    """Text from an input (a file name, an id, what a file held) for the terminal: line breaks,
    escape sequences and other control characters written as escapes, so a file named
    ``x\\e]0;title\\a\\nfake.json`` cannot set the window title or fake a line of the report."""
    from qa_scorer.models import control_characters

    return control_characters.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                                  else f"\\u{ord(m.group()):04x}", str(text))


def _report_errors(errors) -> None:
    if not errors:
        return
    err.print(f"[bold red]{len(errors)} input(s) failed:[/]")
    for e in errors:
        err.print(f"  {_shown(e.path)}: {_shown(e.message)}", markup=False, highlight=False)


def _summary(cards, ruled: Optional[dict] = None) -> None:
    """The scored calls' table; ``ruled``: call id → (score, bonus, fatal) after the human rulings
    the history kept for a re-scored call, shown with the machine's in brackets."""
    ruled = ruled or {}
    table = Table(title=f"{len(cards)} call(s) scored", show_lines=False)
    for col in ("call", "agent", "score", "bonus", "fatal", "failed items"):
        table.add_column(col, justify="right" if col in ("score", "bonus") else "left")
    for c in cards:
        failed = ", ".join(i.id for i in c.items if i.status == "fail" and i.kind != "reward")
        if c.no_speech:
            failed = "[yellow]no speech 无有效语音: nothing judged[/]"
        score, bonus, fatal = f"{c.score:g}", f"{c.bonus:g}", c.fatal
        if c.call_id in ruled:
            (s, b, fatal), failed = ruled[c.call_id], failed + " (复核后 after rulings; machine in brackets)"
            score, bonus = f"{s:g} ({c.score:g})", f"{b:g} ({c.bonus:g})"
        table.add_row(escape(c.call_id), escape(c.agent_id), score, bonus,
                      "[bold red]FATAL[/]" if fatal else "", failed)
    out.print(table)
    _no_speech_warning(cards)


def _no_speech_warning(cards) -> None:
    silent = [c.call_id for c in cards if c.no_speech]
    if silent:
        err.print(f"[bold yellow]warning:[/] {len(silent)} call(s) without speech (无有效语音), every item n/a, "
                  "the score says nothing about the agent:")
        for call_id in silent:
            err.print(f"  {call_id}", markup=False, highlight=False)


def _channel_warnings(doubts) -> None:
    if not doubts:
        return
    err.print(f"[bold yellow]warning:[/] {len(doubts)} call(s) may have been judged on the wrong sides "
              "(坐席声道可能有误 / 角色可能有误). A stereo call: transcribe it again with the right --agent-channel "
              "(or the manifest's agent_channel), with --agent-channel auto, or, for one recording of both parties, "
              "--agent-channel mono; a one-track recording: check who says what on its page (a stereo recording, "
              "one party a channel, avoids it):")
    _calls_listed(doubts)


def _cut_off_warnings(cut) -> None:
    if not cut:
        return
    err.print(f"[bold yellow]warning:[/] {len(cut)} recording(s) cut off (录音不完整): less audio than the file's "
              "header says; items at the call's end (closing, what was said last) may fail for that:")
    _calls_listed(cut)


def _calls_listed(rows) -> None:
    """The calls a warning is about, one line each: ``call id: why``, as written (no markup)."""
    for call_id, why in rows:
        err.print(f"  {_shown(call_id)}: {_shown(why)}", markup=False, highlight=False)


def _render_warnings(summary) -> None:
    """What the reports could not include: stored calls not readable, pages not rendered,
    recordings refused."""
    if summary is None:
        return
    _unreadable_warnings(summary.unreadable)
    for line in summary.failed:
        err.print(f"[bold yellow]warning:[/] scorecard page not rendered: {escape(_shown(line))}", highlight=False)
    for line in summary.refused_audio:
        err.print(f"[bold yellow]warning:[/] recording not used: {escape(_shown(line))}", highlight=False)
    for line in summary.missing_audio:
        err.print(f"[bold yellow]warning:[/] recording not found, the page has no player: {escape(_shown(line))}",
                  highlight=False)


def _unreadable_warnings(unreadable: dict) -> None:
    for call_id, why in unreadable.items():
        err.print(f"[bold yellow]warning:[/] history: call {escape(repr(call_id))}: {escape(_shown(why))}", highlight=False)


def _transcribe_options(model, device, compute_type, agent_channel, workers, threads, crosstalk=None):
    from qa_scorer.transcribe import TranscribeOptions

    from pydantic import ValidationError

    if device is not None and device not in ("cpu", "cuda", "auto"):
        hint = " (for an NVIDIA GPU use --device cuda)" if device.lower() in ("gpu", "nvidia") else ""
        raise typer.BadParameter(f"{device!r} is not a device; use cpu, cuda or auto{hint}.",
                                 param_hint="--device")
    fields = {"model": model, "device": device, "compute_type": compute_type,
              "agent_channel": agent_channel, "workers": workers, "cpu_threads": threads,
              "crosstalk": crosstalk}
    try:
        return TranscribeOptions(**{k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        flag = {"agent_channel": "--agent-channel", "cpu_threads": "--threads"}.get(
            str(first["loc"][0]), f"--{str(first['loc'][0]).replace('_', '-')}")
        raise typer.BadParameter(f"{first['msg']}.", param_hint=flag) from None


def _store_error(exc) -> None:
    err.print(f"[bold red]history database error:[/] {exc}")
    raise typer.Exit(EXIT_STORE)


ModelOpt = typer.Option(None, "--model", help="Whisper model: base (default, bundled), small, a CTranslate2 folder or a hub name.")
DeviceOpt = typer.Option(None, "--device", help="cpu (default), cuda or auto.")
ComputeOpt = typer.Option(None, "--compute-type", help="CTranslate2 compute type (default int8).")
ChannelOpt = typer.Option(None, "--agent-channel", help="Which stereo channel is the agent: left (default), right, auto, or mono.")
WorkersOpt = typer.Option(None, "--workers", help="Transcription worker processes (default: chosen from the core count).")
ThreadsOpt = typer.Option(None, "--threads", help="CPU threads per worker (default: cores / workers).")
CrosstalkOpt = typer.Option(None, "--crosstalk/--no-crosstalk", help="On stereo calls, turn down each party's faint echo on the other's channel before transcribing (default: on).")
ManifestOpt = typer.Option(None, "--manifest", help="CSV with call_id,agent_id,audio,started_at,agent_channel (extra columns kept).")
DbOpt = typer.Option(None, "--db", help="History database (default: OUT/qa.sqlite).")
MediaRootOpt = typer.Option(
    None, "--media-root", exists=True, file_okay=False, dir_okay=True,
    help="A folder recordings may also be used from (repeatable). Otherwise a recording is used only "
         "from the folder of the transcript or manifest that names it, or a folder given as input.")


@app.command()
def score(
    paths: List[Path] = typer.Argument(..., help="Transcript JSON files, recordings, or folders of them."),
    rubric: Optional[Path] = RubricOpt,
    json_path: Optional[Path] = typer.Option(None, "--json", help="Also write all scorecards to this file as a JSON list."),
    out_dir: Path = typer.Option(Path("reports"), "--out", "-o", help="Output folder: scorecards/, transcripts/, calls/, agents/, index.html, dashboard.html."),
    db: Optional[Path] = DbOpt,
    manifest: Optional[Path] = ManifestOpt,
    model: Optional[str] = ModelOpt,
    device: Optional[str] = DeviceOpt,
    compute_type: Optional[str] = ComputeOpt,
    agent_channel: Optional[str] = ChannelOpt,
    workers: Optional[int] = WorkersOpt,
    threads: Optional[int] = ThreadsOpt,
    crosstalk: Optional[bool] = CrosstalkOpt,
    retranscribe: bool = typer.Option(False, "--retranscribe", help="Transcribe recordings again even when a cached transcript exists."),
    rubric_hotwords: bool = typer.Option(False, "--rubric-hotwords", help="Give the rubric's phrases to the speech recogniser as hotwords (off by default: measured slower and no more accurate)."),
    no_render: bool = typer.Option(False, "--no-render", help="Record and write scorecards without rendering HTML."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars or summary table."),
    media_root: Optional[List[Path]] = MediaRootOpt,
) -> None:
    """Score calls (transcripts or recordings) against a rubric, record them in the history
    and render the HTML reports."""
    from pydantic import ValidationError

    from qa_scorer.pipeline import score_batch
    from qa_scorer.store import StoreError

    r = _load_rubric(rubric)
    try:
        options = _transcribe_options(model, device, compute_type, agent_channel, workers, threads, crosstalk)
    except ValidationError as exc:
        err.print(f"invalid transcription option: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}")
        raise typer.Exit(2)
    if rubric_hotwords:
        options = options.model_copy(update={"hotwords": r.hotwords()})
    try:
        result = score_batch(paths, r, out_dir=out_dir, db=db, json_path=json_path, manifest=manifest,
                             transcribe_options=options, retranscribe=retranscribe,
                             render=not no_render, progress=not quiet, media_roots=media_root or ())
    except StoreError as exc:
        _store_error(exc)
    if not quiet:
        _summary(result.scorecards, {c.scorecard.call_id: c.ruled for c in result.calls if c.ruled is not None})
        where = f"{out_dir}/index.html" if result.rendered else f"{out_dir}/scorecards/"
        out.print(f"{len(result.calls)} scorecard(s) in {where}; history {result.db}"
                  + (f"; JSON list {json_path}" if json_path else ""), markup=False, highlight=False)
    else:
        _no_speech_warning(result.scorecards)
    _channel_warnings(result.channel_doubts)
    _cut_off_warnings(result.cut_off)
    if result.assumed:
        err.print(f"[bold yellow]warning:[/] {len(result.assumed)} call(s) scored on an assumption:")
        _calls_listed(result.assumed)
    _render_warnings(result.rendered)
    _report_errors(result.errors)
    if result.errors:
        raise typer.Exit(EXIT_INPUT)


@app.command()
def transcribe(
    paths: List[Path] = typer.Argument(..., help="Recordings or folders of them."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Folder for the transcript JSON files (one per call)."),
    rubric: Optional[Path] = typer.Option(None, "--rubric", "-r", help="Rubric whose phrases are given to the speech recogniser as hotwords (default: none)."),
    manifest: Optional[Path] = ManifestOpt,
    model: Optional[str] = ModelOpt,
    device: Optional[str] = DeviceOpt,
    compute_type: Optional[str] = ComputeOpt,
    agent_channel: Optional[str] = ChannelOpt,
    workers: Optional[int] = WorkersOpt,
    threads: Optional[int] = ThreadsOpt,
    crosstalk: Optional[bool] = CrosstalkOpt,
    retranscribe: bool = typer.Option(False, "--retranscribe", help="Ignore cached transcripts."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    media_root: Optional[List[Path]] = MediaRootOpt,
) -> None:
    """Transcribe recordings into transcript v1 JSON files without scoring."""
    from qa_scorer.pipeline import transcribe_only

    hotwords = _load_rubric(rubric).hotwords() if rubric is not None else None
    options = _transcribe_options(model, device, compute_type, agent_channel, workers, threads, crosstalk)
    doubts: list = []
    cut: list = []
    written, errors = transcribe_only(paths, out_dir, manifest=manifest, transcribe_options=options,
                                      retranscribe=retranscribe, progress=not quiet, hotwords=hotwords,
                                      media_roots=media_root or (), channel_doubts=doubts, cut_off=cut)
    if not quiet:
        out.print(f"{len(written)} transcript(s) written to {out_dir}")
    _channel_warnings(doubts)
    _cut_off_warnings(cut)
    _report_errors(errors)
    if errors:
        raise typer.Exit(EXIT_INPUT)


@app.command()
def models() -> None:
    """List the Whisper models installed for offline use."""
    from qa_scorer.transcribe import list_models

    table = Table(title="speech recognition models")
    rows = list_models()
    keys = list(rows[0].keys()) if rows else ["name"]
    for k in keys:
        table.add_column(k)
    for row in rows:
        table.add_row(*(Text(str(row.get(k, ""))) for k in keys))  # plain text: [small] is no markup
    out.print(table)


@app.command("report")
def report_cmd(
    out_dir: Path = typer.Option(Path("reports"), "--out", "-o", help="Folder to render into."),
    db: Optional[Path] = DbOpt,
    since: Optional[str] = typer.Option(None, "--since", help="Only calls on or after this date (YYYY-MM-DD)."),
    until: Optional[str] = typer.Option(None, "--until", help="Only calls on or before this date (YYYY-MM-DD)."),
    agent: Optional[str] = typer.Option(None, "--agent", help="Only this agent's calls."),
    agent_bundles: bool = typer.Option(False, "--agent-bundles", help="Also write one self-contained folder per agent under agent-bundles/."),
    media_root: Optional[List[Path]] = MediaRootOpt,
) -> None:
    """Re-render index, scorecards, agents' pages and dashboard from the history (no re-scoring)."""
    from qa_scorer.pipeline import report
    from qa_scorer.store import StoreError

    since_d, until_d = _period(since, until)
    _agent_warning(db if db is not None else out_dir / "qa.sqlite", agent)
    try:
        summary = report(out_dir, db=db, since=since_d, until=until_d,
                         agent=agent, agent_bundles=agent_bundles, media_roots=media_root or ())
    except StoreError as exc:
        _store_error(exc)
    out.print(f"rendered {summary.calls} call(s), {summary.agents} agent(s) into {out_dir}/index.html",
              markup=False, highlight=False)
    _render_warnings(summary)


@app.command("export")
def export_cmd(
    out_dir: Path = typer.Option(Path("reports"), "--out", "-o", help="Folder for the CSV files."),
    db: Optional[Path] = DbOpt,
    since: Optional[str] = typer.Option(None, "--since", help="Only calls on or after this date (YYYY-MM-DD)."),
    until: Optional[str] = typer.Option(None, "--until", help="Only calls on or before this date (YYYY-MM-DD)."),
    agent: Optional[str] = typer.Option(None, "--agent", help="Only this agent's calls."),
) -> None:
    """Export the dashboard's tables, the appeals, the human rulings and review_labels.csv (eval labels) as CSV."""
    from qa_scorer.pipeline import export
    from qa_scorer.store import StoreError

    unreadable: dict[str, str] = {}
    since_d, until_d = _period(since, until)
    _agent_warning(db if db is not None else out_dir / "qa.sqlite", agent)
    try:
        files = export(out_dir, db=db, since=since_d, until=until_d, agent=agent,
                       unreadable=unreadable)
        files += _export_reviews(out_dir, db, since=since_d, until=until_d, agent=agent)
    except StoreError as exc:
        _store_error(exc)
    for f in files:
        out.print(str(f), markup=False)
    _unreadable_warnings(unreadable)


def _export_reviews(out_dir: Path, db: Optional[Path], **filters) -> list:
    """appeals.csv, rulings.csv and review_labels.csv beside the dashboard's tables, for the calls
    the same filters keep."""
    from qa_scorer.review import Reviews, export_reviews
    from qa_scorer.store import History

    with History(db if db is not None else out_dir / "qa.sqlite") as history:
        return export_reviews(Reviews(history), out_dir, **filters)


def _agent_warning(db: Path, agent: Optional[str]) -> None:
    """A warning when --agent names no agent of the history (ids are case-sensitive): the output
    would be empty without a word). A blank id is a usage error: no call can carry it."""
    if agent is not None and not agent.strip():
        err.print("--agent is empty: give an agent id", markup=False)
        raise typer.Exit(2)
    if agent is None or not db.exists():
        return
    from qa_scorer.store import History, StoreError

    try:
        with History(db) as h:
            agents = {row.agent_id for row in h.call_rows()}
    except StoreError:
        return  # the command itself reports it
    if agents and agent not in agents:
        err.print(f"warning: no call of agent {agent!r} in {db} ({_spelling(agent, agents)}): nothing selected",
                  markup=False, highlight=False)


def _spelling(agent: str, agents: set) -> str:
    """What to say of an agent id no call carries: ids are case-sensitive, and the calls' own
    spelling where only the case differs."""
    alike = sorted(a for a in agents if a.casefold() == agent.casefold())
    return "ids are case-sensitive" + (f"; the calls carry {', '.join(map(repr, alike))}" if alike else "")


def _period(since: Optional[str], until: Optional[str]):
    """--since and --until as dates; a period that ends before it starts is a usage error (it
    would select nothing and say nothing)."""
    a, b = _date(since, "--since"), _date(until, "--until")
    if a is not None and b is not None and b < a:
        err.print(f"--until {b} is before --since {a}: no day is in that period", markup=False)
        raise typer.Exit(2)
    return a, b


def _date(value: Optional[str], flag: str):
    if value is None:
        return None
    from datetime import date

    try:
        return date.fromisoformat(value)
    except ValueError:
        err.print(f"{flag}: expected a date like 2026-11-01, got {value!r}")
        raise typer.Exit(2)


@rubric_app.command("check")
def rubric_check(path: Path = typer.Argument(..., help="Rubric YAML file.")) -> None:
    """Validate a rubric; problems are printed as file:line:col: message."""
    r = _load_rubric(path)
    off = sum(1 for it in r.items if not it.enabled)
    out.print(f"{path}: ok — rubric {r.id!r}, {len(r.items)} items" + (f" ({off} disabled)" if off else "")
              + f", version {r.version}", markup=False, highlight=False)
    for item in r.items:
        if item.kind == "fatal" and item.points:
            out.print(f"note: {item.id}: a failed fatal item sets the score to 0, so its points "
                      f"({item.points:g}) change nothing", markup=False, highlight=False)


@rubric_app.command("explain")
def rubric_explain(path: Optional[Path] = typer.Argument(None, help="Rubric YAML file (default: bundled).")) -> None:
    """Print every item's id, kind, points and doc."""
    r = _load_rubric(path)
    out.print(f"[bold]{escape(r.name or r.id)}[/] (version {r.version}, base {r.base_score:g})")
    for item in r.items:
        # escaped: ids and names are the rubric author's text, and the brackets are meant literally
        out.print(f"\n[bold]{escape(item.id)}[/] — {escape(item.name)}  "
                  + escape(f"[{item.kind}, {item.points:g} points, type {item.type}]")
                  + ("  [yellow]disabled: not judged (enabled: false)[/]" if not item.enabled else ""))
        for label, text in (("what", item.doc.what), ("why", item.doc.why),
                            ("example", item.doc.example), ("instead", item.doc.instead)):
            if text:
                out.print(f"  {label}: {text}", markup=False, highlight=False)


@app.command("eval")
def eval_cmd(
    paths: Optional[List[Path]] = typer.Argument(None, help="Labelled transcript files or folders (with --from-reviews: optional; default the machine results in the history)."),
    labels: Optional[Path] = typer.Option(None, "--labels", "-l", help="Labels: CSV call_id,item,expected (pass/fail/na), or a row per call (call_id, then item ids, or the labelling guide's true/false judgments), or the guide's JSON lines."),
    rubric: Optional[Path] = RubricOpt,
    show_mismatches: bool = typer.Option(False, "--mismatches", "-m", help="List every disagreement."),
    from_reviews: bool = typer.Option(False, "--from-reviews", help="Use the human rulings (appeals decided, items reviewed) in the history as labels."),
    db: Optional[Path] = typer.Option(None, "--db", help="History database for --from-reviews (default: reports/qa.sqlite)."),
    sweep: bool = typer.Option(False, "--sweep", help="Also, for every check a model judges, precision, recall and false flags at cut-offs 0.50-0.95 (the rest of the rubric as written); needs the transcripts."),
    calibrated: Optional[Path] = typer.Option(None, "--calibrated", help="With --sweep: write a copy of the rubric with each swept cut-off at its best F1 to this file (comments kept)."),
    only: Optional[List[str]] = typer.Option(None, "--only", help="With --sweep: sweep only these checks (an item id, or item.trigger / item.response); repeatable."),
    max_false_flags: Optional[float] = typer.Option(None, "--max-false-flags", min=0, max=100, help="With --sweep: the best cut-off is the best F1 among those with at most this many false flags per 100 labelled calls (or, if none, the fewest)."),
) -> None:
    """Per-item precision, recall and F1 of flagged calls against a reviewer's labels or the review app's rulings."""
    from qa_scorer.evaluation import LabelError, compare, read_labels, unlabelled
    from qa_scorer.pipeline import score_transcript_files

    if from_reviews == (labels is not None):
        err.print("give either --labels FILE or --from-reviews")
        raise typer.Exit(2)
    if not from_reviews and not paths:
        err.print("give the labelled transcripts to score (files or folders)")
        raise typer.Exit(2)
    if (calibrated is not None or only or max_false_flags is not None) and not sweep:
        err.print("--calibrated, --only and --max-false-flags go with --sweep")
        raise typer.Exit(2)
    if sweep and not paths:
        err.print("--sweep scores the calls again: give the labelled transcripts (files or folders)")
        raise typer.Exit(2)
    if calibrated is not None:
        import os

        source = rubric if rubric is not None else _default_rubric_path()
        if calibrated.exists() and os.path.exists(source) and os.path.samefile(calibrated, source):
            err.print(f"{calibrated}: that is the rubric being swept; write the calibrated copy to another file", markup=False)
            raise typer.Exit(2)
        if calibrated.exists() and labels is not None and labels.exists() and os.path.samefile(calibrated, labels):
            err.print(f"{calibrated}: that is the labels file; write the calibrated copy to another file", markup=False)
            raise typer.Exit(2)
    r = _load_rubric(rubric) if (paths or rubric) else None
    if from_reviews:
        gold, machine, source = _review_labels(db)
    else:
        try:
            gold = read_labels(labels, [it.id for it in r.items] if r is not None else None)
        except LabelError as exc:
            # a line per problem; what the file held (call ids, values) cannot drive the terminal
            err.print("\n".join(_shown(line) for line in str(exc).split("\n")), markup=False)
            raise typer.Exit(EXIT_LABELS)
        source = str(labels)
    if paths:
        result = score_transcript_files(paths, r)
        cards, errors, n = result.scorecards, result.errors, len(result.calls)
    else:
        cards, errors, n = machine, [], len(machine)
    stats = compare(cards, gold)
    if gold and not stats:
        # nothing was compared: a table of nothing and exit 0 read as success
        named = sorted({call for call, _ in gold})
        ids = sorted(c.call_id for c in cards)
        err.print(_shown(f"{source}: no labelled item of the {len(named)} labelled call(s) is among the {len(ids)} "
                         f"scored (labels name {', '.join(named[:3])}{', …' if len(named) > 3 else ''}; the inputs' "
                         f"call ids are {', '.join(ids[:3]) or 'none'}{', …' if len(ids) > 3 else ''}): labels must "
                         "use each transcript's call_id and the rubric's item ids"), markup=False)
        _report_errors(errors)
        raise typer.Exit(EXIT_LABELS)
    # a simple box and headers on two lines: the default rubric's table fits an 80-column terminal, and
    # where a longer item id or thousands of calls do not fit, the ids wrap and no number is cut
    table = Table(title=f"{n} call(s) against {source}", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    order = [item.id for item in r.items] if r is not None else []
    order += sorted(k for k in stats if k not in order)
    rows = []
    for item_id in order:
        s = stats.get(item_id)
        if s is None:
            continue
        flagged = s.tp + s.fp
        rows.append((s.item, s.kind, str(s.positives), str(flagged), f"{s.precision:.2f}" if flagged else "–",
                     f"{s.recall:.2f}" if s.positives else "–",
                     f"{s.f1:.2f}" if flagged or s.positives else "–", f"{s.agree}/{s.total}"))
    # "flagged": calls the labels flag (a fail, or a reward earned), then those the machine flags;
    # a ratio with nothing to divide by is "–", as in the README's accuracy tables
    for k, col in enumerate(("item", "kind", "flagged\nlabels", "flagged\nmachine", "prec.", "recall", "F1", "agree")):
        if k < 2:
            table.add_column(col, justify="left", overflow="fold")
        else:
            width = max([len(line) for line in col.split("\n")] + [len(row[k]) for row in rows])
            table.add_column(col, justify="right", no_wrap=True, min_width=width)
    for row in rows:
        table.add_row(*row)
    out.print(table)
    if show_mismatches:
        for s in stats.values():
            for call, want, got in s.mismatches:
                out.print(f"  {s.item}: {call} expected {want}, got {got}", markup=False)
    missing = unlabelled(cards, gold)
    if missing:
        err.print(f"labelled calls not found among the inputs: {', '.join(missing)}", markup=False)
    _report_errors(errors)
    if sweep:
        _sweep(r, result.calls, gold, calibrated, set(only) if only else None, rubric, max_false_flags)
    if errors:
        raise typer.Exit(EXIT_INPUT)


def _default_rubric_path() -> Path:
    from qa_scorer.rubric.loader import DEFAULT_RUBRIC

    return DEFAULT_RUBRIC


def _sweep(r, calls, gold, calibrated: Optional[Path], only: Optional[set], rubric_path: Optional[Path],
           max_false_flags: Optional[float] = None) -> None:
    """eval --sweep: a table per model cut-off, and with ``calibrated`` the rubric written with the best ones."""
    from qa_scorer.calibrate import best, in_use, knobs, sweep, within, write_calibrated

    if only:
        known = {name for k in knobs(r) for name in (k.name, k.item)}
        unknown = sorted(only - known)
        if unknown:
            err.print(f"--only: no check a model judges is called {', '.join(unknown)} (known: {', '.join(sorted(known))})",
                      markup=False)
            raise typer.Exit(2)
    chosen: dict[tuple[int, str], float] = {}
    changes = []
    for knob, rows in sweep(r, [c.transcript for c in calls if c.transcript is not None], gold, only=only):
        now = in_use(knob)
        top = best(knob, rows, max_false_flags)
        title = (f"{knob.name}: model {', '.join(m.name for m in knob.detect.text_models)}, cut-off "
                 + (f"{now:.2f}" if now is not None else f"each model's own ({knob.own_cutoffs()})")
                 + f"; {rows[0].calls if rows else 0} labelled call(s)")
        # plain lines, not a table: they keep their columns in a narrow terminal or a log
        # labelled: the calls the labels flag; flagged: those the machine flags at the cut-off (as eval's
        # table); a ratio with nothing to divide by is "–"
        lines = [title, f"  {'cut-off':>7} {'labelled':>8} {'flagged':>7} {'found':>6} {'false':>6} {'missed':>6} "
                        f"{'P':>5} {'R':>5} {'F1':>5} {'FF/100':>7}"]
        if max_false_flags is None:
            chosen_as = "best F1"
        elif top is not None and within(top, max_false_flags):
            chosen_as = f"best F1 within {max_false_flags:g} false flags / 100"
        else:
            chosen_as = f"fewest false flags (none within {max_false_flags:g} / 100)"
        for row in rows:
            if row.skipped:
                lines.append(f"  {row.cutoff:>7.2f}  skipped: {row.skipped}")
                continue
            note = ", ".join(w for w, on in (("in use", row.cutoff == now), (chosen_as, top is row)) if on)
            flagged = row.tp + row.fp
            p_ = f"{row.precision:>5.2f}" if flagged else f"{'–':>5}"
            r_ = f"{row.recall:>5.2f}" if row.positives else f"{'–':>5}"
            f_ = f"{row.f1:>5.2f}" if flagged or row.positives else f"{'–':>5}"
            lines.append(f"  {row.cutoff:>7.2f} {row.positives:>8} {flagged:>7} {row.tp:>6} {row.fp:>6} {row.fn:>6} "
                         f"{p_} {r_} {f_} {row.false_flags_per_100:>7.1f}"
                         + (f"  <- {note}" if note else ""))
        out.print("\n".join(lines), markup=False, highlight=False, soft_wrap=True)
        if top is None:
            out.print(f"  ({knob.name}: no labelled call has it flagged, nothing to calibrate on)", markup=False,
                      highlight=False, soft_wrap=True)
        elif top.cutoff != now:
            chosen[(knob.index, knob.side)] = top.cutoff
            changes.append(f"{knob.name} {'model default' if now is None else f'{now:.2f}'} -> {top.cutoff:.2f}")
    if calibrated is not None:
        from qa_scorer.calibrate import CalibrationError
        from qa_scorer.rubric.loader import RubricError
        from qa_scorer.textmodel import BUILTIN_DIR

        source = Path(rubric_path) if rubric_path is not None else _default_rubric_path()
        try:
            write_calibrated(source, chosen, calibrated, loaded=r)
        except RubricError as exc:  # not expected: the cut-offs chosen are ones the rubric's bars allow
            for problem in exc.problems:
                err.print(problem, markup=False, highlight=False)
            raise typer.Exit(EXIT_RUBRIC)
        except CalibrationError as exc:
            err.print(f"{source}: cannot write the calibrated copy: {exc}; set the cut-off by hand (the tables above "
                      "say which)", markup=False, highlight=False)
            raise typer.Exit(EXIT_RUBRIC)
        except (OSError, UnicodeDecodeError) as exc:
            err.print(f"{calibrated}: cannot write the calibrated rubric: {exc}", markup=False, highlight=False)
            raise typer.Exit(2)
        home = source.resolve().parent
        beside = sorted({str(Path(m.path).resolve().relative_to(home)) if Path(m.path).resolve().is_relative_to(home)
                         else str(m.path) for m in r.text_models()
                         if Path(m.path).resolve().parent != BUILTIN_DIR.resolve()})
        if beside and calibrated.resolve().parent != home:
            err.print(f"note: the rubric names model files of its own ({', '.join(beside)}, from {home}): copy them to the "
                      f"same places relative to {calibrated} too", markup=False, highlight=False)
        out.print(f"wrote {calibrated}: " + ("; ".join(changes) if changes else "every cut-off already at its best F1"),
                  markup=False, highlight=False, soft_wrap=True)


def _review_labels(db: Optional[Path]):
    """The rulings in the history as labels, the machine's scorecards of the ruled calls, and a title."""
    from qa_scorer.review import Reviews
    from qa_scorer.store import History, StoreError

    path = db if db is not None else Path("reports") / "qa.sqlite"
    if not path.exists():
        _store_error(f"{path}: no history database here (--db FILE)")
    try:
        with History(path) as history:
            gold = Reviews(history).labels()
            ruled = sorted({call for call, _ in gold})
            machine = []
            for call_id in ruled:
                for c in history.calls(call_id=call_id):
                    machine.append(c.machine or c.scorecard)
    except StoreError as exc:
        _store_error(exc)
    if not gold:
        err.print(f"{path}: no human rulings yet: decide appeals or review items in qa-scorer serve first")
        raise typer.Exit(EXIT_LABELS)
    return gold, machine, f"{len(gold)} human ruling(s) in {path}"


# -- the review app ------------------------------------------------------------------------------

users_app = typer.Typer(no_args_is_help=True, help="Manage the review app's users (agents, QA, managers, admins).")
app.add_typer(users_app, name="users")
UsersDbOpt = typer.Option(Path("reports/qa.sqlite"), "--db", help="History database (default: reports/qa.sqlite).")


def _reviews(db: Path):
    from qa_scorer.review import Reviews
    from qa_scorer.store import History, StoreError

    try:
        return Reviews(History(db))
    except StoreError as exc:
        _store_error(exc)


def _read_password(password_stdin: bool) -> str:
    import sys

    if not password_stdin:
        err.print("give the password on standard input with --password-stdin (it never goes on the command line)")
        raise typer.Exit(2)
    if sys.stdin.isatty():  # typed by hand: do not echo it
        import getpass

        return getpass.getpass("password: ")
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


def _user_call(fn, *args, **kwargs):
    from qa_scorer.review import ReviewError
    from qa_scorer.store import StoreError

    try:
        return fn(*args, **kwargs)
    except ReviewError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False)
        raise typer.Exit(2)
    except StoreError as exc:
        _store_error(exc)


@users_app.command("add")
def users_add(
    name: str = typer.Argument(..., help="Login name."),
    role: str = typer.Option(..., "--role", help="agent, qa, manager or admin."),
    agent_id: Optional[str] = typer.Option(None, "--agent-id", help="For an agent: the agent id their calls carry."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from standard input (one line)."),
    db: Path = UsersDbOpt,
) -> None:
    """Add a user of the review app."""
    password = _read_password(password_stdin)
    existed = db.exists()
    r = _reviews(db)
    try:
        u = _user_call(r.add_user, name, role, password, agent_id)
        agents = {row.agent_id for row in r.history.call_rows()} if u.agent_id else set()
    finally:
        r.history.close()
    out.print(f"user {u.name} added ({u.role}{', agent ' + u.agent_id if u.agent_id else ''}) in {db}",
              markup=False, highlight=False)
    if not existed:
        err.print(f"warning: there was no history database at {db}, so a new, empty one was made; the review "
                  "app shows the calls scored into the database it is given (--db)", markup=False, highlight=False)
    elif u.agent_id and agents and u.agent_id not in agents:
        err.print(f"warning: no call in {db} carries agent id {u.agent_id!r} yet ({_spelling(u.agent_id, agents)}): "
                  "this login sees no call until one does", markup=False, highlight=False)


@users_app.command("list")
def users_list(db: Path = UsersDbOpt) -> None:
    """List the users."""
    if not db.exists():
        _store_error(f"{db}: no history database here; give the one the calls were scored into (--db)")
    r = _reviews(db)
    try:
        users = _user_call(r.users)
    finally:
        r.history.close()
    table = Table(title=f"{len(users)} user(s)")
    for col in ("name", "role", "agent id", "state"):
        table.add_column(col)
    for u in users:
        table.add_row(escape(u.name), u.role, escape(u.agent_id or ""), "disabled" if u.disabled else "active")
    out.print(table)


@users_app.command("disable")
def users_disable(name: str = typer.Argument(..., help="Login name."), db: Path = UsersDbOpt) -> None:
    """Disable a user; their sessions end at once."""
    r = _reviews(db)
    try:
        _user_call(r.disable, name)
    finally:
        r.history.close()
    out.print(f"user {name} disabled", markup=False, highlight=False)


@users_app.command("passwd")
def users_passwd(
    name: str = typer.Argument(..., help="Login name."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the new password from standard input (one line)."),
    db: Path = UsersDbOpt,
) -> None:
    """Set a user's password; their sessions end and a login lock is lifted."""
    password = _read_password(password_stdin)
    r = _reviews(db)
    try:
        _user_call(r.set_password, name, password)
    finally:
        r.history.close()
    out.print(f"password of {name} changed", markup=False, highlight=False)


@app.command("serve")
def serve_cmd(
    db: Path = typer.Option(Path("reports/qa.sqlite"), "--db", help="History database (default: reports/qa.sqlite)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (default: this machine only)."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port (default 8000)."),
    appeal_days: float = typer.Option(7, "--appeal-days", min=0, max=3650, help="Days after scoring an agent may appeal (default 7)."),
    session_hours: float = typer.Option(8, "--session-hours", min=0.05, max=24 * 30, help="Hours a login lasts (default 8)."),
    ssl_certfile: Optional[Path] = typer.Option(None, "--ssl-certfile", help="Serve over TLS with this certificate (cookies then Secure)."),
    ssl_keyfile: Optional[Path] = typer.Option(None, "--ssl-keyfile", help="The TLS certificate's private key."),
) -> None:
    """Run the review app: agents log in to see their own scorecards and appeal; QA rules on appeals."""
    from qa_scorer.store import StoreError
    from qa_scorer.web import serve

    if not db.exists():
        _store_error(f"{db}: no history database here; score some calls first (qa-scorer score ... --db {db})")
    try:
        serve(db, host=host, port=port, appeal_days=appeal_days, session_hours=session_hours,
              ssl_certfile=str(ssl_certfile) if ssl_certfile else None,
              ssl_keyfile=str(ssl_keyfile) if ssl_keyfile else None)
    except StoreError as exc:
        _store_error(exc)


@app.command("train")
def train_cmd(
    data: List[Path] = typer.Argument(..., help="Labelled utterances: JSONL ({text, speaker, label} per line) or CSV (text,label[,speaker])."),
    out_path: Path = typer.Option(..., "--out", "-o", help="Model file to write (.json); a rubric names it with model: FILE."),
    name: Optional[str] = typer.Option(None, "--name", help="Model name shown in evidence (default: the file name)."),
    speaker: Optional[str] = typer.Option(None, "--speaker", help="Train only on this speaker's utterances: agent or customer."),
    label_field: str = typer.Option("label", "--label-field", help="Which column / key holds the label."),
    c: float = typer.Option(4.0, "--c", min=1e-4, max=1e4, help="Inverse regularisation strength."),
    threshold: float = typer.Option(0.5, "--threshold", min=0.01, max=0.99, help="Default decision threshold stored in the model."),
    folds: int = typer.Option(0, "--cv", min=0, max=20, help="Also report K-fold cross-validated precision / recall / F1."),
    context: bool = typer.Option(False, "--context", help="Also read each example's 'previous' (the other speaker's utterance just before), as the shipped commitment model does: a bare 是的 answering 今晚能到吗."),
) -> None:
    """Train a text model (character n-gram logistic regression) from labelled utterances."""
    import json

    from qa_scorer.textmodel import FeatureSpec, cross_validate, fit, read_examples

    if speaker not in (None, "agent", "customer"):
        err.print("--speaker must be agent or customer")
        raise typer.Exit(2)
    if out_path.suffix.lower() != ".json":
        err.print(f"--out {out_path}: a model file's name ends in .json (a rubric names it so)", markup=False)
        raise typer.Exit(2)
    try:
        examples = read_examples(data, label_field=label_field)
    except ValueError as exc:
        err.print(str(exc), markup=False, highlight=False)
        raise typer.Exit(EXIT_LABELS)
    if speaker:
        examples = [e for e in examples if e.speaker in (None, speaker)]
    if len({e.label for e in examples}) < 2:
        err.print("training needs both positive and negative examples", markup=False)
        raise typer.Exit(EXIT_LABELS)
    model_name = name or out_path.stem
    with_previous = sum(1 for e in examples if e.previous)
    if with_previous and not context:
        err.print(f"note: {with_previous} example(s) carry 'previous', which is read only with --context",
                  markup=False, highlight=False)
    spec = FeatureSpec(context=1 if context else 0)
    model = fit(examples, name=model_name, c=c, threshold=threshold, speaker=speaker, spec=spec,
                training={"sources": [p.name for p in data]})
    if folds:
        cv = cross_validate(examples, folds=folds, threshold=threshold, c=c, spec=spec)
        model["training"]["cv"] = cv
        out.print(f"cross-validated ({folds} folds): precision {cv['precision']:.2f}, recall "
                  f"{cv['recall']:.2f}, F1 {cv['f1']:.2f}")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.tmp")
    tmp.write_text(json.dumps(model, ensure_ascii=False, sort_keys=True, indent=0), encoding="utf-8")
    tmp.replace(out_path)
    info = model["training"]
    out.print(f"{out_path}: {info['examples']} examples ({info['positives']} positive), "
              f"{len(model['weights'])} n-grams", markup=False)


def main() -> None:
    app()


if __name__ == "__main__":
    main()

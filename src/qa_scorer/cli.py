"""Command line: parse arguments, call one library function, print, set the exit code.

Exit codes: 0 all good; 1 some input failed (the rest were still processed); 2 usage error;
3 rubric error; 4 history database error; 5 labels error.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table

EXIT_INPUT, EXIT_RUBRIC, EXIT_STORE, EXIT_LABELS = 1, 3, 4, 5

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Offline call-quality scoring for Mandarin contact centres.")
rubric_app = typer.Typer(no_args_is_help=True, help="Check and explain rubric files.")
app.add_typer(rubric_app, name="rubric")

out = Console(soft_wrap=False)
err = Console(stderr=True, soft_wrap=True)

RubricOpt = typer.Option(None, "--rubric", "-r", help="Rubric YAML file (default: the bundled rubrics/default.yaml).")


def _load_rubric(path: Optional[Path]):
    from qa_scorer.rubric.loader import RubricError, load_rubric

    try:
        return load_rubric(path)
    except RubricError as exc:
        for problem in exc.problems:
            err.print(problem, markup=False, highlight=False)
        raise typer.Exit(EXIT_RUBRIC)


def _report_errors(errors) -> None:
    if not errors:
        return
    err.print(f"[bold red]{len(errors)} input(s) failed:[/]")
    for e in errors:
        err.print(f"  {e.path}: {e.message}", markup=False, highlight=False)


def _summary(cards) -> None:
    table = Table(title=f"{len(cards)} call(s) scored", show_lines=False)
    for col in ("call", "agent", "score", "bonus", "fatal", "failed items"):
        table.add_column(col, justify="right" if col in ("score", "bonus") else "left")
    for c in cards:
        failed = ", ".join(i.id for i in c.items if i.status == "fail" and i.kind != "reward")
        table.add_row(c.call_id, c.agent_id, f"{c.score:g}", f"{c.bonus:g}",
                      "[bold red]FATAL[/]" if c.fatal else "", failed)
    out.print(table)


@app.command()
def score(
    paths: List[Path] = typer.Argument(..., help="Transcript JSON files or folders of them."),
    rubric: Optional[Path] = RubricOpt,
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write all scorecards to this file as a JSON list."),
    out_dir: Path = typer.Option(Path("reports"), "--out", "-o", help="Output folder: one JSON scorecard per call under scorecards/."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary table."),
) -> None:
    """Score calls against a rubric and write scorecards."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from qa_scorer.pipeline import score_transcript_files, write_json, write_scorecards

    r = _load_rubric(rubric)
    with Progress(TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err, disable=quiet, transient=True) as bar:
        task = bar.add_task("score", total=None)
        result = score_transcript_files(paths, r, on_progress=lambda n, total: bar.update(task, completed=n, total=total))
    write_scorecards(result.calls, out_dir)
    if json_path is not None:
        write_json(result.scorecards, json_path)
    if not quiet:
        _summary(result.scorecards)
        out.print(f"scorecards written to {out_dir}" + (f" and {json_path}" if json_path else ""))
    _report_errors(result.errors)
    if result.errors:
        raise typer.Exit(EXIT_INPUT)


@rubric_app.command("check")
def rubric_check(path: Path = typer.Argument(..., help="Rubric YAML file.")) -> None:
    """Validate a rubric; problems are printed as file:line:col: message."""
    r = _load_rubric(path)
    out.print(f"{path}: ok — rubric {r.id!r}, {len(r.items)} items, version {r.version}")


@rubric_app.command("explain")
def rubric_explain(path: Optional[Path] = typer.Argument(None, help="Rubric YAML file (default: bundled).")) -> None:
    """Print every item's id, kind, points and doc."""
    r = _load_rubric(path)
    out.print(f"[bold]{r.name or r.id}[/] (version {r.version}, base {r.base_score:g})")
    for item in r.items:
        out.print(f"\n[bold]{item.id}[/] — {item.name}  [{item.kind}, {item.points:g} points, type {item.type}]")
        for label, text in (("what", item.doc.what), ("why", item.doc.why),
                            ("example", item.doc.example), ("instead", item.doc.instead)):
            if text:
                out.print(f"  {label}: {text}", markup=False, highlight=False)


@app.command("eval")
def eval_cmd(
    paths: List[Path] = typer.Argument(..., help="Labelled transcript files or folders."),
    labels: Path = typer.Option(..., "--labels", "-l", help="CSV with call_id,item,expected (pass/fail/na)."),
    rubric: Optional[Path] = RubricOpt,
    show_mismatches: bool = typer.Option(False, "--mismatches", "-m", help="List every disagreement."),
) -> None:
    """Per-item precision, recall and F1 of flagged calls against a reviewer's labels."""
    from qa_scorer.evaluation import LabelError, compare, read_labels, unlabelled
    from qa_scorer.pipeline import score_transcript_files

    r = _load_rubric(rubric)
    try:
        gold = read_labels(labels)
    except LabelError as exc:
        err.print(str(exc), markup=False)
        raise typer.Exit(EXIT_LABELS)
    result = score_transcript_files(paths, r)
    stats = compare(result.scorecards, gold)
    table = Table(title=f"{len(result.calls)} call(s) against {labels}")
    for col in ("item", "kind", "flagged", "precision", "recall", "F1", "status agree"):
        table.add_column(col, justify="left" if col in ("item", "kind") else "right")
    for item in r.items:
        s = stats.get(item.id)
        if s is None:
            continue
        table.add_row(s.item, s.kind, str(s.positives), f"{s.precision:.2f}", f"{s.recall:.2f}",
                      f"{s.f1:.2f}", f"{s.agree}/{s.total}")
    out.print(table)
    if show_mismatches:
        for s in stats.values():
            for call, want, got in s.mismatches:
                out.print(f"  {s.item}: {call} expected {want}, got {got}", markup=False)
    missing = unlabelled(result.scorecards, gold)
    if missing:
        err.print(f"labelled calls not found among the inputs: {', '.join(missing)}", markup=False)
    _report_errors(result.errors)
    if result.errors:
        raise typer.Exit(EXIT_INPUT)


def main() -> None:
    app()


if __name__ == "__main__":
    main()

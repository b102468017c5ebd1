"""Many calls: a cache keyed by the audio's content and the options, worker processes that load the
model once each, a progress bar, and a per-file error list."""

from __future__ import annotations

import hashlib
import json
import resource
import time
from pathlib import Path
from typing import Any, Optional, Sequence

from qa_scorer.ingest import AudioError, CallInput, decode_audio, load_transcript_input, probe_duration
from qa_scorer.models import InputError, Transcript
from qa_scorer.outputs import atomic_write_text

from . import engine
from .asr_models import ModelError, model_identity, resolve_model
from .call import effective_channel, transcribe_audio
from .options import PIPELINE_VERSION, SR, TranscribeOptions

STATS = engine.STATS
LAST_BATCH: dict[str, Any] = {}


def audio_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def cache_key(content_hash: str, model_id: str, options: TranscribeOptions, agent_channel: str) -> str:
    fields = options.cache_fields()
    fields["agent_channel"] = agent_channel
    blob = json.dumps({"audio": content_hash, "model": model_id, "options": fields,
                       "pipeline": PIPELINE_VERSION}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def _restamp(t: Transcript, inp: CallInput) -> Transcript:
    """A cached transcript carries the content; the call's identity comes from this input."""
    meta = {k: v for k, v in t.metadata.items() if k in ("asr", "roles")}
    return t.model_copy(update={
        "call_id": inp.call_id, "agent_id": inp.agent_id, "started_at": inp.started_at,
        "audio": str(inp.path), "metadata": {**inp.metadata, **meta},
    })


def _transcribe_one(inp: CallInput, options: TranscribeOptions, model) -> tuple[Optional[str], Optional[str]]:
    """(transcript JSON, error message) for one call."""
    try:
        t = transcribe_audio(inp, decode_audio(inp.path, SR), options, model)
        return t.model_dump_json(), None
    except AudioError as exc:
        return None, exc.message
    except Exception as exc:  # noqa: BLE001 - one bad call must not end the batch
        return None, f"transcription failed: {type(exc).__name__}: {exc}"


_WORKER: dict[str, Any] = {}


def _worker_init(model_path: str, options_json: str, threads: int) -> None:
    options = TranscribeOptions.model_validate_json(options_json)
    _WORKER["options"] = options
    _WORKER["model"] = engine.load_model(options, model_path, threads)


def _worker_run(inp: CallInput) -> tuple[Optional[str], Optional[str], float]:
    """(transcript JSON, error message, peak RSS MB) for one call in a worker."""
    out, err = _transcribe_one(inp, _WORKER["options"], _WORKER["model"])
    return out, err, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _progress(enabled: bool, total_seconds: float, n_calls: int, done_calls: int):
    from rich.console import Console
    from rich.progress import (BarColumn, Progress, TaskProgressColumn, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    progress = Progress(
        TextColumn("[bold]transcribing"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[calls]} calls"),
        TextColumn("{task.fields[hours]} h audio"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled,
    )
    task = progress.add_task("asr", total=max(total_seconds, 1e-9), calls=f"{done_calls}/{n_calls}",
                             hours=f"0.00/{total_seconds / 3600:.2f}")
    return progress, task


def transcribe_batch(
    inputs: Sequence[CallInput],
    options: Optional[TranscribeOptions] = None,
    cache_dir: Path = Path(".qa-scorer-cache"),
    *,
    retranscribe: bool = False,
    progress: bool = True,
) -> tuple[list[tuple[CallInput, Transcript]], list[InputError]]:
    """Transcripts for many calls, in input order, and the calls that failed (the batch goes on).

    Transcript inputs are loaded as they are. Audio inputs are looked up in ``cache_dir`` by
    content hash + model + options, and only the missing ones are transcribed; each finished
    transcript is written to the cache at once, so a batch that is stopped and run again picks up
    where it was. ``retranscribe`` ignores (and replaces) cached transcripts.
    """
    options = options or TranscribeOptions()
    cache_dir = Path(cache_dir)
    results: dict[int, tuple[CallInput, Transcript]] = {}
    errors: list[tuple[int, InputError]] = []
    pending: list[tuple[int, CallInput, Path, float]] = []
    started = time.perf_counter()

    model_path: Optional[str] = None
    model_error: Optional[str] = None
    if any(i.kind == "audio" for i in inputs):
        try:
            model_path = resolve_model(options.model)
        except ModelError as exc:
            model_error = str(exc)
        cache_dir.mkdir(parents=True, exist_ok=True)
    model_id = model_identity(options.model, model_path) if model_path else ""

    seen_content: dict[str, Path] = {}  # a recording's content hash → the first file that holds it
    for idx, inp in enumerate(inputs):
        if inp.kind == "transcript":
            loaded, problem = load_transcript_input(inp.path, inp.record, inp.where)
            if problem is not None:
                errors.append((idx, problem))
            else:
                assert loaded is not None
                results[idx] = (inp, loaded)
            continue
        if model_error:
            errors.append((idx, InputError(path=str(inp.path), message=model_error)))
            continue
        if not inp.path.is_file():  # a FIFO or device would block the reads below
            errors.append((idx, InputError(path=str(inp.path), message="not a regular file")))
            continue
        try:
            content = audio_hash(inp.path)
        except OSError as exc:
            errors.append((idx, InputError(path=str(inp.path), message=f"cannot read file: {exc.strerror or exc}")))
            continue
        if content in seen_content:  # one recording under two names (a system's re-export renames files)
            errors.append((idx, InputError(path=str(inp.path), message=(
                f"the same recording as {seen_content[content]} (identical content); one recording is one "
                "call: that one was scored, this one skipped"))))
            continue
        seen_content[content] = inp.path
        entry = cache_dir / f"{cache_key(content, model_id, options, effective_channel(inp, options))}.json"
        if entry.is_file() and not retranscribe:
            try:
                cached = Transcript.model_validate_json(entry.read_text(encoding="utf-8"))
                results[idx] = (inp, _restamp(cached, inp))
                STATS["cache_hits"] += 1
                continue
            except (ValueError, OSError):
                pass  # unreadable entry: transcribe again
        pending.append((idx, inp, entry, probe_duration(inp.path) or 0.0))

    workers, threads = options.plan(len(pending))
    total_s = sum(d for *_, d in pending)
    done_calls = len(inputs) - len(pending)
    peak_rss: list[float] = []
    bar, task = _progress(progress and bool(pending), total_s, len(inputs), done_calls)
    done_s = 0.0

    def finish(idx: int, inp: CallInput, entry: Path, dur: float, out: Optional[str], err: Optional[str]):
        nonlocal done_s, done_calls
        if err is not None:
            errors.append((idx, InputError(path=str(inp.path), message=err)))
        else:
            assert out is not None
            atomic_write_text(entry, out)
            results[idx] = (inp, Transcript.model_validate_json(out))
        done_s += dur
        done_calls += 1
        bar.update(task, completed=done_s, calls=f"{done_calls}/{len(inputs)}",
                   hours=f"{done_s / 3600:.2f}/{total_s / 3600:.2f}")

    with bar:
        if pending and workers == 1:
            try:
                model = engine.load_model(options, model_path, threads)
            except (RuntimeError, ValueError, OSError) as exc:  # no CUDA driver, bad compute type, ...
                why = (f"cannot load the speech model on {options.device} ({options.compute_type}): {exc}"
                       + ("; use --device cpu" if options.device != "cpu" else ""))
                for idx, inp, entry, dur in pending:
                    finish(idx, inp, entry, dur, None, why)
                pending = []
            for idx, inp, entry, dur in pending:
                finish(idx, inp, entry, dur, *_transcribe_one(inp, options, model))
            peak_rss.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        elif pending:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor, as_completed
            from concurrent.futures.process import BrokenProcessPool

            with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                                     initializer=_worker_init,
                                     initargs=(model_path, options.model_dump_json(), threads)) as pool:
                futures = {pool.submit(_worker_run, inp): (idx, inp, entry, dur)
                           for idx, inp, entry, dur in pending}
                for fut in as_completed(futures):
                    idx, inp, entry, dur = futures[fut]
                    try:
                        out, err, rss = fut.result()
                        peak_rss.append(rss)
                    except BrokenProcessPool:
                        out, err = None, "worker process died (out of memory?) while transcribing this call"
                    finish(idx, inp, entry, dur, out, err)

    LAST_BATCH.clear()
    LAST_BATCH.update({
        "calls": len(inputs), "transcribed": len(pending), "workers": workers, "threads": threads,
        "audio_seconds": total_s, "wall_seconds": time.perf_counter() - started,
        "peak_rss_mb": max(peak_rss) if peak_rss else None,
    })
    ordered = [results[i] for i in sorted(results)]
    return ordered, [e for _, e in sorted(errors, key=lambda x: x[0])]

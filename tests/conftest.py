from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def default_rubric():
    from qa_scorer.rubric.loader import load_rubric

    return load_rubric(ROOT / "rubrics" / "default.yaml")


# Modules whose every test runs Whisper or a browser: slow (the quick loop is
# `bash scripts/test.sh -m "not slow"`; CI runs everything). Single slow tests elsewhere carry
# @pytest.mark.slow themselves.
SLOW_MODULES = {"test_end_to_end", "test_transcribe", "test_browser", "test_web", "test_web_browser"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.module is not None and item.module.__name__.rsplit(".", 1)[-1] in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def default_rubric():
    from qa_scorer.rubric.loader import load_rubric

    return load_rubric(ROOT / "rubrics" / "default.yaml")

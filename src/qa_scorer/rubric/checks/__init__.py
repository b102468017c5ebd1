"""One module per rule type. Each defines ``Item`` (its rubric model, keyed on ``type``) and
``run(item, call) -> Outcome``; one whose phrase matchers always search a known selection of
segments may also define ``searches(item)`` (see ``registry.Search``), so that a chunk of calls
is searched before the checks run. ``registry.py`` is the only list of them."""

"""One module per rule type. Each defines ``Item`` (its rubric model, keyed on ``type``) and
``run(item, call) -> Outcome``. ``registry.py`` is the only list of them."""

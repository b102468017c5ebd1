"""RE2's automaton memory: a large program gets room for its DFA's states (safe_regex._re2_compile)."""

from qa_scorer.rubric import safe_regex


def test_a_small_program_gets_the_plain_budget():
    compiled = safe_regex._re2_compile("(?m)退款|退货")
    assert compiled.options.max_mem == safe_regex.RE2_MEMORY


def test_a_large_program_gets_room_for_its_states():
    # capped repeats of a negated class are unrolled: a program of tens of thousands of instructions
    pattern = "(?m)" + "|".join(f"(?:你{i}[^\\n吗]{{0,12}}(?:买的|订的)[^\\n]{{0,12}}吧$)" for i in range(60))
    compiled = safe_regex._re2_compile(pattern)
    assert compiled.programsize * safe_regex.RE2_MEMORY_PER_INSTRUCTION > safe_regex.RE2_MEMORY
    assert compiled.options.max_mem == min(compiled.programsize * safe_regex.RE2_MEMORY_PER_INSTRUCTION,
                                           safe_regex.RE2_MEMORY_MAX)
    # and it finds what it found before
    assert [m.span() for m in compiled.finditer("你3这台是上周买的那个吧\n你好")] == [(0, 12)]


def test_every_re2_program_of_the_default_rubric_has_room_for_its_states(monkeypatch):
    made = []
    compile_ = safe_regex._re2_compile

    def recording(pattern):
        compiled = compile_(pattern)
        made.append(compiled)
        return compiled

    monkeypatch.setattr(safe_regex, "_re2_compile", recording)
    from qa_scorer.rubric.loader import load_rubric

    load_rubric(None)
    assert made
    assert max(c.programsize for c in made) * safe_regex.RE2_MEMORY_PER_INSTRUCTION > safe_regex.RE2_MEMORY
    for c in made:
        assert c.options.max_mem >= min(c.programsize * safe_regex.RE2_MEMORY_PER_INSTRUCTION, safe_regex.RE2_MEMORY_MAX)
        assert c.options.max_mem >= safe_regex.RE2_MEMORY


def test_no_program_gets_more_than_the_cap():
    # a long list of phrases makes a trie program MAX_RE2_PROGRAM does not bound
    words = [f"词{i:05d}语" for i in range(40_000)]
    compiled = safe_regex._re2_compile("|".join(words))
    assert compiled.programsize * safe_regex.RE2_MEMORY_PER_INSTRUCTION > safe_regex.RE2_MEMORY_MAX
    assert compiled.options.max_mem == safe_regex.RE2_MEMORY_MAX

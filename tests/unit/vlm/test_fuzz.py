"""The parser's contract under fuzzing (issue 14 item 10): for any reply whatsoever, in
any dialect, `parse_actions` gives valid actions or raises ActionParseError; nothing else.

20,000 replies: 17,000 mutants of the golden corpus (tests/unit/vlm/fuzzing.py) and
3,000 from hypothesis strategies that write each grammar with arbitrary values.
`bench/fuzz_parse.py` runs the same generators at 10^6.
"""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings

from .fuzzing import SIZES, Outcome, any_reply, check, golden_corpus, mutated


def test_the_corpus_itself_parses() -> None:
    """The unmutated seeds are real replies: most parse (a fuzz over junk finds little)."""
    outcome = Outcome()
    for dialect, replies in golden_corpus().items():
        for reply in replies:
            check(dialect, reply, (1920, 1080), outcome)
    assert not outcome.crashes
    assert outcome.parsed > 90


def test_17000_mutated_replies_raise_only_action_parse_errors() -> None:
    outcome = Outcome()
    rng = random.Random(14)
    for dialect, reply in mutated(seed=14, count=17_000):
        check(dialect, reply, rng.choice(SIZES), outcome)
    assert not outcome.crashes, outcome.crashes[:5]
    assert outcome.parsed + outcome.refused == 17_000
    assert outcome.parsed > 1_000 and outcome.refused > 1_000  # both sides exercised


@settings(max_examples=3_000, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
@given(case=any_reply)
def test_3000_generated_replies_raise_only_action_parse_errors(case) -> None:
    dialect, reply, size = case
    outcome = Outcome()
    check(dialect, reply, size, outcome)
    assert not outcome.crashes, outcome.crashes

"""The summary's fast path must decide exactly as the slow definition it replaces."""

from __future__ import annotations

import textwrap

from auditor.code.summarize import summarize_source


def test_summary_finds_calls_in_multiline_expressions_and_skips_paren_free_ones():
    source = textwrap.dedent('''
        import numpy as np
        TABLE = {
            "a": 1,
            "b": [2, 3],
        }
        x = [
            1,
            np.random.permutation(
                10),
        ]
        lam = lambda: np.random.rand()
    ''')
    summary = summarize_source("m.py", source, "m", False).to_json()
    events = summary["functions"]["m.<module>"]["events"]
    assert [(e[0], e[1], e[2]) for e in events] == [("consume", "numpy.random.permutation", 9),
                                                    ("consume", "numpy.random.rand", 12)]
    # with "\r" line endings the paren shortcut is off; the events are the same
    crlf = summarize_source("m.py", source.replace("\n", "\r\n"), "m", False).to_json()
    assert [(e[0], e[1], e[2]) for e in crlf["functions"]["m.<module>"]["events"]] == \
        [(e[0], e[1], e[2]) for e in events]

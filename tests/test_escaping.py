"""Text from the input never acts in a report: Markdown gets no link, image, raw HTML or fake section from a
run id or message; a terminal gets no ANSI escape; relative links stay paths; link templates are checked
at start."""

from __future__ import annotations

import json
import re

import pytest

from auditor.config import load_config
from auditor.errors import InputError
from auditor.findings import Finding
from auditor.report import render
from auditor.report.html import Links

HOSTILE_ID = "x](javascript:alert(1)) ![i](http://evil/p.png) <script>alert(1)</script>\n## No findings.\x1b[2J"


def _finding(run_id: str, message: str) -> Finding:
    from auditor.registry import rule_class

    return rule_class("RA001")().finding(message, {"run": run_id}, {})


def test_markdown_escapes_ids_and_messages():
    text = render([_finding(HOSTILE_ID, f"run {HOSTILE_ID} | broken `cell`")], "markdown")
    body = text.split("\n", 2)[2]
    prose = re.sub(r"(`+) .*? \1|`[^`]*`", "", body)  # code spans show their content literally
    assert "<script>" not in prose and "](" not in prose.replace("\\](", "") and "\n## No findings." not in body
    assert "\x1b" not in body and "&lt;script&gt;" in prose
    assert "`` x](javascript" not in body and "`x](javascript:alert(1)) ![i](http://evil/p.png) <script>" in body
    rows = [line for line in body.splitlines() if line.startswith("| RA001")]
    assert len(rows) == 1 and rows[0].count(" | ") == 2  # the message's pipe stays inside its cell


def test_text_output_shows_control_characters_escaped():
    text = render([_finding("run\u202eevil\x1b[31m", "bad \x1b]0;title\x07 id")], "text")
    assert "\x1b" not in text and "\u202e" not in text and "\x07" not in text
    assert "\\x1b[31m" in text and "\\u202e" in text


def test_relative_links_never_become_a_scheme(tmp_path):
    links = Links(tmp_path, None, None, [])
    assert links._relative(tmp_path / "javascript:alert(1)" / "run.yaml") == "./javascript:alert(1)/run.yaml"


@pytest.mark.parametrize("template", ["https://forge/{sha}/{path}#L{lines}", "https://forge/{sha.__class__}",
                                      "javascript:alert('{sha}')", "https://forge/{0}", "https://forge/{sha"])
def test_a_bad_link_template_is_refused_at_start(template, tmp_path):
    (tmp_path / "auditor.yaml").write_text(f"nightly:\n  link_template: {json.dumps(template)}\n")
    with pytest.raises(InputError, match="link_template") as err:
        load_config(tmp_path)
    assert err.value.path == str(tmp_path / "auditor.yaml")
    (tmp_path / "auditor.yaml").write_text('nightly:\n  link_template: "https://forge/{sha}/{path}#L{line}"\n')
    assert load_config(tmp_path).nightly.link_template

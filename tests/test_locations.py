"""Typed finding locations: each kind gives back exactly the contract's dict, sorts and shows itself as the
reports always did, and a finding built from the old dict is the same finding (same fingerprint)."""

import json
from dataclasses import dataclass

import pytest

from auditor.findings import (Finding, code_location, docs_location, fingerprint, groups_location, run_location,
                              sort_findings)
from auditor.locations import (CodeLocation, FileLocation, GroupsLocation, Location, RunLocation, RunPairLocation,
                               location_from_json)
from auditor.registry import rule_class

@dataclass(frozen=True)
class Kind:
    typed: Location
    data: dict  # the contract's dict
    heading: str  # the text report's
    label: str  # display()
    stamp: str  # the fingerprint of a sample finding there (code and files: as the dict-based code gave it; runs
    # and groups: since only the names of their evidence count, see findings.evidence_identity)


KINDS = [Kind(*row) for row in [
    (CodeLocation("train.py", 12, 4), {"path": "train.py", "line": 12, "col": 4}, "train.py", "train.py:12",
     "2746a6f91869a60c851ffac7bd51fbbd"),
    (FileLocation("README.md", 7), {"path": "README.md", "line": 7}, "README.md", "README.md:7",
     "66c82e02739dd625b8ce134918d5ac1b"),
    (FileLocation("results/r/run.yaml"), {"path": "results/r/run.yaml"}, "results/r/run.yaml", "results/r/run.yaml",
     "24db21101af1312690016a73bc140b4b"),
    (RunLocation("q201-s0"), {"run": "q201-s0"}, "run q201-s0", "run q201-s0", "ef3f5d046f11d7d3c69b58a3bad909fb"),
    (RunPairLocation(("a", "b")), {"runs": ["a", "b"]}, "runs a vs b", "a vs b", "96e6d11c164b4847650ed9014c2333cf"),
    (GroupsLocation(("base", "treat")), {"groups": ["base", "treat"]}, "groups base vs treat", "base vs treat",
     "a915a5b32e0e10ce4f71d2e7002b0952"),
]]
IDS = [type(k.typed).__name__ + "-" + "-".join(k.data) for k in KINDS]


def sample(location, anchor: bool) -> Finding:
    stamp = fingerprint("RA999", location, "for x in y:") if anchor else ""
    return Finding("RA999", "x", "warning", "m", location, {"k": 1}, stamp)


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_each_kind_gives_back_the_contract_dict_and_reads_it_again(kind):
    typed, data = kind.typed, kind.data
    assert typed.to_json() == data and list(typed.to_json()) == list(data)  # same keys, same order
    assert location_from_json(data) == typed
    assert location_from_json(json.loads(json.dumps(typed.to_json()))) == typed  # through a cache's JSON
    assert hash(location_from_json(data)) == hash(typed)


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_each_kind_shows_itself_as_the_reports_did(kind):
    assert kind.typed.subject() == kind.heading
    assert kind.typed.display() == kind.label
    quoted = kind.typed.display(lambda name: f"`{name}`")
    assert quoted == {"run q201-s0": "run `q201-s0`", "a vs b": "`a` vs `b`",
                      "base vs treat": "`base` vs `treat`"}.get(kind.label, f"`{kind.label}`")


@pytest.mark.parametrize("kind", KINDS, ids=IDS)
def test_a_finding_from_the_old_dict_is_the_same_finding(kind):
    typed, data, stamp = kind.typed, kind.data, kind.stamp
    anchor = isinstance(typed, CodeLocation)
    legacy, current = sample(dict(data), anchor), sample(typed, anchor)
    assert legacy == current and legacy.location == typed
    assert current.fingerprint == legacy.fingerprint == stamp
    assert current.to_json()["location"] == data
    cached = json.loads(json.dumps(current.to_json()))  # what the caches and the nightly state store
    assert Finding.from_json(cached) == current and Finding.from_json(cached).to_json() == current.to_json()


def test_the_helpers_rules_call_build_the_typed_kinds():
    assert code_location("a.py", "3", 1.0) == CodeLocation("a.py", 3, 1)
    assert docs_location("doc.md", 4) == FileLocation("doc.md", 4)
    assert run_location("r") == RunLocation("r")
    assert groups_location("b", "t") == GroupsLocation(("b", "t"))


def legacy_sort_key(loc: dict) -> tuple:
    """The order before the types, kept: path or run or the joined names, then line and column."""
    where = loc.get("path") or loc.get("run") or "/".join(map(str, loc.get("runs") or loc.get("groups") or []))
    return (str(where), int(loc.get("line") or 0), int(loc.get("col") or 0))


def test_sort_order_across_kinds_is_the_old_one():
    places = [CodeLocation("b.py", 3, 0), RunLocation("a/b0"), GroupsLocation(("a", "b")), FileLocation("b.py", 3),
              FileLocation("b.py"), CodeLocation("b.py", 3, 2), RunPairLocation(("a", "c")), CodeLocation("a.py", 10),
              FileLocation("a.md", 2), RunLocation("a")]
    ordered = sorted(places, key=lambda loc: loc.sort_key())
    assert ordered == sorted(places, key=lambda loc: legacy_sort_key(loc.to_json()))
    assert [loc.subject() for loc in ordered] == [
        "run a", "a.md", "a.py", "groups a vs b", "run a/b0", "runs a vs c", "b.py", "b.py", "b.py", "b.py"]
    findings = sort_findings(Finding("RA999", "x", "info", "m", loc) for loc in reversed(places))
    assert [f.location for f in findings] == sorted(reversed(places), key=lambda loc: legacy_sort_key(loc.to_json()))


def test_sort_findings_drops_exact_duplicates_only():
    same = [Finding("RA999", "x", "info", "m", {"path": "a.py", "line": 1, "col": 0}),
            Finding("RA999", "x", "info", "m", code_location("a.py", 1, 0))]
    other = Finding("RA999", "x", "info", "m", FileLocation("a.py", 1))  # no column: another place
    assert len(sort_findings(same)) == 1 and len(sort_findings(same + [other])) == 2


def test_a_dict_location_from_a_plugin_is_read_at_the_boundary():
    finding = rule_class("RA001")().finding("unreadable", {"path": "docs/x.md", "line": 2}, {})
    assert finding.location == FileLocation("docs/x.md", 2)


@pytest.mark.parametrize("data", [{}, {"path": "a.py", "col": 1}, {"run": "r", "line": 1}, {"groups": "ab"},
                                  {"where": "a.py"}])
def test_a_dict_of_no_known_shape_is_a_clear_error(data):
    with pytest.raises(ValueError, match="not a finding location"):
        Finding("RA999", "x", "info", "m", data)


def test_a_run_or_comparison_finding_is_known_by_the_names_in_its_evidence_not_its_numbers():
    from auditor.registry import rule_class

    protocol = rule_class("RA304")()
    where = GroupsLocation(("base", "treat"))

    def finding(keys: dict, unset: bool = False, seeds: int = 3):
        evidence = {"keys": {k: {"baseline": [f"base-s{i}" for i in range(seeds)], "treatment": v}
                             for k, v in keys.items()}, "treatment_keys": None, "unset_vs_value": unset}
        return protocol.finding("m", where, evidence).fingerprint

    assert finding({"bsz": [16]}) == finding({"bsz": [48]}, seeds=5)  # values and member runs move
    assert finding({"bsz": [16]}) != finding({"steps": [16]})  # another key differs: another finding
    assert finding({"bsz": [16]}) != finding({"bsz": [16]}, unset=True)  # its other finding
    plain = {"p_value": 0.2, "seeds": 3}
    assert sample_at(where, plain) == sample_at(where, {"p_value": 0.01, "seeds": 9})
    assert sample_at(where, plain) != sample_at(where, {"p_value": 0.2})  # other evidence: another finding


def sample_at(location, evidence: dict) -> str:
    return Finding("RA999", "x", "warning", "m", location, evidence).fingerprint

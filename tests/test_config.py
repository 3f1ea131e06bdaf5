from pathlib import Path

import pytest

from auditor.config import DEFAULT_KEY_MAP, load_config
from auditor.errors import InputError


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_defaults_without_a_config_file(tmp_path):
    config = load_config(tmp_path)
    assert config.source is None
    assert config.fail_on == "error"
    assert config.is_selected("RA101") and config.is_selected("RA501")
    assert config.key_map["max_steps"][0] == "trainer.total_training_steps"
    assert "set_seed" in config.seed_helpers


def test_pyproject_section_is_read_with_dashes_and_extends_project_names(tmp_path):
    write(tmp_path / "pyproject.toml", """
[project]
name = "lab"
[tool.auditor]
select = ["RA1", "RA2"]
ignore = ["RA120"]
fail-on = "warning"
seed-helpers = ["lab.utils.seed_all_the_things"]
per-path-ignores = {"tests/*" = ["RA110"]}
[tool.auditor.severity]
RA160 = "error"
[tool.auditor.key-map]
seed = ["experiment.rng_seed"]
[tool.auditor.rules.RA315]
cv_threshold = 0.1
[tool.auditor.compare]
confidence = 0.9
""")
    sub = tmp_path / "src" / "lab"
    sub.mkdir(parents=True)
    (tmp_path / ".git").mkdir()  # the repository's root: configuration is searched up to it
    config = load_config(sub)  # found by walking up
    assert config.source.endswith("pyproject.toml")
    assert config.root == tmp_path.resolve()
    assert config.is_selected("RA101") and not config.is_selected("RA120") and not config.is_selected("RA301")
    assert not config.is_selected("RA110", "tests/test_train.py") and config.is_selected("RA110", "train.py")
    assert config.fail_on == "warning"
    assert config.severity == {"RA160": "error"}
    assert "lab.utils.seed_all_the_things" in config.seed_helpers and "set_seed" in config.seed_helpers
    assert config.key_map["seed"] == ["experiment.rng_seed"]
    assert config.key_map["max_steps"] == DEFAULT_KEY_MAP["max_steps"]
    assert config.rule_params == {"RA315": {"cv_threshold": 0.1}}
    assert config.compare.confidence == 0.9 and config.compare.ci_method == "auto"


def test_auditor_yaml_wins_over_pyproject(tmp_path):
    write(tmp_path / "pyproject.toml", "[tool.auditor]\nfail-on = 'info'\n")
    write(tmp_path / "auditor.yaml", "fail-on: warning\nexclude: ['build/**']\n")
    config = load_config(tmp_path)
    assert config.fail_on == "warning"
    assert config.is_excluded("build/lib/x.py") and not config.is_excluded("src/x.py")


def test_pyproject_without_auditor_section_is_not_a_config(tmp_path):
    write(tmp_path / "pyproject.toml", "[project]\nname='x'\n")
    assert load_config(tmp_path).source is None


@pytest.mark.parametrize("text,field", [
    ("[tool.auditor]\nselct = ['RA1']\n", "tool.auditor.selct"),
    ("[tool.auditor]\nfail-on = 'fatal'\n", "fail-on"),
    ("[tool.auditor]\nselect = 'RA1'\n", "select"),
    ("[tool.auditor.severity]\nRA101 = 'loud'\n", "severity.RA101"),
])
def test_invalid_settings_name_the_file_and_the_field(tmp_path, text, field):
    write(tmp_path / "pyproject.toml", text)
    with pytest.raises(InputError) as err:
        load_config(tmp_path)
    assert err.value.field == field
    assert str(tmp_path / "pyproject.toml") in str(err.value)


def test_broken_yaml_names_the_line(tmp_path):
    write(tmp_path / "auditor.yaml", "select: [RA1\nignore: x\n")
    with pytest.raises(InputError) as err:
        load_config(tmp_path)
    assert err.value.line is not None and "auditor.yaml" in str(err.value)


def test_broken_toml_is_an_input_error(tmp_path):
    write(tmp_path / "pyproject.toml", "[tool.auditor\n")
    with pytest.raises(InputError, match="invalid TOML"):
        load_config(tmp_path)


def test_cache_dir_follows_xdg_and_the_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert load_config(tmp_path).cache_dir == tmp_path / "xdg" / "auditor"
    write(tmp_path / "auditor.yaml", "cache-dir: .mycache\n")
    assert load_config(tmp_path).cache_dir == tmp_path.resolve() / ".mycache"


def test_config_fingerprint_changes_with_rule_settings(tmp_path):
    a = load_config(tmp_path)
    write(tmp_path / "auditor.yaml", "ignore: [RA120]\n")
    b = load_config(tmp_path)
    assert a.fingerprint() != b.fingerprint()
    assert a.fingerprint() == load_config(tmp_path.parent).fingerprint()  # the root is not part of it


def test_configuration_only_from_the_repository_or_config(tmp_path):
    """A planted auditor.yaml in the results directory or in a parent that is not the repository is never read."""
    planted = "ignore: [RA]\n"
    (tmp_path / "auditor.yaml").write_text(planted)  # a parent of everything below: not a repository
    results = tmp_path / "shared" / "results"
    results.mkdir(parents=True)
    (results / "auditor.yaml").write_text(planted)
    (results / "run-1").mkdir()
    assert load_config(results / "run-1").source is None  # neither results/ nor the non-repository parent
    assert load_config(results, untrusted=[results]).source is None  # cwd = the results directory
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "results").mkdir()
    (repo / "results" / "auditor.yaml").write_text(planted)
    (repo / "auditor.yaml").write_text("select: [RA1]\n")
    config = load_config(repo / "results", untrusted=[repo / "results"])
    assert config.source == str(repo / "auditor.yaml")  # the repository's, not the one in its results folder
    assert load_config(results, explicit=repo / "auditor.yaml").source == str(repo / "auditor.yaml")
# -- typed sections: unknown keys, wrong types and unknown rule ids name the file and the key --------------

@pytest.mark.parametrize("text,field,message", [
    ("[tool.auditor.scan]\nmax-file-byte = 10\n", "scan.max-file-byte", "unknown setting"),
    ("[tool.auditor.scan]\nmax-file-bytes = 'big'\n", "scan.max-file-bytes", "must be an integer"),
    ("[tool.auditor.scan]\nmax-file-bytes = 0\n", "scan.max-file-bytes", "must be a positive number of bytes"),
    ("[tool.auditor.runs]\nworkers = 'many'\n", "runs.workers", "must be an integer"),
    ("[tool.auditor.runs]\ncache = 'no'\n", "runs.cache", "must be true or false"),
    ("[tool.auditor.replay]\nrounding = 'up'\n", "replay.rounding", "must be even or nearest-away"),
    ("[tool.auditor.replay]\nmodule-types = 'Linear'\n", "replay.module-types", "must be a list of strings"),
    ("[tool.auditor.docs]\npaths = ['README.md']\n", "docs.paths", "unknown setting"),
    ("[tool.auditor.compare]\nbootstrap-reps = 1.5\n", "compare.bootstrap-reps", "must be an integer"),
    ("[tool.auditor.severity]\nRA999 = 'error'\n", "severity.RA999", "unknown rule id"),
    ("[tool.auditor.rules.RA998]\nx = 1\n", "rules.RA998", "unknown rule id"),
    ("[tool.auditor]\nentry-points = 'train.py'\n", "entry-points", "must be a list of strings"),
    ("[tool.auditor]\nignore = ['RA110', 'RA17O']\n", "ignore", "'RA17O' is not a rule id"),  # letter O
    ("[tool.auditor]\nselect = ['RA1', 'RB']\n", "select", "'RB' is not a rule id"),
    ("[tool.auditor.per-path-ignores]\n'tests/*' = ['RA11O']\n", "per-path-ignores.tests/*", "'RA11O' is not"),
    ("[tool.auditor.rules.RA313]\nlost_severity = 'critical'\n", "rules.RA313.lost_severity", "must be one of"),
])
def test_typed_sections_reject_bad_settings(tmp_path, text, field, message):
    write(tmp_path / "pyproject.toml", text)
    with pytest.raises(InputError) as err:
        load_config(tmp_path)
    assert err.value.field == field and message in err.value.message
    assert str(tmp_path / "pyproject.toml") in str(err.value)


def test_rule_id_prefixes_and_plugin_ids_are_accepted_in_select_and_ignore(tmp_path):
    write(tmp_path / "auditor.yaml", "select: [RA1, ra2]\nignore: [RA170]\nper-path-ignores: {'tests/*': RA11}\n")
    config = load_config(tmp_path)
    assert config.select == ["RA1", "ra2"] and config.ignore == ["RA170"]
    assert not config.is_selected("RA170") and config.is_selected("RA110")


def test_typed_sections_hold_their_values_and_defaults(tmp_path):
    write(tmp_path / "auditor.yaml", "scan: {max-file-bytes: 1000}\nruns: {stale-after: 30m, workers: 2}\n"
                                     "replay: {tolerance: 0.02, include: [lm_head]}\nseverity: {ra101: warning}\n")
    config = load_config(tmp_path)
    assert config.scan.max_file_bytes == 1000 and config.scan.check_syntax is True
    assert config.runs.stale_after == "30m" and config.runs.workers == 2 and config.runs.cache is True
    assert config.replay.tolerance == 0.02 and config.replay.include == ["lm_head"]
    assert config.replay.module_types == ["Linear"] and config.compare.confidence == 0.95
    assert config.severity == {"RA101": "warning"}


def test_a_plugin_rule_id_is_known_when_its_pack_is_configured(tmp_path, monkeypatch):
    package = tmp_path / "site" / "labrules"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "seeds.py").write_text(
        "from auditor.rule import RunRule\n\n\nclass LabRule(RunRule):\n    id = 'RA901'\n    name = 'lab-rule'\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    write(tmp_path / "pyproject.toml", "[tool.auditor]\nplugins = ['labrules']\n[tool.auditor.severity]\nRA901 = 'error'\n")
    assert load_config(tmp_path).severity == {"RA901": "error"}

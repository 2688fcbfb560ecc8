from pathlib import Path

import pytest
from conftest import BUNDLED_PARTS, REPO_ROOT

from stylize import ConfigError, load_config, parse_config
from stylize.config import SCHEMA, describe_schema


def test_repo_pipeline_toml_is_valid_and_uses_the_bundled_tree():
    config = load_config(REPO_ROOT / "pipeline.toml")
    assert config.parts.root == BUNDLED_PARTS
    assert config.parts.root.is_dir()
    assert config.content.seeds == list(range(16))


def test_every_schema_key_is_documented_in_the_repo_config():
    text = (REPO_ROOT / "pipeline.toml").read_text()
    for section, keys in SCHEMA.items():
        assert f"[{section}]" in text
        for key in keys:
            assert f"\n{key} =" in text, (section, key)


def test_relative_paths_resolve_against_the_config_folder(tmp_path):
    (tmp_path / "pipeline.toml").write_text('[parts]\nroot = "trees/facegen"\n[content]\nlegacy = ["old"]\n')
    config = load_config(tmp_path / "pipeline.toml")
    assert config.parts.root == tmp_path.resolve() / "trees/facegen"
    assert config.content.legacy == [tmp_path.resolve() / "old"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[content]\nsedes = 1", r"unknown key \[content\] sedes; allowed: seeds, armoured, legacy"),
        ("[contnet]\n", r"unknown section \[contnet\]"),
        ('[content]\nseeds = "9-1"', r"\[content\] seeds = '9-1' is not allowed; .*runs backwards"),
        ("[content]\nseeds = -4", r"\[content\] seeds = -4 is not allowed"),
        ('[content]\narmoured = "yes"', r"\[content\] armoured = 'yes' is not allowed; write true or false"),
        (
            '[parts]\nunreadable = "ignore"',
            r"\[parts\] unreadable = 'ignore' is not allowed; use one of: 'error', 'skip'",
        ),
        ('[run]\ndevice = "tpu"', r"\[run\] device = 'tpu' is not allowed; use one of"),
        ("[run]\nseed = 1.5", r"\[run\] seed = 1.5 is not allowed"),
        ("[parts]\nroot = 3", r"\[parts\] root = 3 is not allowed"),
        ('[styles]\nuse = ["ok", "not ok"]', r"\[styles\] use = .* is not allowed"),
        ("content = 3", r"must be a \[content\] table"),
        ('[styles]\nreferences = ["a.png"]', r"\[styles\] references = .* write a \[styles.references\] table"),
        ('[styles.references]\n"bad name" = ["a.png"]', r"\[styles\] references.bad name = .* is not allowed"),
        ("[styles.references]\nok = []", r"\[styles\] references.ok = \[\] is not allowed"),
        ("[parts\n", "not valid TOML"),
    ],
)
def test_bad_values_name_key_value_and_what_is_allowed(text, message):
    with pytest.raises(ConfigError, match=message) as info:
        parse_config(text, source="pipeline.toml")
    assert "\n" not in str(info.value)


def test_style_references_resolve_against_the_config_folder(tmp_path):
    (tmp_path / "pipeline.toml").write_text('[styles.references]\nink = ["refs/a.png", "/abs/b.png"]\nsolo = "c.png"\n')
    config = load_config(tmp_path / "pipeline.toml")
    assert config.styles.references == {
        "ink": [tmp_path.resolve() / "refs/a.png", Path("/abs/b.png")],
        "solo": [tmp_path.resolve() / "c.png"],
    }


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")


def test_no_config_in_cwd_means_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_config()
    assert config.path is None and config.parts.root.name == "facegen"


def test_schema_description_lists_every_key():
    text = describe_schema()
    assert all(f"{key} =" in text for keys in SCHEMA.values() for key in keys)
    assert isinstance(Path, type)

"""The JSON copies of the shipped YAML (nginxssl/shipped.py): each is made from the YAML as it is
now, a run reads the copy instead of parsing the YAML, and never a copy the YAML has moved away from."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from nginxssl import catalogue as catalogue_module
from nginxssl import shipped
from nginxssl.sites import nginx_versions

OWNERS = {"nginxssl.catalogue": catalogue_module, "nginxssl.sites.nginx_versions": nginx_versions}


@pytest.mark.parametrize("owner", OWNERS)
def test_each_copy_is_made_from_the_yaml_as_it_is(owner):
    sources, copy, parse = OWNERS[owner].shipped()
    kept = shipped.parsed(sources, copy, lambda: None)
    assert kept is not None, f"{copy} was not made from the YAML as it is now: run `python -m {owner}`"
    assert kept == parse(), f"{copy} does not hold what the YAML parses to: run `python -m {owner}`"


def test_the_catalogue_is_read_from_its_copy_without_the_yaml_parser(monkeypatch):
    def refuse(paths: list[str]) -> list:
        raise AssertionError("the rule files were parsed although their copy is current")

    monkeypatch.setattr(catalogue_module, "_documents", refuse)
    assert catalogue_module.catalogue.__wrapped__() == catalogue_module.catalogue()


def test_an_edited_rule_file_is_read_from_the_yaml_not_from_the_stale_copy(tmp_path, monkeypatch):
    rules = catalogue_module.catalogue()
    for rule in rules.values():
        shutil.copy(rule.source, tmp_path)
    shutil.copy(Path(catalogue_module.rules_dir()) / "catalogue.json", tmp_path)
    monkeypatch.setattr(catalogue_module, "rules_dir", lambda: str(tmp_path))
    moved = {rule_id: replace(rule, source=str(tmp_path / Path(rule.source).name)) for rule_id, rule in rules.items()}
    assert catalogue_module.catalogue.__wrapped__() == moved

    edited = tmp_path / "SSL201.yaml"
    edited.write_text(edited.read_text(encoding="utf-8").replace(f"name: {rules['SSL201'].name}", "name: renamed", 1),
                      encoding="utf-8")
    assert catalogue_module.catalogue.__wrapped__()["SSL201"].name == "renamed"
    (tmp_path / "SSL999.yaml").write_text("id: SSL999\nname: added\nseverity: info\nsummary: A new rule.\n",
                                          encoding="utf-8")
    assert catalogue_module.catalogue.__wrapped__()["SSL999"].name == "added"
    (tmp_path / "catalogue.json").write_text("{not json", encoding="utf-8")  # a torn copy: the YAML decides
    assert catalogue_module.catalogue.__wrapped__()["SSL201"].name == "renamed"


def test_a_renamed_file_with_the_same_bytes_is_another_source(tmp_path):
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text("x: 1\n")
    second.write_text("x: 1\n")
    assert shipped.digest([str(first)]) != shipped.digest([str(second)])
    assert shipped.digest([str(first), str(second)]) != shipped.digest([str(second), str(first)])


def test_a_value_json_would_change_is_refused(tmp_path):
    source = tmp_path / "table.yaml"
    source.write_text("1: one\n")
    with pytest.raises(ValueError, match="does not survive JSON"):
        shipped.write([str(source)], str(tmp_path / "table.json"), {1: "one"})  # json keys are strings
    assert not (tmp_path / "table.json").exists()

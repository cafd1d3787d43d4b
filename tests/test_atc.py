"""The curated ATC data file: well-formed, unambiguous, and covering primary care."""

import json
import re

import pytest

from api.models.medication import ROUTES
from api.services.care import atc

CODE_SHAPE = re.compile(r"^[A-Z]\d{2}[A-Z]{2}\d{2}$")
# Components of combinations that are never prescribed alone, so have no entry of their own.
COMPONENTS_WITHOUT_ENTRY = {
    "sacubitril",
    "clavulanic acid",
    "sulfamethoxazole",
    "vilanterol",
    "levodopa",
}


@pytest.fixture(scope="module")
def raw():
    with atc.DATA_FILE.open(encoding="utf-8") as handle:
        return json.load(handle)


@pytest.fixture(scope="module")
def index():
    return atc.index()


def test_the_file_names_its_source(raw):
    assert "WHO" in raw["source"] and "ATC" in raw["source"]


def test_at_least_250_entries_each_with_a_level_5_code(raw):
    assert len(raw["entries"]) >= 250
    bad = [e["atc"] for e in raw["entries"] if not CODE_SHAPE.match(e["atc"])]
    assert bad == []


def test_no_code_is_listed_twice(raw):
    codes = [e["atc"] for e in raw["entries"]]
    assert len(codes) == len(set(codes))


def test_no_name_or_synonym_maps_to_two_ingredients(index):
    ambiguous = {
        name: sorted({e.ingredient for e in entries})
        for name, entries in index.by_name.items()
        if len({e.ingredient for e in entries}) > 1
    }
    assert ambiguous == {}


def test_every_entry_has_a_name_known_routes_and_components(raw):
    for entry in raw["entries"]:
        assert entry["ingredient"].strip() == entry["ingredient"] and entry["ingredient"]
        assert entry["routes"] and set(entry["routes"]) <= set(ROUTES), entry
        assert all(s.strip() for s in entry["synonyms"]), entry
        assert set(entry) <= {"atc", "ingredient", "synonyms", "routes", "components"}, entry


def test_combination_components_are_ingredients_of_their_own_entries(index):
    single = {e.ingredient for e in index.entries if e.components == (e.ingredient,)}
    combinations = [e for e in index.entries if e.components != (e.ingredient,)]
    assert len(combinations) >= 30
    missing = {c for e in combinations for c in e.components} - single
    assert missing == COMPONENTS_WITHOUT_ENTRY


@pytest.mark.parametrize(
    "prefix",
    [
        *("A10", "C01", "C02", "C03", "C07", "C08", "C09", "C10", "R03", "B01", "N02", "M01"),
        *("A02BC", "H03AA01", "N06A", "C09DX04"),
    ],
)
def test_the_primary_care_groups_are_covered(index, prefix):
    assert any(code.startswith(prefix) for code in index.by_code)


@pytest.mark.parametrize(
    ("name", "route", "code"),
    [
        ("Glucophage", None, "A10BA02"),
        ("GLUCOPHAGE", "oral", "A10BA02"),
        ("metformin 500 mg tablets", "oral", "A10BA02"),
        ("Glucophage XR 750mg", "oral", "A10BA02"),
        ("Amlodipine besylate 5 mg", "oral", "C08CA01"),
        ("levothyroxine sodium 100 mcg", "oral", "H03AA01"),
        ("potassium chloride 600 mg", "oral", "A12BA01"),
        ("Entresto", "oral", "C09DX04"),
        ("Hyzaar", "oral", "C09DA01"),
        ("Ventolin", "inhaled", "R03AC02"),
        ("salbutamol", "inhaled", "R03AC02"),
        ("salbutamol", "oral", "R03CC02"),
        ("aspirin", "oral", "B01AC06"),
        ("Disprin", "oral", "N02BA01"),
        ("diclofenac", "topical", "M02AA15"),
        ("diclofenac", "oral", "M01AB05"),
        ("Acétaminophène", "oral", None),
        ("acetaminophen", "oral", "N02BE01"),
        ("Zorbix", "oral", None),
    ],
)
def test_names_synonyms_and_routes_resolve(index, name, route, code):
    entry = index.resolve(name, route)
    assert (entry.code if entry else None) == code


def test_combinations_carry_each_ingredient_as_a_key(index):
    assert index.code("A10BD07").ingredient_keys == ("metformin", "sitagliptin")
    assert index.code("A10BA02").ingredient_keys == ("metformin",)
    assert index.code("C09AA05").subgroup == "C09AA"


def test_normalise_and_drug_key():
    assert atc.normalise("  Co-Amoxiclav\t625 ") == "co amoxiclav 625"
    assert atc.normalise("Ré-Médé") == "re mede"
    assert atc.drug_key("Zorbix 10 mg tablets") == "zorbix"
    assert atc.drug_key("500 mg") == "500 mg"

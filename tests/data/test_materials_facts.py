"""Tests for the embedded materials-facts table and its record renderer."""

import pytest

from honeybee.data.materials_facts import (
    COLUMNS,
    PROPERTIES,
    build_records,
    load_table,
    render_records,
)
from honeybee.utils.errors import DataError


@pytest.fixture(scope="module")
def rows():
    return load_table()


@pytest.fixture(scope="module")
def by_name(rows):
    return {r["material"]: r for r in rows}


def test_table_size_and_unique_names(rows):
    names = [r["material"] for r in rows]
    assert len(rows) >= 150
    assert len(names) == len(set(names))
    assert sum(r["band_gap_eV"] is not None for r in rows) >= 150
    assert sum(r["density_g_cm3"] is not None for r in rows) >= 150


def test_numeric_columns_are_plausible(rows):
    for r in rows:
        if r["density_g_cm3"] is not None:
            assert 0.05 <= r["density_g_cm3"] <= 23, r
        if r["melting_point_K"] is not None:
            assert 10 <= r["melting_point_K"] <= 4500, r
        if r["band_gap_eV"] is not None:
            assert 0 <= r["band_gap_eV"] <= 15, r


def test_electrical_class_consistent_with_gap(rows):
    for r in rows:
        assert r["electrical_class"] in ("metal", "semiconductor", "insulator"), r
        if r["band_gap_eV"] is not None:
            assert (r["band_gap_eV"] == 0) == (r["electrical_class"] == "metal"), r


def test_well_known_values(by_name):
    si, gaas, cu = by_name["silicon"], by_name["gallium arsenide"], by_name["copper"]
    assert 1.1 <= si["band_gap_eV"] <= 1.15 and si["crystal_structure"] == "diamond cubic"
    assert gaas["band_gap_eV"] == pytest.approx(1.42, abs=0.02)
    assert cu["electrical_class"] == "metal" and cu["density_g_cm3"] == pytest.approx(8.96, abs=0.05)
    assert by_name["diamond"]["band_gap_eV"] == pytest.approx(5.5, abs=0.1)
    assert by_name["aluminum oxide"]["crystal_structure"] == "corundum"
    assert by_name["tungsten"]["melting_point_K"] == pytest.approx(3695, abs=10)


def test_rendering_is_deterministic_per_seed(rows):
    a, b, c = render_records(rows, seed=0), render_records(rows, seed=0), render_records(rows, seed=1)
    assert [r.to_dict() for r in a] == [r.to_dict() for r in b]
    assert [r.instruction for r in a] != [r.instruction for r in c]
    assert [(r.input, r.output) for r in a] == [(r.input, r.output) for r in c]


def test_templates_per_property_renders_distinct_templates(rows):
    records = render_records(rows[:5], seed=3, templates_per_property=3)
    per_value = {}
    for r in records:
        per_value.setdefault((r.meta["group"], r.meta["property"]), []).append(r.instruction)
    assert all(len(v) == 3 and len(set(v)) == 3 for v in per_value.values())


def test_records_are_complete_and_parseable():
    records = build_records(seed=0)
    assert {r.meta["property"] for r in records} == set(PROPERTIES)
    for r in records:
        assert r.instruction and r.input and r.output
        meta = r.meta
        assert meta["source"] == "materials_facts" and meta["group"] and meta["property"] in PROPERTIES
        assert r.input.startswith(meta["group"])
        if meta["task_type"] == "regression":
            number, unit = r.output.split(" ", 1)
            assert float(number) == meta["target"] and unit == meta["unit"] != ""
            assert meta["label"] is None and meta["labels"] is None
        else:
            assert meta["task_type"] == "classification"
            assert r.output == meta["label"] and r.output in meta["labels"]
            assert meta["target"] is None and meta["unit"] == ""


def test_material_input_and_yes_no(by_name):
    records = render_records([by_name["silicon"], by_name["copper"]], seed=0)
    answers = {(r.input, r.meta["property"]): r.output for r in records}
    assert answers[("silicon (Si)", "band_gap")] == "1.12 eV"
    assert answers[("silicon (Si)", "density")] == "2.329 g/cm^3"
    assert answers[("silicon (Si)", "melting_point")] == "1687 K"
    assert answers[("silicon (Si)", "electrical_class")] == "semiconductor"
    assert answers[("silicon (Si)", "is_metal")] == "No"
    assert answers[("copper (Cu)", "is_metal")] == "Yes"


@pytest.mark.parametrize(
    "bad_line",
    [
        "silicon,Si,element,diamond cubic,lots,2.33,1687,semiconductor",
        "silicon,Si,element,diamond cubic,1.12,2.33",
        "silicon,Si,element,diamond cubic,1.12,2.33,1687,superconductor",
    ],
)
def test_malformed_row_raises_data_error_naming_file_and_line(tmp_path, bad_line):
    path = tmp_path / "broken.csv"
    good = "copper,Cu,element,fcc,0,8.96,1358,metal"
    path.write_text("\n".join([",".join(COLUMNS), good, bad_line]) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        load_table(path)
    assert "broken.csv" in str(err.value) and ":3" in str(err.value)


def test_wrong_header_raises_data_error(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("name,gap\nsilicon,1.12\n", encoding="utf-8")
    with pytest.raises(DataError, match="header.csv"):
        load_table(path)

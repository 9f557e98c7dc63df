"""Answer extraction used by the held-out check."""

from honeybee.data.records import Record
from honeybee.evaluation.extract import extract_number, snap_label
from honeybee.evaluation.heldout import task_metrics


def test_extract_number():
    assert extract_number("about 1.12 eV") == 1.12
    assert extract_number("1,687 K") == 1687.0
    assert extract_number("-0.5") == -0.5
    assert extract_number("2.3e3 K") == 2300.0
    assert extract_number("no idea") is None


def test_snap_label():
    labels = ["metal", "semiconductor", "insulator"]
    assert snap_label("Semiconductor.", labels) == "semiconductor"
    assert snap_label("It is an insulator, not a metal", labels) == "insulator"
    assert snap_label("metallic", labels) is None
    assert snap_label("Yes, it is.", ["Yes", "No"]) == "Yes"
    assert snap_label("hcp", ["fcc", "hcp", "bcc"]) == "hcp"


def test_task_metrics_hand_computed():
    recs = [
        Record("gap?", "Si", "1.12 eV", {"task_type": "regression", "property": "band_gap", "target": 1.12}),
        Record(
            "gap?", "GaAs", "1.42 eV", {"task_type": "regression", "property": "band_gap", "target": 1.42}
        ),
        Record("gap?", "C", "5.5 eV", {"task_type": "regression", "property": "band_gap", "target": 5.5}),
        Record(
            "metal?",
            "Cu",
            "Yes",
            {"task_type": "classification", "property": "is_metal", "label": "Yes", "labels": ["Yes", "No"]},
        ),
        Record(
            "metal?",
            "Si",
            "No",
            {"task_type": "classification", "property": "is_metal", "label": "No", "labels": ["Yes", "No"]},
        ),
    ]
    m = task_metrics(recs, ["1.0 eV", "2.42", "unknown", "Yes", "Yes"])
    assert abs(m["band_gap"]["mae"] - (0.12 + 1.0) / 2) < 1e-9
    assert abs(m["band_gap"]["parse_fail"] - 1 / 3) < 1e-9
    assert m["is_metal"]["accuracy"] == 0.5

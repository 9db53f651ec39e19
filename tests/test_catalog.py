"""Patch-kind catalog: parameter validation and the JSON the toolbar reads."""

import json

import pytest

from risk_widgets.catalog import CATALOG, catalog_json, validate_params


def test_defaults_are_filled_in():
    assert validate_params("lora", {}) == {"rank": 8, "alpha": None, "dropout": 0.0}
    assert validate_params("vote", {"n_voters": 3}) == {"n_voters": 3}
    assert validate_params("sculpt", None) == {}


def test_strings_from_the_browser_are_coerced():
    assert validate_params("lora", {"rank": "4", "alpha": "8"}) == {
        "rank": 4,
        "alpha": 8.0,
        "dropout": 0.0,
    }
    assert validate_params("lora", {"alpha": ""})["alpha"] is None


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        ("lora", {"rank": 0}, "`rank` must be >= 1"),
        ("lora", {"rank": 2.5}, "`rank` must be an integer"),
        ("lora", {"rank": "abc"}, "`rank` must be an integer"),
        ("lora", {"ranks": 4}, "unknown parameter(s) ['ranks']"),
        ("vote", {"n_voters": 1}, "`n_voters` must be >= 2"),
        ("sample", {"rate": 1.5}, "`rate` must be <= 0.9"),
        ("sample", {"rate": float("nan")}, "must be a number"),
        ("vote", {"n_voters": None}, "`n_voters` is required"),
        ("dora", {}, "Unknown patch kind 'dora'"),
    ],
)
def test_bad_parameters_name_the_problem(kind, params, message):
    with pytest.raises(ValueError) as err:
        validate_params(kind, params)
    assert message in str(err.value)


def test_catalog_json_lists_every_kind_with_its_params():
    data = json.loads(json.dumps(catalog_json()))
    assert set(data) == set(CATALOG) == {"lora", "svf", "sample", "vote", "sculpt"}
    assert [p["name"] for p in data["lora"]["params"]] == ["rank", "alpha", "dropout"]
    assert data["lora"]["targets"] == "layers"
    assert data["vote"]["targets"] == "model"
    rank = data["lora"]["params"][0]
    assert rank == {
        "name": "rank", "type": "int", "default": 8, "min": 1, "max": 1024,
        "optional": False, "help": "rank of the low-rank update",
    }

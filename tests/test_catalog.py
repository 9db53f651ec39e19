"""Patch-kind catalog: parameter validation and the JSON the toolbar reads."""

import json
import pathlib

import pytest

from risk_widgets.core.params import PARAMS
from risk_widgets.editor.catalog import CATALOG, catalog_json, validate_params


def test_defaults_are_filled_in():
    assert validate_params("lora", {}) == {
        "rank": 8, "alpha": None, "dropout": 0.0, "use_rslora": False, "init": "he_uniform",
        "name": None}
    assert validate_params("svf", {}) == {"name": None}
    assert validate_params("vote", {"n_voters": 3}) == {"n_voters": 3}
    assert validate_params("sculpt", None) == {}


def test_strings_from_the_browser_are_coerced():
    assert validate_params("lora", {"rank": "4", "alpha": "8"}) == {
        "rank": 4,
        "alpha": 8.0,
        "dropout": 0.0,
        "use_rslora": False,
        "init": "he_uniform",
        "name": None,
    }
    assert validate_params("lora", {"alpha": ""})["alpha"] is None
    # a text field: trimmed; empty is None (the automatic adapter name)
    assert validate_params("lora", {"name": " task_a "})["name"] == "task_a"
    assert validate_params("svf", {"name": ""})["name"] is None
    # a checkbox sends true/false, a select one of its choices
    assert validate_params("lora", {"use_rslora": "true", "init": "pissa"}) == {
        "rank": 8, "alpha": None, "dropout": 0.0, "use_rslora": True, "init": "pissa",
        "name": None}


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
        ("lorra", {}, "Unknown patch kind 'lorra'"),
        ("lora", {"name": "a/b"}, "`name` must be a name of letters, digits, '_' or '-'"),
        ("svf", {"name": "2nd"}, "starting with a letter or '_', e.g. 'task_a'"),
        ("lora", {"name": 3}, "Received: name=3"),
    ],
)
def test_bad_parameters_name_the_problem(kind, params, message):
    with pytest.raises(ValueError) as err:
        validate_params(kind, params)
    assert message in str(err.value)


def test_catalog_json_lists_every_kind_with_its_params():
    data = json.loads(json.dumps(catalog_json()))
    assert set(data) == set(CATALOG) >= {"lora", "svf", "sample", "vote", "sculpt", "lora_ensemble"}
    assert [p["name"] for p in data["lora"]["params"]] == [
        "rank", "alpha", "dropout", "use_rslora", "init", "name"]
    assert data["svf"]["params"] == [{"name": "name", "type": "str", "optional": True,
                                      "help": PARAMS["name"].help}]
    assert data["lora"]["params"][4]["choices"] == ["he_uniform", "gaussian", "pissa"]
    assert data["lora"]["targets"] == "model"  # nothing selected: add_lora's defaults
    assert data["svf"]["targets"] == "layers"
    assert data["vote"]["targets"] == "model"
    rank = data["lora"]["params"][0]
    assert rank == {
        "name": "rank", "type": "int", "default": 8, "min": 1, "max": 1024,
        "optional": False, "help": "rank of the low-rank update", "patterns": True,
    }


# ---------------------------------------------------- one table of parameter specs


DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


def _doc_param_table() -> dict[str, dict]:
    """The rows of the "Patch parameters" table in docs/architecture.md, parsed."""
    section = DOC.read_text(encoding="utf-8").split("### Patch parameters", 1)[1]
    section = section.split("\n#", 1)[0]

    def value(cell: str):
        return None if cell in ("—", "") else json.loads(cell)

    rows = {}
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        name, kinds, type_, default, low, high, help_ = (
            c.strip() for c in line.strip().strip("|").split("|"))
        exclusive = high.startswith("<")
        rows[name.strip("`")] = {
            "kinds": [k.strip() for k in kinds.split(",")], "type": type_,
            "default": value(default), "min": value(low),
            "max": value(high.lstrip("< ")), "max_exclusive": exclusive, "help": help_,
        }
    return rows


def test_docs_state_the_limits_of_the_parameter_table():
    rows = _doc_param_table()
    assert set(rows) == set(PARAMS)
    for name, spec in PARAMS.items():
        kinds = [k for k, kind in CATALOG.items() if any(p.name == name for p in kind.params)]
        assert rows[name] == {
            "kinds": kinds, "type": spec.type, "default": spec.default, "min": spec.min,
            "max": spec.max, "max_exclusive": spec.max_exclusive, "help": spec.help,
        }, name


def test_the_catalog_and_its_json_read_the_parameter_table():
    for kind in CATALOG.values():
        for param in kind.params:
            assert param is PARAMS[param.name], (kind.name, param.name)
    sent = catalog_json()
    for name, kind in CATALOG.items():
        assert sent[name]["params"] == [PARAMS[p.name].to_json() for p in kind.params]
    assert catalog_json()["lora"]["params"][2] == {
        "name": "dropout", "type": "float", "default": 0.0, "min": 0, "max": 1,
        "max_exclusive": True, "optional": False, "help": "dropout on the adapter input",
    }


def test_the_editor_and_add_lora_accept_and_refuse_the_same_ranks():
    from risk_widgets import demo
    from risk_widgets.adapters.lora import add_lora

    model = demo.regression_mlp(hidden=(4,))
    top = PARAMS["rank"].max
    assert top == 1024
    assert validate_params("lora", {"rank": top})["rank"] == top
    add_lora(model, "head", rank=top)  # the largest rank: both accept it
    with pytest.raises(ValueError, match=f"`rank` must be <= {top}. Received: {top + 1}"):
        validate_params("lora", {"rank": top + 1})
    with pytest.raises(ValueError) as err:
        add_lora(model, "head", rank=top + 1)
    assert str(err.value) == (
        f"Received an invalid value for `rank`, expected an integer in [1, {top}]. "
        f"Received: rank={top + 1}"
    )


@pytest.mark.parametrize(
    ("kind", "name"), [("vote", "n_voters"), ("sample", "n_samples"), ("sample", "rate")]
)
def test_the_editor_and_the_risk_wrappers_share_the_upper_limits(kind, name):
    from risk_widgets.risk import sample, vote

    wrapper = {"vote": vote.Wrapper, "sample": sample.Wrapper}[kind]
    spec = PARAMS[name]
    wrapper(**{name: spec.max})  # the largest value: both accept it
    assert validate_params(kind, {name: spec.max})[name] == spec.max
    above = spec.max + 1 if spec.type == "int" else spec.max + 0.01
    with pytest.raises(ValueError, match=f"`{name}`, expected an? .* in \\[.*{spec.max}\\]"):
        wrapper(**{name: above})
    with pytest.raises(ValueError, match=name):
        validate_params(kind, {name: above})


@pytest.mark.parametrize("name", sorted(n for n, p in PARAMS.items() if p.type in ("int", "float")))
def test_api_check_and_editor_coercion_agree_at_every_limit(name):
    """``check`` (the API's strict check) and ``coerce`` (the editor's, from text) accept
    and refuse the same values at and just past each limit of the table."""
    spec = PARAMS[name]
    step = 1 if spec.type == "int" else 1e-6
    good, bad = [spec.default] if spec.default is not None else [], []
    if spec.min is not None:
        good.append(spec.min)
        bad.append(spec.min - step)
    if spec.max is not None:
        (bad if spec.max_exclusive else good).append(spec.max)
        bad.append(spec.max + step)
        if spec.max_exclusive:
            good.append(spec.max - step)
    for v in good:
        v = int(v) if spec.type == "int" else float(v)
        assert spec.check(v) == v and spec.coerce("k", v) == v and spec.coerce("k", str(v)) == v
    for v in bad:
        v = int(v) if spec.type == "int" else float(v)
        with pytest.raises(ValueError, match=f"Received: {name}="):
            spec.check(v)
        with pytest.raises(ValueError, match=f"`{name}` must be"):
            spec.coerce("k", v)


def test_lora_dropout_limit_is_the_tables():
    from risk_widgets import demo
    from risk_widgets.adapters.lora import add_lora

    model = demo.regression_mlp(hidden=(4,))
    assert validate_params("lora", {"dropout": 0.995})["dropout"] == 0.995
    add_lora(model, "head", dropout=0.995)
    with pytest.raises(ValueError, match=r"`dropout` must be < 1\. Received: 1\.0"):
        validate_params("lora", {"dropout": 1})

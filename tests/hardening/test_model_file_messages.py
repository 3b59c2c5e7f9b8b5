"""Model files crafted with a recomputed digest (issue 25, point 6): every refusal is one line in plain words,
exit 2, and nothing computed from a loaded model reaches the command line as a NumPy warning.

The digest is a plain BLAKE2 of the arrays that anyone can recompute, so these files are rewritten with the
engine's own digest function, as an attacker would."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from recengine.cli import main
from recengine.data import load
from recengine.data.synthetic import planted_low_rank
from recengine.errors import ModelFileError, ScoreOverflowError
from recengine.models import MODELS, make
from recengine.models.scoring import score_matrix
from recengine.store import (
    MAX_HISTORY_RECORDS,
    METADATA,
    _digest,
    _write_atomically,
    largest_safe_value,
    load_model,
    save_model,
)

ROOT = Path(__file__).resolve().parents[2]
INTERNALS = ("Error(", "TypeError", "KeyError", "ValueError", "__init__", "Traceback", "Warning")
EXCEPTION_REPR = re.compile(r"\b[A-Z]\w*\((['\"]|\))")  # BadZipFile('...'), ParameterError("..."), Error()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """The ratings as a CSV file (the command line reads them with --data) and models trained on them."""
    folder = tmp_path_factory.mktemp("messages")
    ratings = folder / "ratings.csv"
    planted_low_rank(n_users=30, n_items=20, rank=2, density=0.4, seed=1)[0].to_frame().to_csv(
        ratings, index=False
    )
    data = load(str(ratings))
    answers = folder / "answers.csv"
    answers.write_text("item,rating\n1,5\n2,1\n3,4\n")
    out = {"ratings": ratings, "answers": answers}
    for name, algo, dtype in (
        ("sgd", "sgd", "float64"), ("sgd32", "sgd", "float32"), ("svd", "svd", "float64"),
        ("wals", "wals", "float32"), ("bpr", "bpr", "float32"), ("svdpp", "svdpp", "float64"),
        ("bsvdpp", "bsvdpp", "float64"),
    ):  # fmt: skip
        epochs = {} if algo == "svd" else {"n_epochs": 6 if algo == "bsvdpp" else 2}
        model = make(algo, n_factors=4, dtype=dtype, **epochs).fit(data)
        out[name] = save_model(model, folder / f"{name}.npz", data=data, extra={"split": "none", "seed": 0})
    stars = data.to_frame().assign(rating=lambda frame: frame["rating"].round().clip(1, 5))
    stars.to_csv(folder / "stars.csv", index=False)
    on_stars = load(str(folder / "stars.csv"))
    ordinal = make("bsvdpp", n_factors=4, n_epochs=6, link="ordered_probit").fit(on_stars)
    out["stars"] = folder / "stars.csv"
    out["ordinal"] = save_model(
        ordinal, folder / "ordinal.npz", data=on_stars, extra={"split": "none", "seed": 0}
    )
    return out


def rewritten(source: Path, out: Path, arrays=None, metadata=None, raw_metadata: str | None = None) -> Path:
    """``source`` with ``arrays`` and ``metadata`` changed (dicts of replacements, None values removed) and
    the digest recomputed with the engine's own function; ``raw_metadata`` replaces the JSON text itself."""
    with np.load(source) as archive:
        content = {name: archive[name] for name in archive.files}
    document = json.loads(content.pop(METADATA).tobytes())
    for name, value in (arrays or {}).items():
        if value is None:
            content.pop(name)
            document["state"].remove(name)
        else:
            content[name] = value
    document |= metadata or {}
    document["digest"] = _digest(content)
    text = raw_metadata if raw_metadata is not None else json.dumps(document)
    content[METADATA] = np.frombuffer(text.encode(), dtype=np.uint8)
    return _write_atomically(out, content)


def metadata_text(source: Path, **changes) -> str:
    with np.load(source) as archive:
        return json.dumps(json.loads(archive[METADATA].tobytes()) | changes)


def assert_plain(message: str) -> None:
    assert len(message.strip().splitlines()) == 1, message
    assert not any(word in message for word in INTERNALS) and not EXCEPTION_REPR.search(message), message
    assert "site-packages" not in message and str(ROOT / "recengine") not in message, message


def refusal_on_the_command_line(path: Path, ratings: Path, capsys) -> str:
    assert main(["recommend", "--model", str(path), "--user", "1", "--data", str(ratings)]) == 2
    captured = capsys.readouterr()
    assert not captured.out
    assert_plain(captured.err)
    return captured.err


# --- huge finite factors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name, value", [("sgd", 1e300), ("sgd32", 1e30)])
def test_huge_finite_factors_with_a_recomputed_digest_are_refused(files, tmp_path, capsys, name, value):
    """Before: loaded, then `recommend` printed NumPy's overflow warning with the install path and
    "Top 0", exit 0."""
    source = files[name]
    with np.load(source) as archive:
        huge = np.full_like(archive["user_factors_"], value)
    path = rewritten(source, tmp_path / "huge.npz", arrays={"user_factors_": huge})
    with pytest.raises(ModelFileError, match="does not describe a valid sgd model") as caught:
        load_model(path)
    message = str(caught.value)
    assert "'user_factors_'" in message and "overflow" in message and "Retrain" in message
    assert "overflow" in refusal_on_the_command_line(path, files["ratings"], capsys)


def test_the_issues_file_is_refused_by_the_installed_command_with_one_clean_line(files, tmp_path):
    """The tester's run, as a separate process: a warning would go to its stderr (pytest cannot catch it)."""
    with np.load(files["sgd"]) as archive:
        factors = {name: np.full_like(archive[name], 1e300) for name in ("user_factors_", "item_factors_")}
    path = rewritten(files["sgd"], tmp_path / "huge.npz", arrays=factors)
    run = subprocess.run(
        [sys.executable, "-m", "recengine", "recommend", "--model", str(path), "--user", "1",
         "--data", str(files["ratings"])],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env=os.environ | {"PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "default"},
    )  # fmt: skip
    assert run.returncode == 2, run.stdout + run.stderr
    assert not run.stdout and "Top 0" not in run.stdout
    assert_plain(run.stderr)
    assert "scoring.py" not in run.stderr and "does not describe a valid sgd model" in run.stderr


@pytest.mark.parametrize("name", ["sgd", "sgd32"])
def test_values_just_inside_the_bound_score_without_any_overflow(files, tmp_path, name):
    """The bound is not arbitrary: every learned value at ±0.999 B (the worst case the bound allows, signs
    alike so nothing cancels) still scores, predicts and folds in with finite numbers and no warning."""
    with np.load(files[name]) as archive:
        state = {n: archive[n] for n in ("user_factors_", "item_factors_", "user_bias_", "item_bias_")}
    k, rows = state["user_factors_"].shape[1], max(len(state["user_bias_"]), len(state["item_bias_"]))
    limit = 0.999 * largest_safe_value(state["user_factors_"].dtype, k, rows)
    edge = {n: np.full_like(array, limit) for n, array in state.items()}
    path = rewritten(files[name], tmp_path / "edge.npz", arrays=edge)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = load_model(path)
        assert np.isfinite(score_matrix(model, np.arange(model.n_users_))).all()
        assert np.isfinite(model.predict(np.arange(model.n_users_), np.zeros(model.n_users_))).all()
        assert np.isfinite(model.scores_for(model.fold_in([0, 1, 2], [5.0, 1.0, 4.0]).factors)).all()
    just_beyond = {"item_bias_": np.full_like(state["item_bias_"], limit / 0.99)}
    with pytest.raises(ModelFileError, match="'item_bias_' holds values up to"):
        load_model(rewritten(files[name], tmp_path / "beyond.npz", arrays=just_beyond))


@pytest.fixture(scope="module")
def ratings_data(files):
    return load(str(files["ratings"]))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("algo", sorted(MODELS))
def test_every_model_at_the_bound_serves_every_command_without_a_warning(
    files, ratings_data, tmp_path, algo, dtype
):
    """Each algorithm's scored arrays (factors, biases, global mean) all at +0.999 B: users and films alike
    (singular systems) and the largest scores the bound allows. Before: bpmf's population prior ended in
    LinAlgError; lists at the old bound overflowed in the least-squares fit of a person's scores."""
    epochs = {} if algo in ("popular", "svd") else {"n_epochs": 6 if algo in ("bpmf", "bsvdpp") else 2}
    model = make(algo, dtype=dtype, **epochs).fit(ratings_data)
    source = save_model(model, tmp_path / "model.npz", data=ratings_data, extra={"split": "none", "seed": 0})
    with np.load(source) as archive:
        scored = {n: archive[n] for n in archive.files if n.endswith(("factors_", "bias_", "global_mean_"))}
    k, rows = scored["user_factors_"].shape[1], max(model.n_users_, model.n_items_)
    limit = 0.999 * largest_safe_value(np.dtype(dtype), k, rows)
    path = rewritten(
        source, tmp_path / "edge.npz", arrays={n: np.full_like(a, limit) for n, a in scored.items()}
    )
    common = ["--model", str(path), "--data", str(files["ratings"])]
    commands = (
        ["recommend", "--user", "1", "-n", "3"], ["recommend", "--ratings", str(files["answers"]), "-n", "3"],
        ["similar", "--item", "1", "-n", "3"], ["ask", "--answers", str(files["answers"]), "-n", "3"],
        ["clusters", "-k", "2"], ["evaluate", "--protocol", "new-user", "--given", "3", "-k", "5"],
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for command in commands:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
                status = main([*command, *common])
            assert status in (0, 2), (command, err.getvalue())  # 2: one line (alike users are no groups)
            if status:
                assert_plain(err.getvalue())


@pytest.mark.parametrize("array", ["prior_mean_", "cutpoints_", "levels_"])
def test_a_bayesian_models_prior_and_rating_levels_are_bounded_too(files, tmp_path, capsys, array):
    """Before: a newcomer's list from levels_ or prior_mean_ at 1e300 printed NumPy's overflow warning."""
    with np.load(files["ordinal"]) as archive:
        huge = np.full_like(archive[array], 1e300)
    path = rewritten(files["ordinal"], tmp_path / "huge.npz", arrays={array: huge})
    assert main(["recommend", "--model", str(path), "--data", str(files["stars"]), "--ratings",
                 str(files["answers"]), "-n", "3"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert_plain(err)
    assert f"its array '{array}' holds values up to 1e+300" in err


@pytest.mark.parametrize("value", [1e300, 1e150])
def test_scores_that_overflow_are_a_clear_error_never_a_numpy_warning(files, value):
    """Whatever made the values (not only a file): the scoring paths refuse scores that are not finite
    (1e300² overflows) or too large for a list's sums of products (4·10³⁰⁰ is finite)."""
    model = load_model(files["sgd"])
    model.user_factors_ = np.full_like(model.user_factors_, value)
    model.item_factors_ = np.full_like(model.item_factors_, value)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ScoreOverflowError, match="Retrain the model"):
            score_matrix(model, np.arange(3))
        with pytest.raises(ScoreOverflowError, match="Retrain the model"):
            model.item_scores(0)


@pytest.mark.parametrize("name, value", [("sgd", 1e10), ("svd", 1e3), ("wals", 1e8), ("bpr", 1e8)])
def test_alike_item_factors_within_the_bound_serve_a_newcomer_without_a_traceback(
    files, tmp_path, capsys, name, value
):
    """Identical item factors (of a size the bound allows) make a newcomer's system singular: before, fold-in,
    attribution and the questions to ask ended in numpy's LinAlgError traceback; now least squares answers."""
    with np.load(files[name]) as archive:
        alike = np.full_like(archive["item_factors_"], value)
    path = rewritten(files[name], tmp_path / "alike.npz", arrays={"item_factors_": alike})
    common = ["--model", str(path), "--data", str(files["ratings"]), "-n", "3"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for command in (["recommend", "--ratings", str(files["answers"])], ["recommend", "--user", "1"],
                        ["ask", "--answers", str(files["answers"]), "--strategy", "information"]):  # fmt: skip
            assert main([*command, *common]) == 0, command
    assert not capsys.readouterr().err


def test_users_alike_are_no_groups_and_no_kmeans_warning(files, tmp_path, capsys):
    """Before: scikit-learn's ConvergenceWarning (a line naming site-packages) and two empty groups, exit 0."""
    with np.load(files["sgd"]) as archive:
        alike = np.ones_like(archive["user_factors_"])
    path = rewritten(files["sgd"], tmp_path / "alike.npz", arrays={"user_factors_": alike})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main(["clusters", "--model", str(path), "--data", str(files["ratings"]), "-k", "3"]) == 2
    err = capsys.readouterr().err
    assert_plain(err)
    assert "only 1 distinct vector" in err


# --- metadata outside the digest ---------------------------------------------------------------------------

RECORD = {
    "epoch": 1,
    "seconds": 0.1,
    "reconstruction_loss": 1.0,
    "regularization_loss": 0.5,
    "total_loss": 1.5,
}
HISTORIES = {
    "a record without its epoch": (
        [{k: v for k, v in RECORD.items() if k != "epoch"}],
        "record 1 lacks 'epoch'",
    ),
    "a record without its losses": (
        [RECORD, {"epoch": 2, "seconds": 1}],
        "record 2 lacks 'reconstruction_loss'",
    ),
    "an epoch as text": ([RECORD | {"epoch": "1"}], "record 1 has epoch '1', expected a whole number"),
    "an epoch true": ([RECORD | {"epoch": True}], "record 1 has epoch True"),
    "negative seconds": ([RECORD | {"seconds": -1}], "record 1 has seconds -1"),
    "a loss as a list": ([RECORD | {"total_loss": [1]}], "record 1 has total_loss [1]"),
    "grad norms of text": ([RECORD | {"grad_norms": {"p": "big"}}], "record 1 has grad_norms"),
    "an unknown field": ([RECORD | {"comment": 1}], "record 1 has an unknown field 'comment'"),
    "an unknown measure": ([RECORD | {"measured": "never"}], "record 1 has measured 'never'"),
    "a record that is a number": ([RECORD, 7], "record 2 is 7, not the record of an epoch"),
    "a string instead of a list": ("epochs", "field 'history' is 'epochs'"),
    "the tester's 400,000 records": ([{}] * 400_000, "holds 400,000 records, more than the 100,000"),
}


@pytest.mark.parametrize("what", sorted(HISTORIES))
def test_malformed_history_records_are_refused_in_plain_words(files, tmp_path, capsys, what):
    """Before: `does not describe a valid sgd model: TypeError("EpochRecord.__init__() missing 4 required
    positional arguments: ...")`."""
    history, expected = HISTORIES[what]
    path = rewritten(files["sgd"], tmp_path / "history.npz", metadata={"history": history})
    with pytest.raises(ModelFileError) as caught:
        load_model(path)
    assert expected in str(caught.value)
    assert_plain(str(caught.value))
    assert expected in refusal_on_the_command_line(path, files["ratings"], capsys)


def test_a_nan_loss_is_refused(files, tmp_path, capsys):
    """JSON's NaN parses (json.loads reads it); the engine never writes it (NaN is saved as null)."""
    text = metadata_text(files["sgd"], history=[RECORD]).replace('"total_loss": 1.5', '"total_loss": NaN')
    path = rewritten(files["sgd"], tmp_path / "nan.npz", raw_metadata=text)
    assert "record 1 has total_loss nan" in refusal_on_the_command_line(path, files["ratings"], capsys)


def test_a_history_as_long_as_the_longest_fit_and_null_losses_load(files, tmp_path):
    """What the engine writes passes: a Spark import's NaN losses saved as null, 100,000 epochs."""
    history = [RECORD | {"epoch": e, "total_loss": None} for e in range(1, MAX_HISTORY_RECORDS + 1)]
    model = load_model(rewritten(files["sgd"], tmp_path / "long.npz", metadata={"history": history}))
    assert len(model.history_) == MAX_HISTORY_RECORDS and model.history_[0].total_loss is None


BROKEN = {
    "a parameter out of range": (
        {"params": {"biases": "yes"}},
        "biases='yes' is not allowed: biases must be true or false",
    ),
    "an unknown parameter": ({"params": {"biasses": True}}, "biasses=True is not allowed"),
    "a scale without bounds": ({"scale": {}}, "its rating scale {} is not finite 'min' < 'max'"),
    "a scale of text": ({"scale": {"min": "a", "max": 5}}, "its rating scale"),
    "a scale upside down": ({"scale": {"min": 5, "max": 1}}, "its rating scale"),
}


@pytest.mark.parametrize("what", sorted(BROKEN))
def test_invalid_parameters_and_scales_are_refused_with_our_own_words(files, tmp_path, capsys, what):
    """Before: `ParameterError("biases='yes' is not allowed ...")`, `KeyError('min')`."""
    change, expected = BROKEN[what]
    with np.load(files["sgd"]) as archive:
        document = json.loads(archive[METADATA].tobytes())
    if "params" in change:
        change = {"params": document["params"] | change["params"]}
    path = rewritten(files["sgd"], tmp_path / "broken.npz", metadata=change)
    with pytest.raises(ModelFileError, match="does not describe a valid sgd model") as caught:
        load_model(path)
    assert expected in str(caught.value) and "Retrain the model" in str(caught.value)
    assert "ParameterError(" not in str(caught.value)
    assert expected in refusal_on_the_command_line(path, files["ratings"], capsys)


@pytest.mark.parametrize(
    "name, array",
    [("sgd", "global_mean_"), ("sgd", "item_factors_"), ("sgd", "user_bias_"), ("bpr", "item_bias_"),
     ("svdpp", "implicit_factors_"), ("bsvdpp", "prior_mean_"), ("bsvdpp", "cutpoints_")],
)  # fmt: skip
def test_a_model_without_an_array_it_needs_is_refused_when_loaded(files, tmp_path, capsys, name, array):
    """Before: `KeyError('global_mean_')`; without the others the file loaded and a list ended in a traceback
    (AttributeError or TypeError on None)."""
    path = rewritten(files[name], tmp_path / "missing.npz", arrays={array: None})
    message = refusal_on_the_command_line(path, files["ratings"], capsys)
    assert f"it lacks the learned arrays ['{array}']" in message


def test_biases_a_model_learns_without_may_be_absent(files, ratings_data, tmp_path):
    model = make("sgd", n_factors=4, n_epochs=2, biases=False).fit(ratings_data)
    path = save_model(model, tmp_path / "plain.npz", data=ratings_data)
    assert load_model(path).user_bias_ is None


def test_unreadable_archives_are_described_without_zipfiles_words(files, tmp_path, capsys):
    """Before: `... (truncated or corrupted): BadZipFile('File is not a zip file')` and zlib's or the CRC's
    text."""
    content = files["sgd"].read_bytes()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(content[: len(content) // 2])
    assert "truncated or corrupted" in refusal_on_the_command_line(truncated, files["ratings"], capsys)
    flipped = bytearray(content)
    start = content.index(b"item_factors_.npy") + 200
    flipped[start : start + 8] = bytes(b ^ 0xFF for b in flipped[start : start + 8])
    damaged = tmp_path / "flipped.npz"
    damaged.write_bytes(bytes(flipped))
    assert "corrupted" in refusal_on_the_command_line(damaged, files["ratings"], capsys)


def test_a_data_entry_naming_no_spec_names_the_bundled_set_not_where_it_is_installed(files, tmp_path, capsys):
    """probe8 (low): a model file whose data entry gave options but no spec fell back to the bundled folder,
    and the refusal showed where recengine is installed. It names the bundled set instead."""
    extra = {"split": "none", "seed": 0, "data": {"format": "csv", "columns": {"user": "API_KEY"}}}
    path = rewritten(files["sgd"], tmp_path / "no-spec.npz", metadata={"extra": extra})
    assert main(["recommend", "--model", str(path), "--user", "1", "--stored-data"]) == 2
    message = capsys.readouterr().err
    assert "the bundled ml-latest-small" in message
    assert_plain(message)

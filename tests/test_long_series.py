"""Long runs: per-step series in ``series/<id>.npz``, every stride-th value inline."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from gdlab import experiments, results
from gdlab.race import prepare, race, run_experiment
from gdlab.report import figures, schema, write
from gdlab.train import fit

INLINE = 300  # SERIES_INLINE in these tests, so that a long run takes seconds
LONG = 10_000
SHORT = 200
STRIDE = math.ceil((LONG + 1) / INLINE)  # 34: the path has LONG + 1 points


@pytest.fixture(autouse=True)
def _small_inline(monkeypatch):
    monkeypatch.setattr(results, "SERIES_INLINE", INLINE)


def _bowl(steps: int) -> experiments.Experiment:
    """Seed 001's bowl with two of its six optimizers (SGD and Adam)."""
    bowl = experiments.builtin("bowl").select_optimizers(["sgd", "adam"])
    return bowl.merge_training(steps=steps)


@pytest.fixture(scope="module")
def long_race(tmp_path_factory):
    out = tmp_path_factory.mktemp("long")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(results, "SERIES_INLINE", INLINE)
        document = run_experiment(_bowl(LONG), out, progress=False, figures=False, workers=1)
    return document, out


def _direct(experiment: experiments.Experiment, index: int, seed: int = 0):
    """The history of run ``index`` trained by :func:`gdlab.train.fit` itself."""
    spec = experiment.runs[index]
    return fit(
        prepare(experiment),
        spec.make_optimizer(),
        rng=np.random.default_rng(seed),
        progress=False,
        **experiment.run_training(spec).fit_kwargs(),
    )


def _finite(values, width: int = 1) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).reshape(-1, width)
    return array[np.isfinite(array).all(axis=1)].reshape(-1) if width == 1 else array


# --- the document --------------------------------------------------------------------------


def test_long_run_keeps_every_stride_th_value_inline(long_race):
    document, out = long_race
    assert document["runs"]
    for run in document["runs"]:
        assert run["series"] == {
            "file": f"series/{run['id']}.npz",
            "stride": math.ceil((run["steps"] + 1) / INLINE),
            "steps": run["steps"],
            "epochs": run["steps"],  # a 2-D function evaluates after every step
        }
        assert (out / run["series"]["file"]).is_file()
        for key in ("loss", "lr", "path", "epochs"):
            assert 0 < len(run[key]) <= INLINE, key
        assert run["epochs"][-1]["step"] == run["steps"]  # the last evaluation stays inline
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["runs"] == document["runs"]
    assert not list(out.glob("series/.*"))  # no temporary file left behind


def test_inline_values_are_the_stride_th_of_the_whole(long_race):
    document, out = long_race
    for run in document["runs"]:
        whole = results.load_series(out, run["id"])
        stride = run["series"]["stride"]
        assert run["loss"] == whole["loss"][::stride].tolist()
        assert run["lr"] == whole["lr"][::stride].tolist()
        assert run["path"] == whole["path"][::stride].tolist()
        every = results.load_epochs(out, run["id"])
        k = math.ceil(len(every) / INLINE)
        assert run["epochs"] == every[k - 1 :: k] + ([every[-1]] if len(every) % k else [])


def test_load_series_is_the_whole_history(long_race):
    document, out = long_race
    index = 1  # Adam
    run = document["runs"][index]
    history = _direct(_bowl(LONG), index)
    assert run["steps"] == history.steps == LONG
    whole = results.load_series(out / "results.json", run["id"])
    assert {k: v.dtype for k, v in whole.items()} == dict.fromkeys(("loss", "lr", "path"), "f8")
    np.testing.assert_array_equal(whole["loss"], _finite(history.loss))
    np.testing.assert_array_equal(whole["lr"], _finite(history.lr))
    np.testing.assert_array_equal(whole["path"], _finite(history.path, width=2))
    assert whole["path"].shape == (LONG + 1, 2)
    every = results.load_epochs(out, run["id"])
    assert len(every) == len(history.epochs)
    for stored, direct in zip(every, history.epochs, strict=True):
        assert stored.keys() == direct.keys()
        assert {k: v for k, v in stored.items() if k != "seconds"} == {
            k: v for k, v in direct.items() if k != "seconds"
        }
    assert isinstance(every[-1]["step"], int)


def test_long_document_validates(long_race):
    document, _ = long_race
    schema.validate(document)


@pytest.mark.parametrize(
    ("series", "message"),
    [
        ({"file": "series/x.npz", "stride": 0, "steps": 5}, "minimum"),
        ({"file": "series/x.npz", "steps": 5}, "stride"),
        ({"file": "", "stride": 2, "steps": 5}, "non-empty"),
        ({"file": "series/x.npz", "stride": 2, "steps": 5, "extra": 1}, "extra"),
        ({"file": "series/x.npz", "stride": 2, "steps": 5, "epochs": -1}, "minimum"),
    ],
)
def test_schema_rejects_a_bad_series_block(long_race, series, message):
    document, _ = long_race
    bad = {**document, "runs": [{**document["runs"][0], "series": series}]}
    with pytest.raises(ValueError, match=message):
        schema.validate(bad)


# --- figures -------------------------------------------------------------------------------


def _x_max(fig) -> float:
    return max(
        float(np.max(line.get_xdata())) for line in fig.axes[0].lines if len(line.get_xdata())
    )


@pytest.mark.filterwarnings("error::RuntimeWarning")  # an axis that overflows
def test_loss_figure_x_axis_is_in_steps(long_race):
    document, _ = long_race
    fig = figures.loss_figure(document)
    assert _x_max(fig) == LONG  # the final evaluation, after the last update


def test_lr_figure_x_axis_is_in_steps(long_race):
    document, _ = long_race
    fig = figures.lr_figure(document)
    assert _x_max(fig) == LONG  # the last rate holds until the last update


@pytest.mark.filterwarnings("error::RuntimeWarning")  # an axis that overflows
def test_report_draws_a_long_race(long_race, tmp_path):
    document, _ = long_race
    drawn = write(document, tmp_path)
    assert {f["name"] for f in drawn} >= {"paths", "loss"}
    assert (tmp_path / "index.html").is_file()


def _data_run(run_id: str, seed: int, loss: list[float], stride: int | None) -> dict:
    record = {
        "id": run_id,
        "label": "SGD",
        "group": "SGD",
        "optimizer": "sgd",
        "preset": None,
        "hyperparameters": {"lr": 0.1},
        "seed": seed,
        "status": "ok",
        "reason": "",
        "stopped_at": None,
        "steps": len(loss) * (stride or 1),
        "seconds": 1.0,
        "loss": loss,
        "lr": [0.1] * len(loss),
        "epochs": [],
        "metrics": {"final_loss": loss[-1], "best_loss": min(loss)},
    }
    if stride is not None:
        record["series"] = {"file": f"series/{run_id}.npz", "stride": stride, "steps": 0}
        record["series"]["steps"] = record["steps"]
    return record


def test_seeds_with_different_strides_are_averaged_by_step():
    """A group's mean lines its seeds up by step, not by index, when their strides differ."""
    loss_a = list(np.linspace(2.0, 1.0, 100))  # stride 2: steps 1..199
    loss_b = list(np.linspace(2.0, 1.0, 50))  # stride 4: steps 1..197
    problem = {"kind": "mlp", "name": "test", "traits": ["data"], "description": ""}
    document = {
        "runs": [_data_run("a", 0, loss_a, 2), _data_run("b", 1, loss_b, 4)],
        "problem": problem,
    }
    fig = figures.loss_figure(document)
    mean = max(fig.axes[0].lines, key=lambda line: line.get_linewidth())
    x = np.asarray(mean.get_xdata())
    assert np.all(np.diff(x) == 4)
    assert x[-1] == 197


# --- short runs and races in memory -----------------------------------------------------------


def test_short_run_is_unchanged(tmp_path):
    document = run_experiment(_bowl(SHORT), tmp_path, progress=False, figures=False, workers=1)
    assert not (tmp_path / "series").exists()
    for index, run in enumerate(document["runs"]):
        assert "series" not in run
        history = _direct(_bowl(SHORT), index)
        assert run["loss"] == [float(v) for v in history.loss if math.isfinite(v)]
        assert run["lr"] == [float(v) for v in history.lr if math.isfinite(v)]
        assert run["path"] == [[float(x), float(y)] for x, y in history.path]
        whole = results.load_series(tmp_path, run["id"])
        assert whole["loss"].tolist() == run["loss"]
        assert results.load_epochs(tmp_path, run["id"]) == run["epochs"]
        assert whole["path"].shape == (len(run["path"]), 2)


def test_race_without_out_dir_returns_the_whole_series():
    runs = race(_bowl(3 * INLINE), progress=False)
    for run in runs:
        assert "series" not in run
        assert len(run["loss"]) == run["steps"] == 3 * INLINE
        assert len(run["path"]) == run["steps"] + 1
        assert len(run["epochs"]) == run["steps"]
        assert isinstance(run["loss"], list)


def test_a_stored_record_is_left_as_it_is(long_race, tmp_path):
    document, _ = long_race
    run = document["runs"][0]
    assert results.store_series(run, tmp_path) == run
    assert not (tmp_path / "series").exists()


# --- hostile input -------------------------------------------------------------------------


def test_load_series_names_the_runs_there_are(long_race):
    _, out = long_race
    with pytest.raises(KeyError, match=r"no run 'nope'.*'sgd-seed0'"):
        results.load_series(out, "nope")


@pytest.mark.parametrize("file", ["../outside.npz", "/etc/passwd", "", 3])
def test_a_series_file_outside_the_report_is_refused(long_race, tmp_path, file):
    document, _ = long_race
    run = {**document["runs"][0], "series": {"file": file, "stride": 2, "steps": LONG}}
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "results.json").write_text(json.dumps({"runs": [run]}))
    with pytest.raises(ValueError, match="series file"):
        results.load_series(tmp_path / "report", run["id"])


@pytest.mark.parametrize("run_id", ["../x", "a/b", "x\n", "", "a b"])
def test_a_bad_run_id_is_refused_before_writing(tmp_path, run_id):
    record = {"id": run_id, "steps": 2 * INLINE, "loss": np.zeros(2 * INLINE)}
    with pytest.raises(ValueError, match="run id must be letters, digits"):
        results.store_series(record, tmp_path)
    assert not any(tmp_path.iterdir())


def test_a_run_id_in_any_script_is_a_file_name(tmp_path):
    record = {"id": "모멘텀-seed0", "steps": 2 * INLINE, "loss": np.zeros(2 * INLINE)}
    stored = results.store_series(record, tmp_path)
    assert stored["series"]["file"] == "series/모멘텀-seed0.npz"
    assert (tmp_path / "series" / "모멘텀-seed0.npz").is_file()


@pytest.mark.parametrize(("stride", "expected"), [(None, 4), (10, 31)])
def test_steps_to_target_count_steps_not_inline_values(stride, expected):
    from gdlab.averages import ewma
    from gdlab.race import comparison

    # comparison's bias-corrected EWMA of a falling series is lowest at its 4th value
    run = _data_run("a", 0, [4.0, 3.0, 2.0, 1.0], stride)
    target, rows = comparison([run], {})
    assert target == ewma([4.0, 3.0, 2.0, 1.0], 0.9, bias_correction=True)[-1]
    assert rows[0]["steps_to_target"] == expected


def test_steps_to_target_smooths_with_bias_correction():
    """The EWMA started from 0, so a slowly falling loss was 'at the target' at step 1:
    its first smoothed value, 0.1 × loss, was its lowest."""
    from gdlab.race import comparison

    losses = [6.4, 6.3, 6.2, 6.1, 6.0]
    target, rows = comparison([_data_run("a", 0, losses, None)], {})
    assert 6.0 < target < 6.4
    assert rows[0]["steps_to_target"] == 5

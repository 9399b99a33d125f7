"""gdlab.results and gdlab._io used as a hostile user would: each test pins a fixed bug.

NaN from NumPy, records JSON cannot hold, ids that are one file name on macOS,
damaged results.json, series and checkpoint files, long names, a lock file that
is a link, a report that appears while waiting for the lock, two runs in one
second, a tree of reports without its ``latest``, a failed first run, a loop of
links.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from gdlab import _io, results
from gdlab._io import OutputError


def strict_json(path: Path) -> dict:
    """``path`` read as standard JSON: ``NaN``, ``Infinity`` are errors."""

    def refuse(name: str) -> None:
        raise AssertionError(f"{path} holds {name}: not JSON")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


def writer(where: Path) -> results.ResultsWriter:
    return results.ResultsWriter(where, {"experiment": "hostile"})


BIG = 2 * results.INLINE_PARAMS  # parameters that go to params/<id>.npz


# --------------------------------------------------------------------------- plain data, NaN


def test_plain_turns_numpy_nan_and_inf_into_none_as_it_does_python_floats():
    assert results.plain(float("nan")) is None
    assert results.plain(np.float64("nan")) is None
    assert results.plain(np.float32("-inf")) is None
    assert results.plain(np.array([1.0, np.inf, np.nan])) == [1.0, None, None]
    assert results.plain(np.array(np.nan)) is None
    assert results.plain({"a": np.bool_(True), "b": np.array([True, False])}) == {
        "a": True,
        "b": [True, False],
    }
    assert results.plain(np.array([1, 2], dtype=np.int8)) == [1, 2]
    assert results.plain(np.array([np.nan, "x"], dtype=object)) == [None, "x"]


def test_a_numpy_nan_metric_is_written_as_null_and_the_writer_goes_on(tmp_path):
    w = writer(tmp_path / "r")
    w.add({"id": "a", "loss": [1.0], "metrics": {"final_loss": np.float64("nan")}})
    w.add({"id": "b", "loss": [1.0], "metrics": {"final_loss": np.float64(0.5)}})
    w.finish()
    document = strict_json(tmp_path / "r" / "results.json")
    assert document["status"] == "complete"
    assert [r["metrics"]["final_loss"] for r in document["runs"]] == [None, 0.5]


def test_a_header_with_numpy_values_is_written(tmp_path):
    header = {
        "experiment": "x",
        "changes": [np.float32(1.5)],
        "config": {"lr": np.float64("nan"), "steps": np.int64(3)},
    }
    results.ResultsWriter(tmp_path / "r", header).finish()
    document = strict_json(tmp_path / "r" / "results.json")
    assert document["changes"] == [1.5]
    assert document["config"] == {"lr": None, "steps": 3}


def test_a_record_json_cannot_hold_is_refused_naming_it_and_changes_nothing(tmp_path):
    out = tmp_path / "r"
    w = writer(out)
    bad = {"id": "bad", "seed": Path("seeds"), "final_params": {"W": np.ones(BIG)}}
    with pytest.raises(TypeError) as info:
        w.add(bad)
    message = str(info.value)
    assert str(out / "results.json") in message
    assert "['runs'][0]['seed']" in message
    assert "PosixPath('seeds')" in message
    assert w.runs == []
    assert strict_json(out / "results.json")["runs"] == []
    assert not (out / "params" / "bad.npz").exists()  # its parameters are not left behind
    w.add({"id": "good", "seed": 0})  # the writer is not stuck on the bad record
    w.finish()
    document = strict_json(out / "results.json")
    assert [r["id"] for r in document["runs"]] == ["good"]
    assert document["status"] == "complete"
    assert (out / "results.csv").read_text().count("\n") == 2


def test_finish_refuses_a_status_the_schema_does_not_know(tmp_path):
    w = writer(tmp_path / "r")
    with pytest.raises(ValueError, match=r"status must be 'complete' or 'interrupted'; got 'done'"):
        w.finish("done")
    assert strict_json(tmp_path / "r" / "results.json")["status"] == "interrupted"


def test_csv_of_a_run_whose_metrics_are_null():
    text = results.csv_text([{"id": "a", "status": "failed", "metrics": None}])
    assert text.splitlines()[1].startswith("a,")


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Adam-seed0", "adam-seed0"),
        (unicodedata.normalize("NFC", "모멘텀"), unicodedata.normalize("NFD", "모멘텀")),
    ],
    ids=["case", "unicode-form"],
)
def test_ids_that_are_one_file_name_on_macos_are_refused(tmp_path, first, second):
    w = writer(tmp_path / "r")
    w.add({"id": first, "final_params": {"W": np.ones(BIG)}})
    with pytest.raises(ValueError, match="differ only in case or Unicode form"):
        w.add({"id": second, "final_params": {"W": np.zeros(BIG)}})
    assert [r["id"] for r in w.runs] == [first]
    assert sorted(p.name for p in (tmp_path / "r" / "params").iterdir()) == [f"{first}.npz"]


@pytest.mark.parametrize("name", ["a" * 250, "모" * 80 + ".npz"], ids=["ascii", "korean"])
def test_atomic_write_writes_every_legal_file_name(tmp_path, name):
    assert len(name.encode()) <= 255
    path = _io.atomic_write(tmp_path / name, lambda fh: fh.write(b"x"))
    assert path.read_bytes() == b"x"
    assert os.listdir(tmp_path) == [name]


def test_a_run_id_near_the_file_name_limit_stores_its_parameters(tmp_path):
    run_id = "r" * 240
    w = writer(tmp_path / "r")
    w.add({"id": run_id, "final_params": {"W": np.ones(BIG)}})
    assert (tmp_path / "r" / "params" / f"{run_id}.npz").is_file()


# --------------------------------------------------------------------------- JSON files


def test_write_json_refuses_nan_naming_the_key_and_writes_nothing(tmp_path):
    path = tmp_path / "tune.json"
    with pytest.raises(ValueError, match="JSON holds finite numbers only") as info:
        _io.write_json(path, {"configurations": {"adam": {"mean": float("inf")}}})
    assert str(info.value) == (
        f"{path}: ['configurations']['adam']['mean'] is inf; JSON holds finite numbers only"
    )
    assert not path.exists()
    _io.write_json(path, {"mean": 1.0})
    assert strict_json(path) == {"mean": 1.0}


@pytest.mark.parametrize("text", ['{"runs": [', "\udcff", ""], ids=["truncated", "binary", "empty"])
def test_a_damaged_results_json_is_named(tmp_path, text):
    (tmp_path / "results.json").write_bytes(text.encode("utf-8", "surrogateescape"))
    for load in (results.load_series, results.load_epochs):
        with pytest.raises(ValueError, match=f"^{tmp_path / 'results.json'} is not a gdlab"):
            load(tmp_path, "adam-seed0")


# --------------------------------------------------------------------------- series files

#: Long runs made short: a run of more than SERIES_INLINE steps keeps SERIES_POINTS inline.
INLINE, POINTS = 50, 10
STEPS = INLINE + 1


@pytest.fixture
def short_long_runs(monkeypatch):
    monkeypatch.setattr(results, "SERIES_INLINE", INLINE)
    monkeypatch.setattr(results, "SERIES_POINTS", POINTS)


@pytest.fixture(scope="module")
def long_report(tmp_path_factory) -> Path:
    """A report with one run of more than SERIES_INLINE steps and evaluations."""
    out = tmp_path_factory.mktemp("long") / "r"
    epochs = [{"epoch": i, "step": i, "train_loss": 1.0 / (i + 1)} for i in range(1, STEPS + 1)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(results, "SERIES_INLINE", INLINE)
        patch.setattr(results, "SERIES_POINTS", POINTS)
        w = writer(out)
        w.add(
            {
                "id": "a",
                "steps": STEPS,
                "loss": np.linspace(2.0, 1.0, STEPS),
                "lr": np.full(STEPS, 0.1),
                "path": np.zeros((STEPS + 1, 2)),
                "epochs": epochs,
            }
        )
        w.finish()
    assert (out / "series" / "a.npz").is_file()
    return out


def _damage(npz: Path, how: str) -> None:
    if how == "truncated":
        npz.write_bytes(npz.read_bytes()[: npz.stat().st_size // 2])
    elif how == "empty":
        npz.write_bytes(b"")
    elif how == "one-array":
        with npz.open("wb") as fh:
            np.save(fh, np.ones(3))
    elif how == "no-lr":
        with np.load(npz) as data:
            kept = {k: data[k] for k in data.files if k != "lr"}
        with npz.open("wb") as fh:
            np.savez(fh, **kept)
    elif how == "odd-path":
        with np.load(npz) as data:
            kept = {k: data[k] for k in data.files}
        kept["path"] = np.zeros(5)
        with npz.open("wb") as fh:
            np.savez(fh, **kept)
    elif how == "short-column":
        with np.load(npz) as data:
            kept = {k: data[k] for k in data.files}
        kept["epochs.train_loss"] = kept["epochs.train_loss"][:-1]
        with npz.open("wb") as fh:
            np.savez(fh, **kept)


@pytest.mark.parametrize(
    ("how", "loads"),
    [
        ("truncated", "both"),
        ("empty", "both"),
        ("one-array", "both"),
        ("no-lr", "series"),
        ("odd-path", "series"),
        ("short-column", "epochs"),
    ],
)
def test_a_damaged_series_file_is_named(long_report, tmp_path, how, loads):
    report = tmp_path / "r"
    shutil.copytree(long_report, report)
    npz = report / "series" / "a.npz"
    assert results.load_series(report, "a")["loss"].shape == (STEPS,)
    assert len(results.load_epochs(report, "a")) == STEPS
    _damage(npz, how)
    chosen = {"series": [results.load_series], "epochs": [results.load_epochs]}
    for load in chosen.get(loads, [results.load_series, results.load_epochs]):
        with pytest.raises(ValueError, match=f"^{npz} is not a gdlab series file"):
            load(report, "a")


def test_store_series_takes_a_numpy_integer_step_count(tmp_path, short_long_runs):
    record = {"id": "a", "steps": np.int64(STEPS), "loss": np.ones(STEPS)}
    stored = results.store_series(record, tmp_path)
    assert stored["series"] == {"file": "series/a.npz", "stride": 6, "steps": STEPS}
    assert type(stored["series"]["steps"]) is int
    assert len(stored["loss"]) <= POINTS


def test_a_long_run_with_text_in_an_evaluation_is_refused_naming_it(tmp_path, short_long_runs):
    epochs = [{"epoch": i, "note": "warm-up" if i == 5 else 1.0} for i in range(STEPS + 1)]
    record = {"id": "a", "steps": STEPS, "loss": np.ones(STEPS), "epochs": epochs}
    with pytest.raises(ValueError, match=r"^run 'a': epochs\[5\]\['note'\] is 'warm-up'"):
        results.store_series(record, tmp_path)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- checkpoints


@pytest.mark.parametrize("how", ["truncated", "empty", "one-array"])
def test_a_damaged_checkpoint_is_named(tmp_path, how):
    path = _io.save_tree(tmp_path / "state.npz", {"t": 3, "m": {"W": np.ones(50)}})
    _damage(path, how)
    with pytest.raises(ValueError, match=f"^{path} is not a gdlab checkpoint"):
        _io.load_tree(path)


def test_save_tree_refuses_what_load_tree_could_not_read(tmp_path):
    path = tmp_path / "state.npz"
    with pytest.raises(ValueError, match=f"^{path}: cannot save an array of Python objects"):
        _io.save_tree(path, {"m": np.array([1, "x", None], dtype=object)})
    assert not path.exists()


# --------------------------------------------------------------------------- the lock


def test_a_lock_file_that_is_a_link_is_not_followed(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "notes.txt"
    victim.write_text("keep me")
    os.symlink(victim, out / ".gdlab.lock")
    with (
        pytest.raises(_io.OutputError, match="is a symbolic link, not a gdlab lock file"),
        _io.exclusive(out),
    ):
        pytest.fail("locked through a link")
    assert victim.read_text() == "keep me"


def test_a_file_system_without_locks_is_named(tmp_path, monkeypatch):
    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(_io.fcntl, "flock", no_locks)
    out = tmp_path / "sweep.jsonl"
    with pytest.raises(OSError, match="No locks available") as info, _io.exclusive(out):
        pytest.fail("locked without a lock")
    assert info.value.errno == errno.ENOLCK
    assert info.value.filename == str(out)


# --------------------------------------------------------------------------- report directories


def _report(where: Path, text: str) -> None:
    where.mkdir(parents=True, exist_ok=True)
    (where / "results.json").write_text(text)


def _report_and_stop(where: Path, text: str) -> None:
    """A run that wrote its first results, then was stopped (Ctrl-C)."""
    _report(where, text)
    raise KeyboardInterrupt


def test_a_report_written_while_waiting_for_the_lock_is_not_replaced(tmp_path, monkeypatch):
    out = tmp_path / "out"
    locking = _io.exclusive

    def another_writer_first(path, **kwargs):
        _report(Path(path), "the other writer's")  # finished between our check and our lock
        return locking(path, **kwargs)

    monkeypatch.setattr(_io, "exclusive", another_writer_first)
    refused = pytest.raises(OutputError, match="already holds a report; add --force")
    with refused, results.output(tmp_path / "root", out=out) as staged:
        _report(staged, "ours")
    assert (out / "results.json").read_text() == "the other writer's"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no staging directory left


def test_two_runs_with_one_stamp_keep_both_reports(tmp_path, monkeypatch):
    stamps = iter(["20261201-120000-abcd", "20261201-120000-abcd", "20261201-120000-ef01"])
    monkeypatch.setattr(results, "_stamp", lambda: next(stamps))
    root = tmp_path / "gdlab-report" / "bowl"
    for text in ("first", "second"):
        with results.output(root) as staged:
            _report(staged, text)
    assert (root / "20261201-120000-abcd" / "results.json").read_text() == "first"
    assert (root / "20261201-120000-ef01" / "results.json").read_text() == "second"
    assert (root / "latest").resolve() == (root / "20261201-120000-ef01").resolve()


def test_a_latest_that_is_not_a_link_is_refused_before_running(tmp_path):
    root = tmp_path / "gdlab-report" / "bowl"
    _report(root / "latest", "an old report, written with --out .../latest")
    refused = pytest.raises(OutputError, match=f"^{root / 'latest'} is a directory, not the link")
    with refused, results.output(root):
        pytest.fail("ran although latest would stay on the old report")
    assert sorted(p.name for p in root.iterdir()) == ["latest"]


def test_force_never_replaces_a_tree_of_reports_without_its_latest_link(tmp_path):
    tree = tmp_path / "gdlab-report" / "bowl"
    _report(tree / "20261130-214056-3bc1", "kept")
    _report(tree / "20261130-215000-0a0b", "kept too")
    with pytest.raises(OutputError, match=r"holds gdlab reports \(20261130-214056-3bc1, "):
        results.checked_out(tree, force=True)
    with pytest.raises(OutputError), results.output(tmp_path / "root", out=tree, force=True):
        pytest.fail("a tree of reports was about to be replaced")
    assert (tree / "20261130-214056-3bc1" / "results.json").read_text() == "kept"


def test_a_first_run_that_fails_before_writing_leaves_no_directory(tmp_path):
    out = tmp_path / "new" / "report"
    with pytest.raises(KeyboardInterrupt), results.output(tmp_path / "root", out=out):
        raise KeyboardInterrupt
    assert not (tmp_path / "new").exists()
    root = tmp_path / "root"
    with pytest.raises(KeyboardInterrupt), results.output(root):
        raise KeyboardInterrupt
    assert not root.exists() or not any(root.iterdir())
    # one that wrote something (its finished runs) keeps it there
    with pytest.raises(KeyboardInterrupt), results.output(root, out=out) as staged:
        _report_and_stop(staged, "finished runs")
    assert (out / "results.json").read_text() == "finished runs"


def test_an_out_that_is_a_loop_of_links_is_an_output_error(tmp_path):
    loop = tmp_path / "loop"
    os.symlink(loop.name, loop)
    with pytest.raises(OutputError, match=f"^{loop} cannot be an output directory"):
        results.checked_out(loop)


def test_the_schema_describes_a_linear_regressions_loss_surface(tmp_path):
    from gdlab import experiments, race
    from gdlab.report.schema import validate

    experiment = experiments.builtin("boston").merge_training(steps=3)
    document = race.run_experiment(experiment, tmp_path / "r", progress=False, figures=False)
    surface = document["problem"]["surface"]
    assert surface["kind"] == "quadratic"
    assert len(surface["minimum"]) == 2
    validate(document)
    broken = json.loads(json.dumps(document))
    broken["problem"]["surface"]["A"] = [[1.0]]  # not 2 × 2
    with pytest.raises(ValueError, match=r"\$\.problem\.surface\.A"):
        validate(broken)

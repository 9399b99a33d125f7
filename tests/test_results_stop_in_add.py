"""A stop (Ctrl-C, SIGTERM) that lands while :meth:`gdlab.results.ResultsWriter.add`
writes its files: the run is wholly recorded (results.json, results.csv, its files,
``runs``) once the stop's writes are done, or wholly absent; never thrown away
after it was written.

The stop is made to land at one exact place, with no timing: a write of
:func:`gdlab._io.atomic_write` is done, then the stop raises, as a signal that
arrives during ``os.replace`` does (its handler runs when the call returns).
"""

from __future__ import annotations

import csv
import json
import signal
from pathlib import Path

import numpy as np
import pytest

from cli_run import BOWL, gdlab
from gdlab import _io, cli, results


def stop_at(monkeypatch, name: str, *, after: bool = True, stop=None, holding: int = 1) -> list:
    """Make the first write of file ``name`` (its base name) that comes while the writer
    holds ``holding`` runs in memory end in a stop: raised after the file is in place
    (``after``), or before anything is written. ``stop()`` raises it (by default a
    KeyboardInterrupt). Returns the list the stops are counted in."""
    real, fired = _io.atomic_write, []

    def atomic_write(path, write):
        due = Path(path).name == name and not fired and _held[0] >= holding
        if due and not after:
            fired.append(path)
            (stop or _ctrl_c)()
        written = real(path, write)
        if due:
            fired.append(path)
            (stop or _ctrl_c)()
        return written

    monkeypatch.setattr(_io, "atomic_write", atomic_write)
    return fired


#: How many runs the writer being tested holds (set by :func:`counting`).
_held = [0]


def _ctrl_c() -> None:
    raise KeyboardInterrupt


@pytest.fixture(autouse=True)
def counting(monkeypatch):
    """Count, in :data:`_held`, the runs of the document a writer writes."""
    real = results.csv_text

    def csv_text(runs):
        _held[0] = len(runs)
        return real(runs)

    _held[0] = 0
    monkeypatch.setattr(results, "csv_text", csv_text)


def on_disk(where: Path) -> tuple[list[str], list[str], str]:
    """The run ids of ``where``'s results.json and results.csv, and its status."""
    document = json.loads((where / "results.json").read_text(encoding="utf-8"))
    with (where / "results.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [r["id"] for r in document["runs"]], [r["id"] for r in rows], document["status"]


def record(run_id: str, steps: int = 3, **extra) -> dict:
    return {"id": run_id, "steps": steps, "loss": [1.0] * (steps + 1), **extra}


# --------------------------------------------------------------------------- the writer


@pytest.mark.parametrize(
    ("name", "after"),
    [
        ("results.json", False),  # before results.json holds it
        ("results.json", True),  # results.json holds it, results.csv not yet
        ("results.csv", False),
        ("results.csv", True),  # both hold it: add had only its bookkeeping left
    ],
)
@pytest.mark.parametrize("kind", [KeyboardInterrupt, results.Terminated])
def test_a_stop_while_a_run_is_written_keeps_it_for_finish(
    tmp_path, monkeypatch, name, after, kind
):
    """A stop after results.json was rewritten with the run, before results.csv was,
    threw the run away: finish("interrupted") then wrote results.json without it."""
    writer = results.ResultsWriter(tmp_path, {"experiment": "stopped"})
    writer.add(record("first"))

    def stop() -> None:
        raise kind

    fired = stop_at(monkeypatch, name, after=after, stop=stop, holding=2)
    with pytest.raises(kind):
        writer.add(record("second", final_params={"W": np.ones(2 * results.INLINE_PARAMS)}))
    assert fired
    assert [r["id"] for r in writer.runs] == ["first", "second"]
    writer.finish("interrupted")
    assert on_disk(tmp_path) == (["first", "second"], ["first", "second"], "interrupted")
    assert sorted(p.name for p in (tmp_path / "params").iterdir()) == ["second.npz"]
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


def test_the_next_add_after_a_kept_run_writes_both(tmp_path, monkeypatch):
    """The run kept in memory is written with the next one (a race that hands on the
    runs finished after the stop's)."""
    writer = results.ResultsWriter(tmp_path, {"experiment": "stopped"})
    stop_at(monkeypatch, "results.csv", after=False)
    with pytest.raises(KeyboardInterrupt):
        writer.add(record("first"))
    writer.add(record("second"))
    assert on_disk(tmp_path) == (["first", "second"], ["first", "second"], "interrupted")


def test_a_stop_while_its_series_file_is_written_leaves_no_trace_of_the_run(tmp_path, monkeypatch):
    """Before results.json names the run its series file is not the report's: a stop
    there leaves the run wholly absent, its file removed."""
    writer = results.ResultsWriter(tmp_path, {"experiment": "stopped"})
    steps = results.SERIES_INLINE + 1
    stop_at(monkeypatch, "long.npz", holding=0)
    with pytest.raises(KeyboardInterrupt):
        writer.add(record("long", steps=steps))
    assert writer.runs == []
    writer.finish("interrupted")
    assert on_disk(tmp_path) == ([], [], "interrupted")
    assert not (tmp_path / "series" / "long.npz").exists()
    writer.add(record("long", steps=steps))  # and the id is free again
    assert on_disk(tmp_path)[0] == ["long"]


def test_an_error_while_a_run_is_written_still_changes_nothing(tmp_path, monkeypatch):
    """What is not a stop (a full disk) leaves the run out, as before: add changes
    nothing when it fails."""
    writer = results.ResultsWriter(tmp_path, {"experiment": "full"})

    def full() -> None:
        raise OSError(28, "No space left on device")

    stop_at(monkeypatch, "results.json", after=False, stop=full)
    with pytest.raises(OSError, match="No space"):
        writer.add(record("big", final_params={"W": np.ones(2 * results.INLINE_PARAMS)}))
    assert writer.runs == []
    assert not (tmp_path / "params" / "big.npz").exists()
    assert on_disk(tmp_path) == ([], [], "interrupted")


# --------------------------------------------------------------------------- the command


def _the_signal() -> None:
    """SIGINT as it lands: the handler the command installed, called."""
    handler = signal.getsignal(signal.SIGINT)
    assert callable(handler)
    handler(signal.SIGINT, None)


def test_ctrl_c_just_as_the_first_run_is_written_keeps_it_and_says_so(cwd, capsys, monkeypatch):
    """It said "no run had finished (nothing was written)" and left nothing, though
    results.json held the run (the signal landed in results.csv's os.replace)."""
    fired = stop_at(monkeypatch, "results.csv", stop=_the_signal)
    code, _, err = gdlab([*BOWL, "--out", "R"], capsys)
    assert fired
    assert code == cli.EXIT_INTERRUPTED
    assert err == "gdlab: interrupted; the finished runs are in R\n"
    assert on_disk(Path("R")) == (["sgd-seed0"], ["sgd-seed0"], "interrupted")


@pytest.mark.parametrize("after", [False, True])
def test_an_error_once_results_json_names_the_run_takes_it_out_again(tmp_path, monkeypatch, after):
    """A full disk that failed results.csv's write after results.json was rewritten with
    the run left results.json naming a run whose files add had removed."""
    writer = results.ResultsWriter(tmp_path, {"experiment": "full"})
    writer.add(record("first"))

    def full() -> None:
        raise OSError(28, "No space left on device")

    fired = stop_at(monkeypatch, "results.csv", after=after, stop=full, holding=2)
    with pytest.raises(OSError, match="No space"):
        writer.add(record("big", final_params={"W": np.ones(2 * results.INLINE_PARAMS)}))
    assert fired
    assert [r["id"] for r in writer.runs] == ["first"]
    assert on_disk(tmp_path) == (["first"], ["first"], "interrupted")
    assert not (tmp_path / "params" / "big.npz").exists()

"""Export layouts: one file with a ``kind`` column, folders, refusing to overwrite, big runs."""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from storage import Store


def small_run(store: Store) -> str:
    run_id = store.create_run({"model": "tiny", "total_steps": 3}, name="tiny")
    with store.writer(run_id) as writer:
        for step in range(3):
            writer.log_step(step, epoch=0, lr=0.1 * (step + 1), loss=2.0 - step)
        writer.log_fits(2, [("mean", 0.1, 0.2, 0.3, 4)])
    return run_id


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_one_file_export_is_one_table_with_a_kind_column(store, tmp_path, suffix):
    run_id = small_run(store)
    out = store.export(run_id, out=tmp_path / f"run.{suffix}")  # the format from the suffix
    assert out == tmp_path / f"run.{suffix}" and out.is_file()
    frame = pd.read_parquet(out) if suffix == "parquet" else pd.read_csv(out)
    assert frame["kind"].tolist()[:4] == ["run", "steps", "steps", "steps"]
    steps = frame[frame["kind"] == "steps"]
    assert steps["lr"].tolist() == pytest.approx([0.1, 0.2, 0.3])
    assert (steps["run_id"] == run_id).all()
    fits = frame[frame["kind"] == "fits"]
    assert fits["mu"].tolist() == pytest.approx([0.1]) and fits["site"].tolist() == ["mean"]
    run = json.loads(frame[frame["kind"] == "run"]["run_json"].iloc[0])
    assert run["id"] == run_id and run["config"] == {"model": "tiny", "total_steps": 3}


def test_run_ids_that_read_as_numbers_are_drawn_again(store, tmp_path, monkeypatch):
    # "148e1124" reads as inf and "12345678" as an int in pandas' CSV reader; a run must
    # never get such an id, or its exported CSV loses the id.
    draws = iter([bytes.fromhex("148e1124"), bytes.fromhex("12345678"), bytes.fromhex("0a1b2c3d")])
    monkeypatch.setattr("storage.catalog.os.urandom", lambda n: next(draws))
    run_id = small_run(store)
    assert run_id == "0a1b2c3d"
    frame = pd.read_csv(store.export(run_id, out=tmp_path / "run.csv"))
    assert (frame["run_id"].dropna() == run_id).all()


def test_an_existing_output_is_kept_unless_forced(store, tmp_path):
    run_id = small_run(store)
    out = tmp_path / "run.parquet"
    out.write_text("precious")
    with pytest.raises(FileExistsError, match=r"run\.parquet already exists.*force=True"):
        store.export(run_id, out=out)
    assert out.read_text() == "precious"
    folder = tmp_path / "folder"
    store.export(run_id, "csv", folder)
    with pytest.raises(FileExistsError, match=r"run\.json"):
        store.export(run_id, "csv", folder)
    store.export(run_id, out=out, force=True)
    assert len(pd.read_parquet(out)) == 1 + 3 + 1


@pytest.mark.parametrize(
    ("out", "format", "message"),
    [
        ("run.csv", "parquet", r"ends in \.csv but the format is parquet"),
        ("run.xlsx", None, r"cannot tell what to write from the suffix"),
    ],
)
def test_an_output_path_that_contradicts_the_format_is_refused(
    store, tmp_path, out, format, message
):
    run_id = small_run(store)
    with pytest.raises(ValueError, match=message):
        store.export(run_id, format, tmp_path / out)
    assert not (tmp_path / out).exists()


def test_a_million_row_run_is_written_by_duckdb_not_through_python(store, tmp_path):
    n, chunk = 1_000_000, 100_000
    run_id = store.create_run({"model": "tiny"}, name="big")
    for start in range(0, n, chunk):  # in chunks, to keep this test's own Arrow peak small
        steps = np.arange(start, start + chunk, dtype=np.int64)
        store.append_rows(
            run_id,
            "steps",
            pa.table(
                {
                    "step": steps,
                    "epoch": steps / 1000.0,
                    "lr": np.full(chunk, 0.1),
                    "loss": np.ones(chunk),
                    "mean_temperature": np.full(chunk, 2.0),
                    "target_temperature": np.full(chunk, 2.0),
                }
            ),
        )
    pool = pa.default_memory_pool()
    arrow_peak_before = pool.max_memory()
    tracemalloc.start()
    try:
        for out in (tmp_path / "big.parquet", tmp_path / "big.csv"):
            store.export(run_id, out=out)
        python_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # The rows as a DataFrame or an Arrow table would take > 60 MB (NumPy memory is traced,
    # Arrow's is counted by its pool); DuckDB streams them from the run file to disk.
    assert python_peak < 16 * 2**20, f"export allocated {python_peak / 2**20:.0f} MiB in Python"
    assert pool.max_memory() - arrow_peak_before < 16 * 2**20
    assert pq.read_metadata(tmp_path / "big.parquet").num_rows == 1 + n
    last = pq.read_table(tmp_path / "big.parquet", columns=["kind", "step"]).slice(n, 1)
    assert last.to_pylist() == [{"kind": "steps", "step": n - 1}]
    with open(tmp_path / "big.csv") as f:
        assert sum(1 for _ in f) == 1 + 1 + n  # header, run row, steps

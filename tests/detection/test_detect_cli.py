import csv

import numpy as np
import pytest
from click.testing import CliRunner

from smartcompute.detection.cli import detect


def write_series(path, timestamps, values, header="timestamp,value"):
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [header] + [f"{t},{v}" for t, v in zip(timestamps, values)]
    path.write_text("\n".join(lines) + "\n")


def five_minute_stamps(points: int) -> list[str]:
    start = np.datetime64("2014-02-14T14:30:00")
    return [str(start + np.timedelta64(5 * i, "m")).replace("T", " ") for i in range(points)]


def read_rows(path):
    with path.open(newline="") as handle:
        return list(csv.reader(handle))


def run(*args):
    return CliRunner().invoke(detect, [str(arg) for arg in args])


def test_writes_one_scored_row_per_input_row_in_order(tmp_path):
    values = [str(20 + (i % 7)) for i in range(400)]
    write_series(tmp_path / "in" / "cpu.csv", five_minute_stamps(400), values)
    result = run(tmp_path / "in" / "cpu.csv", "--output-dir", tmp_path / "out")
    assert result.exit_code == 0, result.output
    rows = read_rows(tmp_path / "out" / "cpu.csv")
    assert rows[0] == ["timestamp", "value", "anomaly_score"]
    assert [row[1] for row in rows[1:]] == values
    assert rows[1][0] == "2014-02-14 14:30:00"
    assert all(0.0 <= float(row[2]) <= 1.0 for row in rows[1:])


def test_a_directory_is_searched_recursively_and_its_layout_mirrored(tmp_path):
    write_series(tmp_path / "in" / "a.csv", five_minute_stamps(5), range(5))
    write_series(tmp_path / "in" / "deep" / "er" / "b.csv", five_minute_stamps(5), range(5))
    result = run(tmp_path / "in", "--output-dir", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "a.csv").is_file()
    assert (tmp_path / "out" / "deep" / "er" / "b.csv").is_file()


@pytest.mark.parametrize(
    "stamps",
    [
        ["2014-02-14T14:30:00Z", "2014-02-14T14:35:00Z", "2014-02-14T14:40:00+00:00"],
        ["1392388200", "1392388500", "1392388800.5"],
    ],
    ids=["iso-8601", "epoch-seconds"],
)
def test_accepts_iso_8601_and_epoch_timestamps(tmp_path, stamps):
    write_series(tmp_path / "s.csv", stamps, [1, 2, 3])
    assert run(tmp_path / "s.csv", "--output-dir", tmp_path / "out").exit_code == 0


@pytest.mark.parametrize(
    "name, header, stamps, values, message",
    [
        ("missing.csv", "timestamp,reading", ["2014-01-01 00:00:00"], [1], "line 1: missing column value"),
        ("text.csv", "timestamp,value", five_minute_stamps(3), [1, "high", 3], "line 3: value 'high' is not a number"),
        ("empty.csv", "timestamp,value", [], [], "no data rows"),
        ("badtime.csv", "timestamp,value", ["yesterday"], [1], "line 2: timestamp 'yesterday'"),
    ],
)
def test_a_bad_file_gets_a_one_line_error_naming_file_and_row(tmp_path, name, header, stamps, values, message):
    write_series(tmp_path / name, stamps, values, header=header)
    result = run(tmp_path / name, "--output-dir", tmp_path / "out")
    assert result.exit_code != 0
    error_lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1
    assert name in error_lines[0] and message in error_lines[0]


@pytest.mark.parametrize(
    "stamps, message",
    [
        (
            ["2014-11-02 01:30:00", "2014-11-02 01:35:00", "2014-11-02 01:30:00", "2014-11-02 01:35:00"],
            "line 4: 1 row(s) are earlier than the row before",
        ),
        (
            ["2014-01-01 00:00:00", "2014-01-01 00:05:00", "2014-01-01 00:05:00"],
            "line 4: 1 row(s) repeat the previous row's timestamp",
        ),
    ],
    ids=["a row out of order", "a repeated timestamp"],
)
def test_rows_out_of_order_or_repeated_are_scored_in_order_with_one_warning_line(tmp_path, stamps, message):
    write_series(tmp_path / "s.csv", stamps, list(range(len(stamps))))
    result = CliRunner().invoke(detect, [str(tmp_path / "s.csv"), "--output-dir", str(tmp_path / "out")])
    assert result.exit_code == 0
    [warning] = result.stderr.splitlines()
    assert warning.startswith("warning: ") and "s.csv" in warning and message in warning
    rows = read_rows(tmp_path / "out" / "s.csv")
    assert [row[0] for row in rows[1:]] == stamps


def test_other_files_are_still_processed_when_one_is_bad(tmp_path):
    write_series(tmp_path / "in" / "bad.csv", five_minute_stamps(2), [1, "x"])
    write_series(tmp_path / "in" / "good.csv", five_minute_stamps(3), [1, 2, 3])
    result = run(tmp_path / "in", "--output-dir", tmp_path / "out")
    assert result.exit_code == 1
    assert (tmp_path / "out" / "good.csv").is_file()
    assert not (tmp_path / "out" / "bad.csv").exists()


def test_output_dir_is_required(tmp_path):
    write_series(tmp_path / "s.csv", five_minute_stamps(3), [1, 2, 3])
    assert run(tmp_path / "s.csv").exit_code == 2


def test_files_scored_side_by_side_get_the_scores_and_messages_of_one_at_a_time(tmp_path):
    rng = np.random.default_rng(3)
    for index in range(4):
        values = list(np.round(50 + rng.normal(0, 1, 600), 3))
        values[500] = 90.0
        write_series(tmp_path / "in" / f"m{index}.csv", five_minute_stamps(600), values)
    write_series(tmp_path / "in" / "late.csv", five_minute_stamps(3)[::-1], [1, 2, 3])
    alone = run(tmp_path / "in", "--output-dir", tmp_path / "alone", "--workers", 1)
    together = run(tmp_path / "in", "--output-dir", tmp_path / "together", "--workers", 3)
    assert alone.exit_code == together.exit_code == 0
    assert together.stderr.replace("together", "alone") == alone.stderr
    for index in range(4):
        name = f"m{index}.csv"
        assert read_rows(tmp_path / "together" / name) == read_rows(tmp_path / "alone" / name)
        assert float(read_rows(tmp_path / "alone" / name)[501][2]) >= 0.5


def test_a_directory_without_series_scores_nothing_and_succeeds(tmp_path):
    (tmp_path / "in").mkdir()
    result = run(tmp_path / "in", "--output-dir", tmp_path / "out")
    assert result.exit_code == 0, result.output

"""``bitcluster watch``: change points of a bulk Parquet file or of codes on stdin, printed one a line."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from bitcluster.bulk.batches import output_table
from bitcluster.cli.app import app
from test_change_detector import ALL, NO_NINE, coded_digits, digit_stream, model  # noqa: F401 (fixtures)

runner = CliRunner()


@pytest.fixture(scope="module")
def stream(coded_digits) -> np.ndarray:  # noqa: F811
    return digit_stream(coded_digits, [(ALL, 3000), (NO_NINE, 3000)])


def changes_printed(output: str) -> list[list[str]]:
    return [line.split("\t") for line in output.splitlines() if "\t" in line]


def test_watch_prints_the_change_of_a_bulk_parquet_file_with_its_row_id(tmp_path, stream):
    path = tmp_path / "codes.parquet"
    pq.write_table(output_table(np.array([f"img-{i}" for i in range(len(stream))]), stream,
                                np.zeros(len(stream))), path)
    result = runner.invoke(app, ["watch", str(path), "--signals", "frequencies", "--batch", "1000"])
    assert result.exit_code == 0, result.output
    [[position, signal, row_id]] = changes_printed(result.stdout)
    assert 3000 <= int(position) <= 3600 and signal == "frequencies" and row_id == f"img-{position}"
    assert "6000 codes, 1 changes" in result.stderr


def test_watch_reads_packed_codes_on_stdin(stream):
    result = runner.invoke(app, ["watch", "-", "--signals", "frequencies"], input=stream.tobytes())
    assert result.exit_code == 0, result.output
    [[position, signal]] = changes_printed(result.stdout)
    assert 3000 <= int(position) <= 3600 and signal == "frequencies"


@pytest.mark.parametrize("args, given, message", [
    (["-"], b"", "no codes"),
    (["-"], b"\x01\x02\x03", "codes 0-"),  # 1.5 codes of 2 bytes
    (["missing.parquet"], b"", "not a file"),
    (["-", "--signals", "colour"], b"", "--signals"),
])
def test_watch_refuses_bad_input_with_a_one_line_error(args, given, message):
    result = runner.invoke(app, ["watch", *args], input=given)
    assert result.exit_code == 2 and message in result.stderr, result.output

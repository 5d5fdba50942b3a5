"""The delivery error guide (seed 003 "ERROS INTEGRAÇÃO PORTAL DO CLIENTE") and the employee's
folder permission (issue 15 items 8 and 10)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.documents.error_guide import ENTRIES, negotiate
from tests.documents.support import (
    complete_task,
    deliveries,
    document,
    enable_portal,
    firm,
    portal_files,
    sandbox_call,
    task_completed,
)

ROOT = Path(__file__).resolve().parents[2]
# Every file whose code can put an error code on a delivery.
SOURCES = ("gateway/documents", "gateway/partners/client_portal.py", "gateway/partners/errors.py")


def codes_in_source() -> set[str]:
    """The error codes the delivery path can produce, read from the code that produces them."""
    found: set[str] = set()
    for source in SOURCES:
        path = ROOT / source
        for file in [path] if path.is_file() else sorted(path.glob("*.py")):
            if file.name == "error_guide.py":
                continue
            text = file.read_text()
            found |= set(re.findall(r'code="([a-z_]+)"', text))
            found |= set(re.findall(r'\b(?:DeliveryStatus\.(?:failed|skipped)), "([a-z_]+)"', text))
            found |= set(re.findall(r'_fail\(\s*ctx\.runtime, delivery_id, "([a-z_]+)"', text))
            found |= set(re.findall(r'error_code="([a-z_]+)"', text))
            mapping = re.search(r"_FALLBACK_CODES = \{([^}]*)\}", text)
            if mapping:
                found |= set(re.findall(r'"([a-z_]+)"', mapping.group(1)))
    # Conflicts and lookups the delivery resolves itself never end a delivery.
    return found - {"exists", "locked", "not_found", "file_not_found", "conflict", "partner_unavailable"}


def test_every_code_the_delivery_can_end_with_has_a_guide_entry() -> None:
    produced = codes_in_source()
    assert {"template_unmapped", "permission_denied", "portal_unchecked", "checksum_mismatch"} <= produced
    assert produced - set(ENTRIES) == set()
    for code, entry in ENTRIES.items():
        assert set(entry.texts) == {"pt-BR", "en"}, code
        assert all(t.title and t.meaning and t.fix and t.who for t in entry.texts.values()), code


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (None, "en"),
        ("pt-BR", "pt-BR"),
        ("pt", "pt-BR"),
        ("pt-PT;q=0.8, en;q=0.5", "pt-BR"),
        ("en-US,en;q=0.9,pt-BR;q=0.8", "en"),
        ("fr-CA, fr;q=0.9, pt;q=0.3", "pt-BR"),
        ("fr", "en"),
        ("pt;q=0, en;q=0.1", "en"),
        ("pt;q=abc", "en"),
    ],
)
def test_accept_language_negotiation(header: str | None, language: str) -> None:
    assert negotiate(header) == language


async def test_guide_lists_every_code_in_the_language_asked(client, tenants) -> None:
    t = await tenants.create()
    pt = await client.get("/v1/document-deliveries/error-codes", headers={**t.headers, "Accept-Language": "pt-BR"})
    assert pt.status_code == 200, pt.text
    assert pt.headers["content-language"] == "pt-BR" and "accept-language" in pt.headers["vary"].lower()
    body = pt.json()
    assert body["language"] == "pt-BR"
    assert [i["code"] for i in body["items"]] == list(ENTRIES)
    by_code = {i["code"]: i for i in body["items"]}
    assert by_code["template_unmapped"]["title"] == "Template sem pasta de destino"
    assert by_code["accounting_integration"]["status"] == "skipped"

    en = await client.get("/v1/document-deliveries/error-codes", headers={**t.headers, "Accept-Language": "en"})
    assert en.headers["content-language"] == "en"
    titles = {i["code"]: i["title"] for i in en.json()["items"]}
    assert titles["template_unmapped"] == "Template has no destination folder"
    one = await client.get("/v1/document-deliveries/error-codes/permission_denied", headers=t.headers)
    assert one.status_code == 200 and one.json()["code"] == "permission_denied"
    assert "administrator must grant" in one.json()["who"]
    missing = await client.get("/v1/document-deliveries/error-codes/nope", headers=t.headers)
    assert missing.status_code == 404


async def test_employee_without_folder_permission_fails_permission_denied_with_its_guide(
    client, tenants, runtime, worker, sandbox
) -> None:
    t = await tenants.create()
    await enable_portal(client, sandbox.url, t)
    # Ana may open only Contabilidade of client cli-7; Bruno has no grants (unrestricted).
    grants = {"folders": [["Contabilidade"]]}
    await sandbox_call("PUT", f"{sandbox.url}/portal/_grants/{firm(t)}/cli-7/Ana", json=grants)
    ana = task_completed([document("d1")], client_id="cli-7")
    await complete_task(runtime, t, ana)
    bruno = {**task_completed([document("d2", file_name="DAS Fevereiro.pdf")], client_id="cli-7", task_id="T-2")}
    bruno["employee"] = "Bruno"
    await complete_task(runtime, t, bruno)
    await worker()
    d1, d2 = await deliveries(runtime, t)
    assert (d1.status, d1.error_code, d1.attempts) == ("failed", "permission_denied", 1)
    assert "Ana" in (d1.error or "") and "Fiscal/DAS" in (d1.error or "")
    assert d2.status == "delivered"
    assert [f["name"] for f in await portal_files(sandbox.url, t, "cli-7")] == ["DAS Fevereiro.pdf"]

    # The failed delivery links to its guide entry, which says who must grant the permission.
    r = await client.get(f"/v1/document-deliveries/{d1.id}", headers=t.headers)
    link = r.json()["error_guide"]
    assert link == "/v1/document-deliveries/error-codes/permission_denied"
    entry = await client.get(link, headers={**t.headers, "Accept-Language": "pt-BR"})
    assert entry.json()["who"].startswith("O administrador do escritório no Portal do Cliente deve conceder")
    delivered = await client.get(f"/v1/document-deliveries/{d2.id}", headers=t.headers)
    assert delivered.json()["error_guide"] is None

    # Once the administrator grants Fiscal, a retry delivers it.
    grants = {"folders": [["Contabilidade"], ["Fiscal"]]}
    await sandbox_call("PUT", f"{sandbox.url}/portal/_grants/{firm(t)}/cli-7/Ana", json=grants)
    assert (await client.post(f"/v1/document-deliveries/{d1.id}/retry", headers=t.headers)).status_code == 202
    await worker()
    d1, _ = await deliveries(runtime, t)
    assert d1.status == "delivered"


async def test_non_ascii_employee_names_reach_the_portal(client, tenants, runtime, worker, sandbox) -> None:
    t = await tenants.create()
    await enable_portal(client, sandbox.url, t)
    await sandbox_call("PUT", f"{sandbox.url}/portal/_grants/{firm(t)}/cli-8/João", json={"folders": [["Pessoal"]]})
    payload = task_completed([document("d1")], client_id="cli-8")
    payload["employee"] = "João"
    await complete_task(runtime, t, payload)
    await worker()
    [d] = await deliveries(runtime, t)
    assert (d.status, d.error_code) == ("failed", "permission_denied")
    assert "João" in (d.error or "")

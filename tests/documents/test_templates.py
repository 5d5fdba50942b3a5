"""Templates, destination folders, department defaults, bulk assignment, model client, setting."""

from __future__ import annotations

from sqlalchemy import select

from gateway.documents.models import PortalIntegration
from tests.documents.support import enable_portal, firm


async def create(client, t, name: str, **body) -> dict:  # type: ignore[no-untyped-def]
    r = await client.post("/v1/document-templates", json={"name": name, **body}, headers=t.headers)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_template_crud_and_destination(client, tenants) -> None:
    t = await tenants.create()
    das = await create(client, t, "DAS Mensal", department="Fiscal")
    assert das["folder_path"] is None
    r = await client.patch(
        f"/v1/document-templates/{das['id']}", json={"folder_path": ["Fiscal", "DAS"]}, headers=t.headers
    )
    assert r.json()["folder_path"] == ["Fiscal", "DAS"]
    assert r.json()["department"] == "Fiscal"  # members not sent are untouched
    r = await client.get(f"/v1/document-templates/{das['id']}", headers=t.headers)
    assert (r.json()["name"], r.json()["folder_path"]) == ("DAS Mensal", ["Fiscal", "DAS"])
    r = await client.patch(f"/v1/document-templates/{das['id']}", json={"folder_path": None}, headers=t.headers)
    assert r.json()["folder_path"] is None
    r = await client.post("/v1/document-templates", json={"name": "DAS Mensal"}, headers=t.headers)
    assert r.status_code == 409
    r = await client.post(
        "/v1/document-templates", json={"name": "X", "folder_path": ["Fiscal/DAS"]}, headers=t.headers
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["pointer"].startswith("/folder_path")
    r = await client.delete(f"/v1/document-templates/{das['id']}", headers=t.headers)
    assert r.status_code == 204
    assert (await client.get(f"/v1/document-templates/{das['id']}", headers=t.headers)).status_code == 404


async def test_another_tenants_template_is_not_found(client, tenants) -> None:
    a, b = await tenants.create(), await tenants.create()
    das = await create(client, a, "DAS")
    for method, body in (("GET", None), ("PATCH", {"folder_path": ["X"]}), ("DELETE", None)):
        r = await client.request(method, f"/v1/document-templates/{das['id']}", json=body, headers=b.headers)
        assert r.status_code == 404, method
    r = await client.post(
        "/v1/document-templates/destinations",
        json={"template_ids": [das["id"]], "folder_path": ["X"]},
        headers=b.headers,
    )
    assert r.status_code == 422
    assert r.json()["errors"] == [{"pointer": "/template_ids/0", "detail": "no such template", "source": "body"}]
    assert (await client.get("/v1/document-templates", headers=b.headers)).json()["items"] == []


async def test_department_defaults_map_standard_templates_and_keep_choices(client, tenants) -> None:
    t = await tenants.create()
    await create(client, t, "DAS")  # exists, unmapped: gets the default
    await create(client, t, "Balancete", folder_path=["Contabilidade", "Meus Balancetes"])  # a choice: kept
    custom = await create(client, t, "Contrato Social")  # not standard: stays unmapped
    r = await client.post("/v1/document-templates/default-folders", json={}, headers=t.headers)
    assert r.status_code == 201, r.text
    assert r.json()["unmapped_templates"] == 1
    items = {
        i["name"]: i for i in (await client.get("/v1/document-templates?limit=100", headers=t.headers)).json()["items"]
    }
    assert items["DAS"]["folder_path"] == ["Fiscal", "DAS"]
    assert items["Resumo da Folha de Pagamento"]["folder_path"] == ["Pessoal", "Resumo Mensal"]
    assert items["Resumo da Folha de Pagamento"]["department"] == "Pessoal"
    assert items["Balancete"]["folder_path"] == ["Contabilidade", "Meus Balancetes"]
    assert items["Holerite"]["folder_path"] == ["Pessoal", "Holerites"]
    assert items["Guia de ICMS"]["folder_path"] == ["Fiscal", "Guias"]
    r = await client.get("/v1/document-templates?mapped=false", headers=t.headers)
    assert [i["id"] for i in r.json()["items"]] == [custom["id"]]
    r = await client.post("/v1/document-templates/default-folders", json={"overwrite": True}, headers=t.headers)
    assert r.json()["created"] == 0
    r = await client.get("/v1/document-templates?mapped=true&department=Contabilidade", headers=t.headers)
    by_name = {i["name"]: i["folder_path"] for i in r.json()["items"]}
    assert by_name["Balancete"] == ["Contabilidade", "Balancetes"]


async def test_bulk_destination_for_many_templates(client, tenants) -> None:
    t = await tenants.create()
    ids = [(await create(client, t, f"Balancete {n}"))["id"] for n in ("Mensal", "Trimestral", "Anual", "Analítico")]
    other = await create(client, t, "DAS")
    body = {"template_ids": ids, "folder_path": ["Contabilidade", "Balancetes"]}
    r = await client.post("/v1/document-templates/destinations", json=body, headers=t.headers)
    assert r.status_code == 201, r.text
    assert r.json() == {"updated": 4, "unmapped_templates": 1}
    r = await client.get("/v1/document-templates?mapped=false", headers=t.headers)
    assert [i["id"] for i in r.json()["items"]] == [other["id"]]


async def test_model_client_tree_gives_folder_names_only(client, tenants, sandbox) -> None:
    t = await tenants.create()
    r = await client.get("/v1/document-portal/clients/model-1/folders", headers=t.headers)
    assert r.status_code == 422  # no integration configured yet
    await enable_portal(client, sandbox.url, t, defaults=False)
    r = await client.get("/v1/document-portal/clients/model-1/folders", headers=t.headers)
    assert r.status_code == 200, r.text
    paths = [f["path"] for f in r.json()["folders"]]
    assert ["Contabilidade", "Balancetes"] in paths
    assert ["Pessoal", "Resumo Mensal"] in paths
    assert set(r.json()["folders"][0]) == {"path"}  # names only: no ids, no files of that client
    assert (await client.get("/v1/document-portal/clients/missing-9/folders", headers=t.headers)).status_code == 404
    ids = [(await create(client, t, f"Balancete {n}"))["id"] for n in range(4)]
    body = {"template_ids": ids, "folder_path": ["Contabilidade", "Balancetes"], "model_client_id": "model-1"}
    r = await client.post("/v1/document-templates/destinations", json=body, headers=t.headers)
    assert r.json()["updated"] == 4
    body["folder_path"] = ["Contabilidade", "Inventado"]
    r = await client.post("/v1/document-templates/destinations", json=body, headers=t.headers)
    assert r.status_code == 422
    assert r.json()["errors"][0]["pointer"] == "/folder_path"


async def test_enabling_reports_unmapped_and_never_returns_the_token(client, tenants, runtime, sandbox) -> None:
    t = await tenants.create()
    r = await client.get("/v1/document-portal/integration", headers=t.headers)
    assert r.json()["enabled"] is True  # on by default for a new firm, but refused until checked
    assert r.json()["base_url"] == f"{runtime.settings.sandbox_url}/portal"
    r = await client.put("/v1/document-portal/integration", json={"enabled": True}, headers=t.headers)
    assert r.status_code == 422
    assert r.json()["errors"][0]["pointer"] == "/token"
    for name in ("Contrato Social", "Alvará", "Certidão"):
        await create(client, t, name)
    body = {"enabled": True, "token": f"ptk_{firm(t)}", "base_url": f"{sandbox.url}/portal"}
    r = await client.put("/v1/document-portal/integration", json=body, headers=t.headers)
    assert r.status_code == 200
    assert r.json()["unmapped_templates"] == 3
    assert r.json()["token_set"] is True
    assert f"ptk_{firm(t)}" not in r.text
    r = await client.put(
        "/v1/document-portal/integration", json={"enabled": True, "apply_default_folders": True}, headers=t.headers
    )
    assert (r.json()["enabled"], r.json()["unmapped_templates"], r.json()["base_url"]) == (
        True,
        3,
        f"{sandbox.url}/portal",
    )
    async with runtime.db.sessionmaker() as session:
        row = (await session.scalars(select(PortalIntegration).where(PortalIntegration.tenant_id == t.tenant_id))).one()
    assert row.token_encrypted is not None
    assert f"ptk_{firm(t)}".encode() not in row.token_encrypted
    assert runtime.cipher.decrypt(row.token_encrypted) == {"token": f"ptk_{firm(t)}"}

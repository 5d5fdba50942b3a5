"""Sandbox control for tests and benchmarks (no firm token): client overrides, the file
listing across firms, reset, and a tiny content source standing in for the task system's
document store (task-completed events point at ``/portal/_content/{doc_id}``)."""

from __future__ import annotations

from litestar import Request, Response, delete, get, put
from litestar.datastructures import State

from sandbox.portal.routes import portal_store
from sandbox.portal.schemas import AdminFile, AdminFileList, Client, ClientSettings, EmployeeGrants, client_out
from sandbox.portal.store import ClientProfile, PortalError, default_profile


@put("/_clients/{client_id:str}", sync_to_thread=False)
def set_client(state: State, client_id: str, data: ClientSettings) -> Response[Client | None]:
    """Create, change, lock or (``exists: false``) remove a client, overriding the generated one."""
    store = portal_store(state)
    if not data.exists:
        store.profiles[client_id] = None
        return Response(None, status_code=204)
    generated = default_profile(client_id)
    name = data.name or (generated.name if generated else f"Cliente {client_id}")
    profile = ClientProfile(client_id, name, tuple(data.restricted_departments), data.locked, data.auto_view)
    store.profiles[client_id] = profile
    return Response(client_out(profile), status_code=200)


@put("/_grants/{firm:str}/{client_id:str}/{employee:str}", sync_to_thread=False)
def set_grants(state: State, firm: str, client_id: str, employee: str, data: EmployeeGrants) -> EmployeeGrants:
    """Restrict an employee of a firm to these folders of a client (the portal's per-folder
    permissions); an employee with no grants at all is unrestricted."""
    portal_store(state).grants[firm, client_id, employee] = tuple(tuple(p) for p in data.folders)
    return data


@get("/_files", sync_to_thread=False)
def all_files(state: State, client_id: str | None = None, firm: str | None = None) -> AdminFileList:
    items = [
        AdminFile(
            space.firm,
            space.profile.client_id,
            list(space.folders[f.folder_id].path),
            f.id,
            f.name,
            len(f.content),
            f.sha256,
            f.viewed,
            len(f.history),
            list(f.history),
        )
        for (space_firm, space_client), space in portal_store(state).spaces.items()
        if (client_id is None or space_client == client_id) and (firm is None or space_firm == firm)
        for f in space.files.values()
    ]
    return AdminFileList(items)


@delete("/_reset", sync_to_thread=False)
def reset(state: State) -> None:
    portal_store(state).reset()


@put("/_content/{doc_id:str}", status_code=204)
async def put_content(request: Request[object, object, State], doc_id: str) -> None:
    content_type = request.headers.get("content-type", "application/octet-stream")
    portal_store(request.app.state).content[doc_id] = (content_type, await request.body())


@get("/_content/{doc_id:str}", sync_to_thread=False)
def get_content(state: State, doc_id: str) -> Response[bytes]:
    stored = portal_store(state).content.get(doc_id)
    if stored is None:
        raise PortalError(404, "content_not_found", f"no document {doc_id!r}")
    return Response(stored[1], media_type=stored[0])


admin_handlers = [set_client, set_grants, all_files, reset, put_content, get_content]

"""Firm-facing API of the client portal: clients, folder trees, files and the "viewed" lock.

Authentication: ``Authorization: Bearer ptk_<firm>``; any token of that shape is a firm, and
each firm sees its own copy of every client's folders and files. Anything else answers 401.
"""

from __future__ import annotations

from urllib.parse import unquote

from litestar import Request, Response, get, post, put
from litestar.datastructures import State

from sandbox.portal.schemas import (
    Client,
    FileList,
    FileOut,
    Firm,
    FolderCreate,
    FolderList,
    FolderOut,
    client_out,
    file_out,
    folder_out,
)
from sandbox.portal.store import ClientSpace, PortalError, PortalStore

TOKEN_PREFIX = "ptk_"
CLIENT = "/clients/{client_id:str}"
FOLDER = CLIENT + "/folders/{folder_id:str}"
FILE = FOLDER + "/files/{file_id:str}"


def portal_store(state: State) -> PortalStore:
    # One store per sandbox app, so two servers in one process never share files.
    store: PortalStore = state.setdefault("portal", PortalStore())
    return store


def firm_from_token(request: Request[object, object, State]) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.startswith(TOKEN_PREFIX) or len(token) == len(TOKEN_PREFIX):
        raise PortalError(401, "unauthorized", "a bearer token ptk_<firm> is required")
    return token[len(TOKEN_PREFIX) :]


def employee_of(request: Request[object, object, State]) -> str | None:
    """The firm's employee acting (``X-Portal-Employee``); absent means the firm itself."""
    employee = request.headers.get("x-portal-employee")
    return None if employee is None else unquote(employee)


def space_for(request: Request[object, object, State], client_id: str) -> tuple[PortalStore, ClientSpace]:
    store = portal_store(request.app.state)
    return store, store.space(firm_from_token(request), client_id)


def upload_of(request: Request[object, object, State]) -> str:
    return request.headers.get("content-type", "application/octet-stream")


@get("/firm", sync_to_thread=False)
def get_firm(request: Request[object, object, State]) -> Firm:
    """Who the token belongs to: what a connection check calls."""
    return Firm(firm_from_token(request))


@get(CLIENT, sync_to_thread=False)
def get_client(request: Request[object, object, State], client_id: str) -> Client:
    firm_from_token(request)
    return client_out(portal_store(request.app.state).profile(client_id))


@get(CLIENT + "/folders", sync_to_thread=False)
def list_folders(request: Request[object, object, State], client_id: str) -> FolderList:
    _, space = space_for(request, client_id)
    return FolderList([folder_out(f) for f in space.folders.values()])


@post(CLIENT + "/folders", sync_to_thread=False)
def create_folder(request: Request[object, object, State], client_id: str, data: FolderCreate) -> Response[FolderOut]:
    """201 with the new folder, or 200 with the folder that already had this name."""
    store, space = space_for(request, client_id)
    folder, created = store.create_folder(space, data.parent_id, data.name, employee_of(request))
    return Response(folder_out(folder), status_code=201 if created else 200)


@get(FOLDER + "/files", sync_to_thread=False)
def list_files(
    request: Request[object, object, State], client_id: str, folder_id: str, name: str | None = None
) -> FileList:
    """All files of the folder, or with ``?name=N`` only N and its numbered copies ``N (k).ext``."""
    store, space = space_for(request, client_id)
    folder = store.folder(space, folder_id, employee_of(request))
    if name is not None:
        return FileList([file_out(f) for f in space.named(folder.id, name)])
    return FileList([file_out(space.files[i]) for i in space.in_folder.get(folder.id, [])])


@post(FOLDER + "/files")
async def create_file(request: Request[object, object, State], client_id: str, folder_id: str, name: str) -> FileOut:
    """Raw body, name in ``?name=``. 409 ``exists`` (with the holder in ``file``) if the name is taken."""
    body = await request.body()
    # Nothing awaits from here on: the name check and the insert happen as one step.
    store, space = space_for(request, client_id)
    if not name.strip() or "/" in name:
        raise PortalError(422, "invalid_name", "file names are non-empty and have no '/'")
    folder = store.folder(space, folder_id, employee_of(request))
    return file_out(store.create_file(space, folder, name, upload_of(request), body))


@put(FILE)
async def replace_file(
    request: Request[object, object, State], client_id: str, folder_id: str, file_id: str
) -> FileOut:
    """Raw body becomes the new version. 409 ``locked`` (with the file) once the client viewed it."""
    body = await request.body()
    store, space = space_for(request, client_id)
    stored = store.file(space, store.folder(space, folder_id, employee_of(request)), file_id)
    return file_out(store.replace_file(space, stored, upload_of(request), body))


@get(FILE + "/content", sync_to_thread=False)
def file_content(
    request: Request[object, object, State], client_id: str, folder_id: str, file_id: str
) -> Response[bytes]:
    store, space = space_for(request, client_id)
    stored = store.file(space, store.folder(space, folder_id, employee_of(request)), file_id)
    return Response(stored.content, media_type=stored.content_type)


@post(FILE + "/view", sync_to_thread=False, status_code=200)
def view_file(request: Request[object, object, State], client_id: str, folder_id: str, file_id: str) -> FileOut:
    """What the client's opening the file does: it is locked against replacement from now on."""
    store, space = space_for(request, client_id)
    stored = store.file(space, store.folder(space, folder_id, employee_of(request)), file_id)
    stored.viewed = True
    return file_out(stored)


firm_handlers = [
    get_firm,
    get_client,
    list_folders,
    create_folder,
    list_files,
    create_file,
    replace_file,
    file_content,
    view_file,
]

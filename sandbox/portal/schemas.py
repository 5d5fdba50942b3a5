"""Wire shapes of the client portal (JSON via msgspec)."""

from __future__ import annotations

import msgspec

from sandbox.portal.store import ClientProfile, Folder, StoredFile


class Client(msgspec.Struct):
    id: str
    name: str
    restricted_departments: list[str]
    locked: bool


class Firm(msgspec.Struct):
    firm: str


class EmployeeGrants(msgspec.Struct):
    """The folders (paths from the root) an employee may open for one client of one firm."""

    folders: list[list[str]]


class FolderOut(msgspec.Struct):
    id: str
    parent_id: str | None
    name: str
    path: list[str]


class FolderCreate(msgspec.Struct):
    name: str
    parent_id: str | None = None


class FileOut(msgspec.Struct):
    id: str
    folder_id: str
    name: str
    size: int
    content_type: str
    sha256: str
    viewed: bool
    version_count: int


class AdminFile(msgspec.Struct):
    firm: str
    client_id: str
    folder_path: list[str]
    id: str
    name: str
    size: int
    sha256: str
    viewed: bool
    version_count: int
    history: list[str]  # sha256 of every version, oldest first


class ClientSettings(msgspec.Struct):
    """Admin override of a client; ``exists=False`` makes the id unknown (404)."""

    exists: bool = True
    name: str | None = None
    restricted_departments: list[str] = msgspec.field(default_factory=list)
    locked: bool = False
    auto_view: bool = False


class PortalProblem(msgspec.Struct, omit_defaults=True):
    code: str
    detail: str
    file: FileOut | None = None


class FolderList(msgspec.Struct):
    items: list[FolderOut]


class FileList(msgspec.Struct):
    items: list[FileOut]


class AdminFileList(msgspec.Struct):
    items: list[AdminFile]


def client_out(profile: ClientProfile) -> Client:
    return Client(profile.client_id, profile.name, list(profile.restricted_departments), profile.locked)


def folder_out(folder: Folder) -> FolderOut:
    return FolderOut(folder.id, folder.parent_id, folder.name, list(folder.path))


def file_out(stored: StoredFile) -> FileOut:
    return FileOut(
        stored.id,
        stored.folder_id,
        stored.name,
        len(stored.content),
        stored.content_type,
        stored.sha256,
        stored.viewed,
        len(stored.history),
    )

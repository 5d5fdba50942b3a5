"""The portal's in-memory state: clients, folder trees and files, per accounting firm.

Every mutation below is plain synchronous code with no ``await`` inside, and the handlers
call it from the event loop (never a thread), so each check-and-set on a (client, folder,
name) is atomic: of two concurrent creates of one name exactly one wins.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from dataclasses import dataclass, field

# The folder tree a new client starts with, organised by department as in the real portal.
DEFAULT_TREE: tuple[tuple[str, ...], ...] = (
    ("Contabilidade",),
    ("Contabilidade", "Balancetes"),
    ("Contabilidade", "Demonstrações"),
    ("Fiscal",),
    ("Fiscal", "DAS"),
    ("Fiscal", "Guias"),
    ("Fiscal", "Livros Fiscais"),
    ("Pessoal",),
    ("Pessoal", "Resumo Mensal"),
    ("Pessoal", "Holerites"),
    ("Pessoal", "Guias"),
    ("Restrito",),
)
# Shown in every tree but closed to the firm's staff, whatever the client.
FIRM_RESTRICTED = frozenset({"Restrito"})
# "Name (2).ext" is copy 2 of "Name.ext": the portal's way of keeping a viewed file intact.
COPY_NUMBER = re.compile(r"^(?P<stem>.*) \((?P<n>[1-9][0-9]*)\)(?P<ext>(\.[^.]*)?)$")


def original_name(name: str) -> str | None:
    """``Name (2).ext`` -> ``Name.ext``; None for a name without a copy number."""
    match = COPY_NUMBER.match(name)
    return f"{match['stem']}{match['ext']}" if match else None


class PortalError(Exception):
    """A refusal with an HTTP status and a stable ``code``; ``file`` names the conflicting file."""

    def __init__(self, status: int, code: str, detail: str, file: StoredFile | None = None) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.file = status, code, detail, file


@dataclass
class ClientProfile:
    client_id: str
    name: str
    restricted_departments: tuple[str, ...] = ()
    locked: bool = False  # the firm lost access to this client: everything answers 403
    auto_view: bool = False  # simulates a client who opens every file the moment it lands


@dataclass
class Folder:
    id: str
    parent_id: str | None
    name: str
    path: tuple[str, ...]


@dataclass
class StoredFile:
    id: str
    folder_id: str
    name: str
    content_type: str
    content: bytes
    sha256: str
    viewed: bool = False
    history: list[str] = field(default_factory=list)  # sha256 of every version, oldest first


@dataclass
class ClientSpace:
    firm: str
    profile: ClientProfile
    folders: dict[str, Folder] = field(default_factory=dict)
    files: dict[str, StoredFile] = field(default_factory=dict)
    by_name: dict[tuple[str, str], str] = field(default_factory=dict)  # (folder id, name) -> file id
    in_folder: dict[str, list[str]] = field(default_factory=dict)  # folder id -> file ids
    # (folder id, original name) -> ids of its numbered copies, so a name lookup never scans
    copies: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    def named(self, folder_id: str, name: str) -> list[StoredFile]:
        """The file called ``name`` and its numbered copies ``name (n).ext``."""
        ids = [self.by_name[folder_id, name]] if (folder_id, name) in self.by_name else []
        return [self.files[i] for i in ids + self.copies.get((folder_id, name), [])]


def default_profile(client_id: str) -> ClientProfile | None:
    """Clients exist unless their id starts with ``missing-``; ``restricted-`` ones hide Pessoal."""
    if client_id.startswith("missing-"):
        return None
    restricted = ("Pessoal",) if client_id.startswith("restricted-") else ()
    number = int(hashlib.blake2b(client_id.encode(), digest_size=4).hexdigest(), 16) % 10_000
    return ClientProfile(client_id, f"Cliente {number:04d} Ltda", restricted)


def folder_id_for(client_id: str, path: tuple[str, ...]) -> str:
    # Deterministic ids: the same path under the same client always has the same id.
    digest = hashlib.blake2b("\x1f".join((client_id, *path)).encode(), digest_size=8).hexdigest()
    return f"fld_{digest}"


@dataclass
class PortalStore:
    spaces: dict[tuple[str, str], ClientSpace] = field(default_factory=dict)
    profiles: dict[str, ClientProfile | None] = field(default_factory=dict)  # admin overrides
    # (firm, client, employee) -> the folder paths (and everything under them) that employee
    # may open. An employee without an entry is unrestricted, as the firm's admins are.
    grants: dict[tuple[str, str, str], tuple[tuple[str, ...], ...]] = field(default_factory=dict)
    content: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # doc id -> (type, bytes)
    file_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def reset(self) -> None:
        self.spaces.clear()
        self.profiles.clear()
        self.grants.clear()
        self.content.clear()
        self.file_ids = itertools.count(1)

    def profile(self, client_id: str) -> ClientProfile:
        profile = self.profiles[client_id] if client_id in self.profiles else default_profile(client_id)
        if profile is None:
            raise PortalError(404, "client_not_found", f"no client {client_id!r}")
        return profile

    def space(self, firm: str, client_id: str) -> ClientSpace:
        profile = self.profile(client_id)
        if profile.locked:
            raise PortalError(403, "permission_denied", f"access to client {client_id!r} is locked")
        space = self.spaces.get((firm, client_id))
        if space is None:
            space = self.spaces[firm, client_id] = ClientSpace(firm, profile)
            for path in DEFAULT_TREE:
                parent = folder_id_for(client_id, path[:-1]) if len(path) > 1 else None
                folder = Folder(folder_id_for(client_id, path), parent, path[-1], path)
                space.folders[folder.id] = folder
        space.profile = profile  # admin changes apply to spaces already materialised
        return space

    def folder(self, space: ClientSpace, folder_id: str, employee: str | None = None) -> Folder:
        folder = space.folders.get(folder_id)
        if folder is None:
            raise PortalError(404, "folder_not_found", f"no folder {folder_id!r}")
        check_permission(space.profile, folder.path)
        self.check_employee(space, employee, folder.path)
        return folder

    def check_employee(self, space: ClientSpace, employee: str | None, path: tuple[str, ...]) -> None:
        """An employee with grants on this client may open only the granted folders and below."""
        granted = self.grants.get((space.firm, space.profile.client_id, employee or ""))
        if granted is None or any(path[: len(g)] == g for g in granted):
            return
        raise PortalError(
            403,
            "permission_denied",
            f"employee {employee!r} has no permission on {'/'.join(path)!r} of client {space.profile.client_id!r}",
        )

    def create_folder(
        self, space: ClientSpace, parent_id: str | None, name: str, employee: str | None = None
    ) -> tuple[Folder, bool]:
        """Create ``name`` under ``parent_id``; an existing folder is returned as is (created False)."""
        name = name.strip()
        if not name or "/" in name:
            raise PortalError(422, "invalid_name", "folder names are non-empty and have no '/'")
        parent_path = self.folder(space, parent_id).path if parent_id else ()
        path = (*parent_path, name)
        existing = space.folders.get(folder_id_for(space.profile.client_id, path))
        if existing is not None:
            return existing, False
        check_permission(space.profile, path)
        self.check_employee(space, employee, path)
        folder = Folder(folder_id_for(space.profile.client_id, path), parent_id, name, path)
        space.folders[folder.id] = folder
        return folder, True

    def create_file(self, space: ClientSpace, folder: Folder, name: str, content_type: str, body: bytes) -> StoredFile:
        """Store a new file; a taken name is refused with 409 ``exists`` naming the holder."""
        taken = space.by_name.get((folder.id, name))
        if taken is not None:
            raise PortalError(409, "exists", f"{name!r} already exists in this folder", space.files[taken])
        sha = hashlib.sha256(body).hexdigest()
        stored = StoredFile(f"fil_{next(self.file_ids):08d}", folder.id, name, content_type, body, sha, history=[sha])
        stored.viewed = space.profile.auto_view
        space.files[stored.id] = stored
        space.by_name[folder.id, name] = stored.id
        space.in_folder.setdefault(folder.id, []).append(stored.id)
        original = original_name(name)
        if original is not None:
            space.copies.setdefault((folder.id, original), []).append(stored.id)
        return stored

    def replace_file(self, space: ClientSpace, stored: StoredFile, content_type: str, body: bytes) -> StoredFile:
        """Put a new version in place; a file the client has viewed is refused with 409 ``locked``."""
        if stored.viewed:
            raise PortalError(409, "locked", f"{stored.name!r} was viewed by the client", stored)
        stored.content, stored.content_type = body, content_type
        stored.sha256 = hashlib.sha256(body).hexdigest()
        stored.history.append(stored.sha256)
        stored.viewed = space.profile.auto_view
        return stored

    def file(self, space: ClientSpace, folder: Folder, file_id: str) -> StoredFile:
        stored = space.files.get(file_id)
        if stored is None or stored.folder_id != folder.id:
            raise PortalError(404, "file_not_found", f"no file {file_id!r} in this folder")
        return stored


def check_permission(profile: ClientProfile, path: tuple[str, ...]) -> None:
    """Folders of a restricted department are listed in the tree but cannot be opened or written."""
    department = path[0] if path else ""
    if department in profile.restricted_departments or department in FIRM_RESTRICTED:
        raise PortalError(403, "permission_denied", f"no permission on {'/'.join(path)!r}")

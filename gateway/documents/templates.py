"""Document templates and their portal destinations. Services never commit."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

import msgspec
from sqlalchemy import ARRAY, String, any_, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db.base import utcnow
from gateway.documents import schemas
from gateway.documents.defaults import DEFAULT_BY_NAME, DEFAULT_TEMPLATES
from gateway.documents.models import DocumentTemplate
from gateway.errors import Conflict, FieldError, NotFound, Unprocessable
from gateway.pagination import PageParams, paginate


async def create_template(
    session: AsyncSession, tenant_id: uuid.UUID, data: schemas.DocumentTemplateCreate
) -> DocumentTemplate:
    await _ensure_name_free(session, tenant_id, data.name)
    template = DocumentTemplate(
        tenant_id=tenant_id, name=data.name, department=data.department, folder_path=data.folder_path
    )
    session.add(template)
    await session.flush()
    return template


async def _ensure_name_free(session: AsyncSession, tenant_id: uuid.UUID, name: str) -> None:
    taken = await session.scalar(
        select(DocumentTemplate.id).where(DocumentTemplate.tenant_id == tenant_id, DocumentTemplate.name == name)
    )
    if taken is not None:
        raise Conflict(f"A template named {name!r} already exists.", extra={"template_id": str(taken)})


async def get_template(session: AsyncSession, tenant_id: uuid.UUID, template_id: uuid.UUID) -> DocumentTemplate:
    template = await session.get(DocumentTemplate, template_id)
    if template is None or template.tenant_id != tenant_id:
        raise NotFound(f"Document template {template_id} does not exist.")
    return template


async def list_templates(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    page: PageParams,
    *,
    department: str | None = None,
    mapped: bool | None = None,
) -> tuple[list[DocumentTemplate], str | None]:
    stmt = select(DocumentTemplate).where(DocumentTemplate.tenant_id == tenant_id)
    if department is not None:
        stmt = stmt.where(DocumentTemplate.department == department)
    if mapped is not None:
        column = DocumentTemplate.folder_path
        stmt = stmt.where(column.is_not(None) if mapped else column.is_(None))
    return await paginate(session, stmt, page, order_by=[DocumentTemplate.name, DocumentTemplate.id], descending=False)


async def update_template(
    session: AsyncSession, tenant_id: uuid.UUID, template_id: uuid.UUID, data: schemas.DocumentTemplateUpdate
) -> DocumentTemplate:
    template = await get_template(session, tenant_id, template_id)
    if isinstance(data.name, str) and data.name != template.name:
        await _ensure_name_free(session, tenant_id, data.name)
        template.name = data.name
    if data.department is not msgspec.UNSET:
        template.department = data.department
    if data.folder_path is not msgspec.UNSET:
        template.folder_path = data.folder_path
    template.updated_at = utcnow()
    await session.flush()
    return template


async def delete_template(session: AsyncSession, tenant_id: uuid.UUID, template_id: uuid.UUID) -> None:
    """Deliveries keep the template's name, so history survives the template."""
    await session.delete(await get_template(session, tenant_id, template_id))
    await session.flush()


async def count_unmapped(session: AsyncSession, tenant_id: uuid.UUID) -> int:
    stmt = select(func.count()).where(DocumentTemplate.tenant_id == tenant_id, DocumentTemplate.folder_path.is_(None))
    return int(await session.scalar(stmt) or 0)


async def apply_default_folders(session: AsyncSession, tenant_id: uuid.UUID, *, overwrite: bool) -> tuple[int, int]:
    """Create the standard templates the firm lacks and give standard templates their
    department's default folder; returns (created, mapped)."""
    existing = {
        t.name.casefold(): t
        for t in await session.scalars(select(DocumentTemplate).where(DocumentTemplate.tenant_id == tenant_id))
    }
    created = mapped = 0
    for default in DEFAULT_TEMPLATES:
        template = existing.get(default.name.casefold())
        if template is None:
            session.add(
                DocumentTemplate(
                    tenant_id=tenant_id,
                    name=default.name,
                    department=default.department,
                    folder_path=list(default.folder_path),
                )
            )
            created += 1
            mapped += 1
        elif template.folder_path is None or (overwrite and template.folder_path != list(default.folder_path)):
            template.folder_path = list(default.folder_path)
            template.department = template.department or default.department
            template.updated_at = utcnow()
            mapped += 1
    await session.flush()
    return created, mapped


async def set_destinations(
    session: AsyncSession, tenant_id: uuid.UUID, template_ids: Sequence[uuid.UUID], folder_path: list[str]
) -> int:
    """One folder for many templates at once ("Pasta de destino em lote")."""
    wanted = set(template_ids)
    found = set(
        await session.scalars(
            select(DocumentTemplate.id).where(DocumentTemplate.tenant_id == tenant_id, DocumentTemplate.id.in_(wanted))
        )
    )
    # Another tenant's template id is reported exactly like one that does not exist.
    errors = [
        FieldError(pointer=f"/template_ids/{i}", detail="no such template")
        for i, template_id in enumerate(template_ids)
        if template_id not in found
    ]
    if errors:
        raise Unprocessable(f"{len(errors)} template(s) do not exist.", errors=errors)
    await session.execute(
        update(DocumentTemplate)
        .where(DocumentTemplate.tenant_id == tenant_id, DocumentTemplate.id.in_(found))
        .values(folder_path=folder_path, updated_at=utcnow())
    )
    return len(found)


async def templates_by_name(
    session: AsyncSession, tenant_id: uuid.UUID, names: Iterable[str], department: str | None
) -> dict[str, DocumentTemplate]:
    """The templates an event names, registering unknown names (unmapped) so they show up in
    the list of templates without destination instead of vanishing."""
    wanted = sorted(set(names))
    defaults = {n: DEFAULT_BY_NAME.get(n.casefold()) for n in wanted}
    stmt = insert(DocumentTemplate).values(
        [
            {
                "id": uuid.uuid4(),
                "tenant_id": tenant_id,
                "name": n,
                "folder_path": None,
                "department": department or getattr(defaults[n], "department", None),
            }
            for n in wanted
        ]
    )
    await session.execute(stmt.on_conflict_do_nothing(index_elements=["tenant_id", "name"]))
    rows = await session.scalars(
        select(DocumentTemplate).where(DocumentTemplate.tenant_id == tenant_id, DocumentTemplate.name.in_(wanted))
    )
    return {t.name: t for t in rows}


async def folders_by_name(
    session: AsyncSession, tenant_id: uuid.UUID, names: Iterable[str], department: str | None
) -> dict[str, list[str] | None]:
    """The destination folder of each template an event names (None: unmapped).

    Names seen for the first time are registered through ``templates_by_name``; the usual
    event, whose templates all exist, costs one read.
    """
    wanted = set(names)
    found: dict[str, list[str] | None] = dict(
        (await session.execute(_FOLDERS, {"tenant_id": tenant_id, "names": sorted(wanted)})).tuples().all()
    )
    if len(found) < len(wanted):
        registered = await templates_by_name(session, tenant_id, wanted, department)
        found = {name: t.folder_path for name, t in registered.items()}
    return found


async def folders_of(session: AsyncSession, tenant_id: uuid.UUID) -> dict[str, list[str] | None]:
    """The destination folder of each of the tenant's templates (None: unmapped)."""
    return dict((await session.execute(_ALL_FOLDERS, {"tenant_id": tenant_id})).tuples().all())


_ALL_FOLDERS = select(DocumentTemplate.name, DocumentTemplate.folder_path).where(
    DocumentTemplate.tenant_id == bindparam("tenant_id")
)
# ``= ANY(array)``, not ``IN (...)``: one statement text whatever the number of names, so each
# pooled connection prepares it once.
_FOLDERS = select(DocumentTemplate.name, DocumentTemplate.folder_path).where(
    DocumentTemplate.tenant_id == bindparam("tenant_id"),
    DocumentTemplate.name == any_(bindparam("names", type_=ARRAY(String))),
)

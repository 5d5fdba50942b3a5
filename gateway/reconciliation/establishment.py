"""The tenant's Boavista establishment: code, encrypted token, base URL, timezone, enabled flag."""

from __future__ import annotations

import uuid
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.egress import check_configured_url
from gateway.errors import FieldError, NotFound, ServiceUnavailable, Unprocessable
from gateway.partners.boavista import BoavistaClient
from gateway.partners.errors import PermanentPartnerError, TransientPartnerError
from gateway.reconciliation.models import DEFAULT_TIMEZONE, EstablishmentSetting
from gateway.reconciliation.schemas import EstablishmentSettingUpdate
from gateway.runtime import Runtime


def default_base_url(runtime: Runtime) -> str:
    # BoavistaClient appends the "/boavista" prefix itself, so the base is the partner's root.
    return runtime.settings.sandbox_url


async def get_setting(session: AsyncSession, tenant_id: uuid.UUID) -> EstablishmentSetting:
    setting = await session.get(EstablishmentSetting, tenant_id)
    if setting is None:
        raise NotFound("Boavista is not configured for this tenant; PUT /v1/reconciliation/establishment.")
    return setting


async def tenant_timezone(session: AsyncSession, tenant_id: uuid.UUID) -> str:
    setting = await session.get(EstablishmentSetting, tenant_id)
    return setting.timezone if setting else DEFAULT_TIMEZONE


def client_for(runtime: Runtime, setting: EstablishmentSetting) -> BoavistaClient:
    token = runtime.cipher.decrypt(setting.api_token_encrypted or b"")["token"] if setting.api_token_encrypted else ""
    return BoavistaClient(setting.base_url, str(token), client=runtime.http)


async def update_setting(
    session: AsyncSession, runtime: Runtime, tenant_id: uuid.UUID, data: EstablishmentSettingUpdate
) -> EstablishmentSetting:
    """Save the setting; enabling checks the code and token against Boavista and points its
    return webhook at this tenant's Ponte endpoint (source ``boavista``)."""
    setting = await session.get(EstablishmentSetting, tenant_id)
    if setting is None:
        setting = EstablishmentSetting(
            tenant_id=tenant_id, base_url=default_base_url(runtime), timezone=DEFAULT_TIMEZONE
        )
        session.add(setting)
    if data.establishment_code is not None:
        setting.establishment_code = data.establishment_code
    if data.api_token is not None:
        setting.api_token_encrypted = runtime.cipher.encrypt({"token": data.api_token})
    if data.base_url is not None:
        await check_configured_url(runtime.egress, data.base_url, pointer="/base_url")
        setting.base_url = data.base_url.rstrip("/")
    if data.timezone is not None:
        try:
            ZoneInfo(data.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise Unprocessable(
                "Unknown timezone.",
                errors=[FieldError(pointer="/timezone", detail="an IANA name, e.g. America/Sao_Paulo")],
            ) from exc
        setting.timezone = data.timezone
    setting.enabled = data.enabled
    if data.enabled:
        missing = [
            FieldError(pointer=f"/{name}", detail=f"{name} is required to enable the integration")
            for name, value in (
                ("establishment_code", setting.establishment_code),
                ("api_token", setting.api_token_encrypted),
            )
            if not value
        ]
        if missing:
            raise Unprocessable("The integration cannot be enabled without a Boavista establishment.", errors=missing)
        await _connect(session, runtime, setting)
    await session.flush()
    return setting


async def _connect(session: AsyncSession, runtime: Runtime, setting: EstablishmentSetting) -> None:
    """Check the establishment with Boavista, then point its returns at Ponte's inbox."""
    from gateway.reconciliation import webhook_wiring

    code = str(setting.establishment_code)
    client = client_for(runtime, setting)
    try:
        await client.ping(code)
        url, secret = await webhook_wiring.return_endpoint(session, runtime, setting)
        await client.configure_webhook(code, url, secret)
    except PermanentPartnerError as exc:
        pointer = {"unauthorized": "/api_token", "egress_refused": "/base_url"}.get(exc.code, "/establishment_code")
        raise Unprocessable(
            f"Boavista refused the establishment ({exc.code}).", errors=[FieldError(pointer=pointer, detail=str(exc))]
        ) from exc
    except (TransientPartnerError, httpx.HTTPError) as exc:
        raise ServiceUnavailable(f"Boavista could not be reached: {exc}") from exc

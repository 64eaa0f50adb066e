"""Assistants CRUD, export and import."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, status
from pydantic import ValidationError

from voxroute.api.deps import OwnerDep, ReaderDep, RuntimeDep, SessionDep
from voxroute.api.pagination import LINK_HEADER, PageDep
from voxroute.api.schemas.assistants import (
    AssistantCreate,
    AssistantExport,
    AssistantPublic,
    AssistantUpdate,
)
from voxroute.assistants import AssistantService
from voxroute.errors import InvalidInput

router = APIRouter(prefix="/assistants", tags=["assistants"])


def get_service(runtime: RuntimeDep) -> AssistantService:
    """An `AssistantService` over the runtime's store and provider catalog."""
    return AssistantService(runtime.store, runtime.catalog)


ServiceDep = Annotated[AssistantService, Depends(get_service)]


@router.get("", response_model=list[AssistantPublic], responses={200: {"headers": LINK_HEADER}})
async def list_assistants(
    principal: ReaderDep, session: SessionDep, service: ServiceDep, page: PageDep
) -> list[dict[str, Any]]:
    """The org's assistants, oldest first, a page at a time (keys shown as hints)."""
    rows = await service.list(
        session, org_id=principal.require_org(), limit=page.fetch, offset=page.offset
    )
    return [await service.public_view(session, a) for a in page.rows(rows)]


@router.post("", response_model=AssistantPublic, status_code=status.HTTP_201_CREATED)
async def create_assistant(
    principal: OwnerDep, session: SessionDep, service: ServiceDep, body: AssistantCreate
) -> dict[str, Any]:
    """Create an assistant; `byo_api_keys` in a stage config are vaulted, never returned."""
    assistant = await service.create(
        session,
        org_id=principal.require_org(),
        data=body.model_dump(exclude_unset=False),
        actor=principal.actor,
    )
    return await service.public_view(session, assistant)


@router.get("/{assistant_id}", response_model=AssistantPublic)
async def get_assistant(
    principal: ReaderDep, session: SessionDep, service: ServiceDep, assistant_id: str
) -> dict[str, Any]:
    """One assistant."""
    assistant = await service.get(
        session, org_id=principal.require_org(), assistant_id=assistant_id
    )
    return await service.public_view(session, assistant)


@router.patch("/{assistant_id}", response_model=AssistantPublic)
async def update_assistant(
    principal: OwnerDep,
    session: SessionDep,
    service: ServiceDep,
    assistant_id: str,
    body: AssistantUpdate,
) -> dict[str, Any]:
    """Change fields; a stage's `byo_api_keys: null` or `{}` reverts it to org/managed keys."""
    assistant = await service.get(
        session, org_id=principal.require_org(), assistant_id=assistant_id
    )
    data = body.model_dump(exclude_unset=True)
    for field in ("stt_config", "llm_config", "tts_config"):
        stage = getattr(body, field)
        if stage is not None:
            data[field] = stage.model_dump(exclude_unset=True)
    await service.update(session, assistant, data, actor=principal.actor)
    return await service.public_view(session, assistant)


@router.delete("/{assistant_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_assistant(
    principal: OwnerDep, session: SessionDep, service: ServiceDep, assistant_id: str
) -> None:
    """Delete the assistant and destroy its keys."""
    assistant = await service.get(
        session, org_id=principal.require_org(), assistant_id=assistant_id
    )
    await service.delete(session, assistant, actor=principal.actor)


@router.get("/{assistant_id}/export", response_model=AssistantExport)
async def export_assistant(
    principal: ReaderDep, session: SessionDep, service: ServiceDep, assistant_id: str
) -> Any:
    """A portable definition without any key material."""
    assistant = await service.get(
        session, org_id=principal.require_org(), assistant_id=assistant_id
    )
    return service.export(assistant)


@router.post("/import", response_model=AssistantPublic, status_code=status.HTTP_201_CREATED)
async def import_assistant(
    principal: OwnerDep,
    session: SessionDep,
    service: ServiceDep,
    body: Annotated[dict[str, Any], Body()],
) -> dict[str, Any]:
    """Create an assistant from an export. Keys are never imported: add them separately."""
    for field in ("stt_config", "llm_config", "tts_config"):
        stage = body.get(field)
        if isinstance(stage, dict) and stage.get("byo_api_keys"):
            raise InvalidInput(
                "imports never carry keys: remove byo_api_keys and add keys separately"
            )
    try:
        parsed = AssistantExport.model_validate(body)
        create = AssistantCreate.model_validate(parsed.model_dump(exclude={"format"}))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False)
        )
        raise InvalidInput(f"invalid assistant export: {problems}") from None
    assistant = await service.create(
        session, org_id=principal.require_org(), data=create.model_dump(), actor=principal.actor
    )
    return await service.public_view(session, assistant)

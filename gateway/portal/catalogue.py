"""The 52 portal synchronisations of seed 001, as data the engine and the manager read.

Titles are the seed's own (typos included: "Documentos Pendetes") because users find a sync
by the name they already know. ``heavy`` marks the syncs the seed calls large and not
recommended daily; a daily schedule for one of those needs an explicit acknowledgement.
"""

from __future__ import annotations

from typing import Literal

import msgspec

Group = Literal["complete", "beneficiary", "provider", "contractor"]
Direction = Literal["import", "export", "status"]
Mode = Literal["full", "incremental"]
Schedule = Literal["on_change", "weekly", "daily", "hourly"]
DescriptionSource = Literal["seed", "ponte"]

REQUEST_KINDS = (
    "card_copy",
    "beneficiary_registration_change",
    "beneficiary_address_change",
    "new_beneficiary",
    "new_family",
    "provider_registration_change",
    "provider_address_change",
)


class SyncDefinition(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    group: Group
    title: str
    description: str
    description_source: DescriptionSource
    direction: Direction
    mode: Mode
    heavy: bool
    entity: str
    recommended_schedule: Schedule
    request_kinds: tuple[str, ...] = ()  # what an export carries or a status sync updates
    note: str | None = None
    editions: tuple[str, ...] = ()  # the core-system editions it runs on; empty: every edition


def _sync(
    group: Group,
    key: str,
    title: str,
    entity: str,
    description: str,
    *,
    direction: Direction = "import",
    mode: Mode = "full",
    heavy: bool = False,
    on_change: bool = False,
    kinds: tuple[str, ...] = (),
    ours: bool = False,
    note: str | None = None,
    editions: tuple[str, ...] = (),
) -> SyncDefinition:
    # Requests wait on people in the portal, so they move hourly; heavy imports go weekly.
    schedule: Schedule
    if on_change:
        schedule = "on_change"
    elif heavy:
        schedule = "weekly"
    elif direction != "import" or mode == "incremental":
        schedule = "hourly"
    else:
        schedule = "daily"
    return SyncDefinition(
        key=f"{group}.{key}" if group != "complete" else f"{key}.full",
        group=group,
        title=title,
        description=description,
        description_source="ponte" if ours else "seed",
        direction=direction,
        mode=mode,
        heavy=heavy,
        entity=entity,
        recommended_schedule=schedule,
        request_kinds=kinds,
        note=note,
        editions=editions,
    )


_C: Group = "complete"
_B: Group = "beneficiary"
_P: Group = "provider"
_K: Group = "contractor"
_INC: Mode = "incremental"
_NEW_MEMBERS = ("new_beneficiary", "new_family")

_ALL = (
    # Complete: full imports of the big registers and the reference tables.
    _sync(
        _C,
        "bank",
        "Dados Bancários",
        "bank",
        "Importa todos os dados de bancos e agências das contas financeiras dos usuários do Portal.",
    ),
    _sync(
        _C,
        "beneficiary",
        "Dados cadastrais de Beneficiário",
        "beneficiary",
        "Importa todos os beneficiários para o Portal, sincronização grande, não recomendado executar diariamente.",
        heavy=True,
    ),
    _sync(
        _C,
        "provider",
        "Dados cadastrais de Prestador",
        "provider",
        "Importa todos os prestadores para o Portal, sincronização grande, não recomendado executar diariamente.",
        heavy=True,
    ),
    _sync(
        _C,
        "care_network",
        "Dados Rede de Atendimento",
        "care_network",
        "Importa os prestadores da rede credenciada para o Portal.",
    ),
    _sync(
        _C,
        "beneficiary_address",
        "Endereços do Beneficiário",
        "beneficiary_address",
        "Importa todos os endereços de beneficiários para o Portal, sincronização grande, não recomendado "
        "executar diariamente.",
        heavy=True,
    ),
    _sync(
        _C,
        "provider_address",
        "Endereços do Prestador",
        "provider_address",
        "Importa todos os endereços de prestador para o Portal, sincronização grande, não recomendado "
        "executar diariamente.",
        heavy=True,
    ),
    _sync(
        _C,
        "tiss_price_table",
        "Eventos e Tabelas de Preço TISS",
        "tiss_price_table",
        "Importa todas as tabelas de eventos (TGE) para o Portal, sincronização grande, recomendado executar "
        "somente quando há alterações nas tabelas de eventos.",
        on_change=True,
    ),
    _sync(_C, "service_type", "Tipo de Serviço", "service_type", "Importa todos os tipos de serviço para o Portal."),
    # Beneficiary.
    _sync(_B, "boleto", "Boletos", "boleto", "Importa as informações de boletos gerados no saúde.", mode=_INC),
    _sync(
        _B,
        "registration.changed",
        "Cadastros Alterados do Beneficiário",
        "beneficiary",
        "Importa todas as alterações dos beneficiários já importados para o Portal.",
        mode=_INC,
    ),
    _sync(
        _B, "grace_period", "Carências", "grace_period", "Importa os dados de carência dos beneficiários.", mode=_INC
    ),
    _sync(
        _B,
        "pending_document",
        "Documentos Pendetes",
        "pending_document",
        "Importa os documentos que o saúde ainda aguarda dos beneficiários (por exemplo para concluir uma "
        "inclusão ou alteração cadastral), para que o Portal os peça ao beneficiário.",
        mode=_INC,
        ours=True,
    ),
    _sync(
        _B,
        "address.changed",
        "Endereços Alterados do Beneficiário",
        "beneficiary_address",
        "Importa todas as alterações dos endereços dos beneficiários já importados para o Portal.",
        mode=_INC,
    ),
    _sync(_B, "marital_status", "Estados civis", "marital_status", "Importa os estados civis parametrizados no saúde"),
    _sync(
        _B,
        "coparticipation_statement",
        "Extratos de Coparticipação",
        "coparticipation_statement",
        "Importa os extratos de coparticipação das famílias dos usuários beneficiários para o Portal. Dependendo "
        "do número de usuários e famílias a sincronização pode ser grande, não recomendado realizar diariamente.",
        mode=_INC,
        heavy=True,
    ),
    _sync(
        _B,
        "reimbursement_statement",
        "Extrato de Reembolso",
        "reimbursement_statement",
        "Importa os extratos de reembolso das famílias dos usuários beneficiários para o portal. Dependendo do "
        "número de usuários e famílias a sincronização pode ser grande, não recomendado realizar diariamente.",
        mode=_INC,
        heavy=True,
    ),
    _sync(
        _B,
        "utilisation_statement",
        "Extratos de Utilização",
        "utilisation_statement",
        "Importa os extratos de utilização das famílias dos usuários beneficiários para o Portal. Dependendo do "
        "número de usuários e famílias a sincronização pode ser grande, não recomendado realizar diariamente.",
        mode=_INC,
        heavy=True,
    ),
    _sync(_B, "leave", "Licenças", "beneficiary_leave", "Importa os dados de licenças dos beneficiários.", mode=_INC),
    _sync(_B, "plan", "Planos", "plan", "Importa os dados de planos dos beneficiários."),
    _sync(
        _B,
        "debt_balance",
        "Saldo Devedor",
        "debt_balance",
        "Importa o saldo devedor das famílias (valores em aberto e boletos vencidos) para que o Portal o mostre "
        "ao beneficiário titular.",
        mode=_INC,
        ours=True,
    ),
    _sync(
        _B,
        "card_copy.status",
        "Situação de Segunda Via Carteirinha",
        "request.card_copy",
        "Atualiza as situações das solicitações de segunda via de carteirinha realizada pelos beneficiários.",
        direction="status",
        mode=_INC,
        kinds=("card_copy",),
    ),
    _sync(
        _B,
        "registration_change.status",
        "Situações das atualizações cadastrais do beneficiário",
        "request.beneficiary_registration_change",
        "Atualiza as situações das solicitações de alteração cadastrais realizadas pelos beneficiários.",
        direction="status",
        mode=_INC,
        kinds=("beneficiary_registration_change",),
    ),
    _sync(
        _B,
        "address_change.status",
        "Situações das atualizações cadastrais do endereço beneficiário",
        "request.beneficiary_address_change",
        "Atualiza as situações das solicitações de alteração de endereços realizadas pelos beneficiários.",
        direction="status",
        mode=_INC,
        kinds=("beneficiary_address_change",),
    ),
    _sync(
        _B,
        "card_copy.export",
        "Solicitação de Segunda Via Carteirinha",
        "request.card_copy",
        "Exporta para o Saúde as solicitações de segunda via de carteirinha realizadas pelos beneficiários.",
        direction="export",
        mode=_INC,
        kinds=("card_copy",),
    ),
    # Provider.
    _sync(
        _P,
        "address_change.export",
        "Alteração cadastral de endereço do Prestador",
        "request.provider_address_change",
        "Exporta para o Saúde as solicitações de alteração de endereço realizadas pelos prestadores.",
        direction="export",
        mode=_INC,
        kinds=("provider_address_change",),
    ),
    _sync(
        _P,
        "registration_change.export",
        "Alteração cadastral do Prestador",
        "request.provider_registration_change",
        "Exporta para o Saúde as solicitações de alteração cadastral realizadas pelos prestadores.",
        direction="export",
        mode=_INC,
        kinds=("provider_registration_change",),
    ),
    _sync(
        _P,
        "registration.changed",
        "Cadastros Alterados do Prestador",
        "provider",
        "Importa todas as alterações dos prestadores já importados para o Portal.",
        mode=_INC,
    ),
    _sync(
        _P,
        "address.changed",
        "Cadastros Alterados dos Endereços do Prestador",
        "provider_address",
        "Importa todas as alterações dos endereços dos prestadores já importados para o Portal.",
        mode=_INC,
    ),
    _sync(
        _P,
        "payment_preview",
        "Consulta de Prévias de Pagamento",
        "payment_preview",
        "Importa os dados de prévias de pagamento existentes no saúde.",
        mode=_INC,
    ),
    _sync(_P, "specialty", "Especialidades", "specialty", "Importa as especialidades parametrizadas no saúde."),
    _sync(
        _P,
        "bill",
        "Faturas do Prestador",
        "provider_bill",
        "Importa os dados de faturas do prestador para o Portal.",
        mode=_INC,
    ),
    _sync(
        _P,
        "payment_pending_tax_invoice",
        "Pagamentos Pendentes de Nota Fiscal",
        "payment_pending_tax_invoice",
        "Importa para o Portal os dados de pagamentos que estão pendentes de Nota Fiscal.",
        mode=_INC,
    ),
    _sync(
        _P,
        "deaccredited",
        "Prestadores descredenciados",
        "deaccredited_provider",
        "Importa para o Portal os prestadores que foram descredenciados.",
        mode=_INC,
    ),
    _sync(
        _P,
        "protocol_with_tax_invoice",
        "Protocolos Anexados Nota Fiscal",
        "protocol_with_tax_invoice",
        "Importa para o Portal os protocolos com nota fiscal anexada.",
        mode=_INC,
    ),
    _sync(
        _P,
        "protocol_pending_tax_invoice",
        "Protocolos Pendentes de Nota Fiscal",
        "protocol_pending_tax_invoice",
        "Importa para o Portal os protocolos que estão pendentes de nota fiscal.",
        mode=_INC,
    ),
    _sync(
        _P,
        "denial_appeal",
        "Recursos de Glosa",
        "denial_appeal",
        "Importa para o Portal protocolos passíveis de recurso de glosa.",
        mode=_INC,
    ),
    _sync(
        _P,
        "address_change.status",
        "Situações das atualizações cadastrais do endereço prestador",
        "request.provider_address_change",
        "Atualiza as situações das solicitações de alteração de endereços realizadas pelos prestadores.",
        direction="status",
        mode=_INC,
        kinds=("provider_address_change",),
    ),
    _sync(
        _P,
        "registration_change.status",
        "Situações das atualizações cadastrais do prestador",
        "request.provider_registration_change",
        "Atualiza as situações das solicitações de alteração cadastrais realizadas pelos prestadores.",
        direction="status",
        mode=_INC,
        kinds=("provider_registration_change",),
    ),
    _sync(
        _P,
        "reference_table",
        "Tabelas do Prestador",
        "provider_reference_table",
        "Importa para o portal as informações necessárias para realizar alteração dos prestadores (conselho, "
        "área de atuação, etc.)",
    ),
    _sync(
        _P,
        "applicant_reference_table",
        "Tabelas Proponente",
        "applicant_reference_table",
        "Importa para o portal as informações necessárias para realizar a solicitação de credenciamento "
        "(serviços, equipamentos, etc.)",
    ),
    _sync(
        _P,
        "document_type",
        "Tipos de Documentos do Prestador",
        "provider_document_type",
        "Importa para o Portal os tipos de documentos que o prestador pode incluir em certos cadastros/solicitações.",
    ),
    _sync(
        _P,
        "provider_type",
        "Tipos de Prestador",
        "provider_type",
        "Importa para o Portal os tipos de prestador parametrizados no saúde.",
    ),
    # Contractor.
    _sync(
        _K,
        "contract",
        "Contratos dos Beneficiários",
        "contract",
        "Importa para o Portal os dados dos contratos parametrizados no saúde.",
    ),
    _sync(
        _K,
        "card_reason",
        "Contratos motivo cartão",
        "contract_card_reason",
        "Importa para o Portal os motivos de solicitação de cartão do contrato.",
    ),
    _sync(
        _K,
        "financial_history",
        "Histórico Financeiro",
        "financial_history",
        "Importa para o Portal os dados referentes ao histórico financeiro.",
        mode=_INC,
    ),
    _sync(
        _K,
        "cancellation_reason",
        "Motivos de Cancelamento do Beneficiário",
        "cancellation_reason",
        "Importa para o portal os motivos de cancelamento de beneficiário.",
    ),
    _sync(
        _K,
        "new_members.export",
        "Novos Beneficiários e famílias",
        "request.new_members",
        "Exporta para o Saúde os novos beneficiários incluídos pelo Portal.",
        direction="export",
        mode=_INC,
        kinds=_NEW_MEMBERS,
    ),
    _sync(
        _K,
        "contract_product",
        "Produtos dos contratos",
        "contract_product",
        "Importa para o Portal os dados referente ao módulo dos contratos",
    ),
    _sync(
        _K,
        "collective_plan_adjustment",
        "Reajustes de plano coletivo",
        "collective_plan_adjustment",
        "Sincronização somente para os sistemas MG.",
        mode=_INC,
        note="Only for MG core systems: on other editions it is unavailable and refuses to run.",
        editions=("MG",),
    ),
    _sync(
        _K,
        "contractor",
        "Sincronização de contratantes, contratos e famílias",
        "contractor",
        "Importa para o Portal todos os contratantes, juntamente com seus contratos e famílias. Sincronização "
        "grande, não recomendado executar diariamente.",
        heavy=True,
    ),
    _sync(
        _K,
        "new_members.status",
        "Situação das solicitações de novos Beneficiário e famílias",
        "request.new_members",
        "Atualiza a situação das solicitações de inclusão de novos beneficiários realizadas pelo Portal.",
        direction="status",
        mode=_INC,
        kinds=_NEW_MEMBERS,
    ),
    _sync(
        _K,
        "dependent_type",
        "Tipos de Dependentes",
        "dependent_type",
        "Importa para o Portal os tipos de dependentes parametrizados no saúde.",
    ),
)

SYNCS: dict[str, SyncDefinition] = {sync.key: sync for sync in _ALL}
if len(SYNCS) != len(_ALL):  # a repeated key would silently hide a sync
    raise RuntimeError("duplicate sync key in the catalogue")


def get_sync(key: str) -> SyncDefinition:
    """The sync with this key; ``KeyError`` if the catalogue has none."""
    return SYNCS[key]


def by_group() -> dict[Group, list[SyncDefinition]]:
    """Syncs per group, in the seed's order (the order the manager shows them in)."""
    groups: dict[Group, list[SyncDefinition]] = {"complete": [], "beneficiary": [], "provider": [], "contractor": []}
    for sync in _ALL:
        groups[sync.group].append(sync)
    return groups

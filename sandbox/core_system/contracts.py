"""Contractor-side entities, plans, banks and the TISS event tables."""

from __future__ import annotations

from sandbox.core_system.beneficiaries import DAY_2024, LAST, family
from sandbox.core_system.model import EntitySpec, Population, Record, day, digits, ident, money, pick, table

PLANS = (
    "Essencial",
    "Essencial Plus",
    "Clássico",
    "Clássico Plus",
    "Executivo",
    "Executivo Plus",
    "Premium",
    "Premium Plus",
    "Sênior",
    "Jovem",
    "Empresarial",
    "Adesão",
)
SERVICE_TYPES = (
    "Consulta",
    "Exame",
    "Terapia",
    "Internação",
    "Pronto-socorro",
    "Cirurgia ambulatorial",
    "Quimioterapia",
    "Radioterapia",
    "Hemodiálise",
    "Home care",
    "Odontologia",
    "Remoção",
    "Órteses e próteses",
    "Materiais",
    "Medicamentos",
)
CARD_REASONS = ("Perda", "Roubo ou furto", "Dano", "Alteração de dados", "Mudança de plano", "Primeira via")
CANCELLATION_REASONS = (
    "Pedido do titular",
    "Inadimplência",
    "Óbito",
    "Fraude",
    "Desligamento da empresa",
    "Mudança de operadora",
    "Fim de dependência",
    "Transferência de contrato",
)
BANKS = (
    ("001", "Banco do Brasil"),
    ("033", "Santander"),
    ("104", "Caixa Econômica Federal"),
    ("237", "Bradesco"),
    ("341", "Itaú Unibanco"),
    ("756", "Sicoob"),
    ("748", "Sicredi"),
    ("077", "Banco Inter"),
    ("260", "Nu Pagamentos"),
    ("422", "Safra"),
    ("041", "Banrisul"),
    ("070", "BRB"),
)
TISS_GROUPS = (
    "Consultas",
    "Procedimentos clínicos",
    "Procedimentos cirúrgicos",
    "Exames laboratoriais",
    "Diagnóstico por imagem",
    "Terapias",
)


def contract(i: int, h: int, hv: int, pop: Population) -> Record:
    return {
        "contractor_id": ident("CNT", i),
        "number": f"{digits(h, 6)}-{i % 10}",
        "kind": pick(("coletivo empresarial", "coletivo por adesão", "individual/familiar"), h, 8),
        "plan_ids": sorted({ident("PLN", (h >> s) % 12) for s in (12, 20)}),
        "starts_on": day(h >> 28, 2000),
        "status": "active",
    }


def contractor(i: int, h: int, hv: int, pop: Population) -> Record:
    families = range(i, pop.families, pop.contractor_count)
    return {
        "name": f"{pick(LAST, h)} & {pick(LAST, h, 8)} {pick(('Ltda', 'S.A.', 'Associação'), h, 16)}",
        "cnpj": digits(h >> 20, 14),
        "contracts": [ident("CTR", i)],
        "families": [{"id": family(f), "holder_id": ident("BEN", f * 3)} for f in families],
        "contact_email": f"rh{i}@{pick(('empresa', 'grupo', 'associacao'), hv)}.com.br",
    }


def contract_product(i: int, h: int, hv: int, pop: Population) -> Record:
    return {
        "contract_id": ident("CTR", i),
        "plan_id": ident("PLN", h % 12),
        "modules": sorted({pick(("ambulatorial", "hospitalar", "obstetrícia", "odontológico"), h, s) for s in (4, 10)}),
    }


def financial_history(i: int, h: int, hv: int, pop: Population) -> Record:
    f, month = divmod(i, 3)
    charged = 40_000 + (h >> 8) % 150_000
    return {
        "family_id": family(f),
        "competence": f"2025-{month + 3:02d}",
        "charged": money(charged),
        "paid": money(charged if (hv >> 30) % 5 else 0),
        "paid_on": day(hv >> 40, 90, DAY_2024 + 430),
    }


def adjustment(i: int, h: int, hv: int, pop: Population) -> Record:
    return {"contract_id": ident("CTR", i), "year": 2025, "percent_bp": 500 + (hv >> 8) % 1500}


def plan(i: int, h: int, hv: int, pop: Population) -> Record:
    return {
        "name": PLANS[i],
        "ans_registration": digits(h, 9),
        "coverage": pick(("ambulatorial", "hospitalar com obstetrícia", "referência"), h, 10),
        "accommodation": pick(("enfermaria", "apartamento"), h, 20),
    }


def bank(i: int, h: int, hv: int, pop: Population) -> Record:
    code, name = BANKS[i]
    agencies = [{"code": digits(h >> (8 * a), 4), "name": f"Agência {a + 1}"} for a in range(4)]
    return {"code": code, "name": name, "agencies": agencies}


def tiss_event(i: int, h: int, hv: int, pop: Population) -> Record:
    group = i % len(TISS_GROUPS)
    return {
        "table": "22",
        "tuss_code": f"{group + 1}01{i:05d}",
        "group": TISS_GROUPS[group],
        "description": f"{TISS_GROUPS[group]} - procedimento {i + 1}",
        "price": money(1_000 + (hv >> 8) % 400_000),
        "valid_from": day(hv >> 40, 365, DAY_2024),
    }


SPECS = (
    EntitySpec("contract", "CTR", lambda p: p.contractor_count, contract),
    EntitySpec("contractor", "CNT", lambda p: p.contractor_count, contractor),
    EntitySpec("contract_product", "PRD", lambda p: p.contractor_count, contract_product),
    EntitySpec("collective_plan_adjustment", "RPC", lambda p: p.contractor_count, adjustment),
    EntitySpec("financial_history", "HFI", lambda p: p.families * 3, financial_history),
    EntitySpec("plan", "PLN", lambda _p: len(PLANS), plan),
    EntitySpec("bank", "BCO", lambda _p: len(BANKS), bank),
    EntitySpec("tiss_price_table", "TGE", lambda p: p.tiss_events, tiss_event),
    EntitySpec("service_type", "TSV", *table("TSV", SERVICE_TYPES)),
    EntitySpec("contract_card_reason", "MCC", *table("MCC", CARD_REASONS)),
    EntitySpec("cancellation_reason", "MCB", *table("MCB", CANCELLATION_REASONS)),
)

"""Beneficiary-side entities: people, families, addresses, carências and their money."""

from __future__ import annotations

from sandbox.core_system.model import (
    Builder,
    EntitySpec,
    Population,
    Record,
    day,
    digits,
    ident,
    money,
    pick,
    table,
)

FIRST = (
    "Ana",
    "Bruno",
    "Carla",
    "Diego",
    "Elaine",
    "Felipe",
    "Gabriela",
    "Heitor",
    "Isabela",
    "João",
    "Larissa",
    "Marcos",
    "Natália",
    "Otávio",
    "Paula",
    "Rafael",
    "Sofia",
    "Thiago",
    "Vitória",
    "Wagner",
)
LAST = (
    "Silva",
    "Santos",
    "Oliveira",
    "Souza",
    "Lima",
    "Pereira",
    "Costa",
    "Ferreira",
    "Almeida",
    "Ribeiro",
    "Carvalho",
    "Gomes",
    "Martins",
    "Rocha",
    "Barbosa",
    "Moura",
)
CITIES = (
    ("São Paulo", "SP"),
    ("Belo Horizonte", "MG"),
    ("Curitiba", "PR"),
    ("Recife", "PE"),
    ("Porto Alegre", "RS"),
    ("Salvador", "BA"),
    ("Goiânia", "GO"),
    ("Uberlândia", "MG"),
)
STREETS = ("Rua das Flores", "Avenida Brasil", "Rua XV de Novembro", "Rua da Paz", "Avenida Afonso Pena", "Rua Goiás")
RELATIONSHIPS = ("holder", "spouse", "child")
MARITAL = ("Solteiro(a)", "Casado(a)", "Divorciado(a)", "Viúvo(a)", "Separado(a)", "União estável")
DEPENDENT_TYPES = (
    "Titular",
    "Cônjuge",
    "Companheiro(a)",
    "Filho(a)",
    "Enteado(a)",
    "Pai/Mãe",
    "Menor sob guarda",
    "Agregado",
)
COVERAGES = ("consultas", "exames simples", "exames complexos", "internação", "parto a termo", "doença preexistente")
DOCUMENTS = (
    "Comprovante de residência",
    "Certidão de casamento",
    "Certidão de nascimento",
    "RG",
    "CPF",
    "Declaração de saúde",
)
LEAVES = ("Licença maternidade", "Afastamento INSS", "Licença sem vencimento", "Aposentadoria por invalidez")
BOLETO_STATUS = ("open", "paid", "paid", "paid", "cancelled")


def family_of(i: int) -> int:
    return i // 3


def person(i: int) -> str:
    return ident("BEN", i)


def family(f: int) -> str:
    return ident("FAM", f)


def beneficiary(i: int, h: int, hv: int, pop: Population) -> Record:
    f = family_of(i)
    member = i % 3
    return {
        "name": f"{pick(FIRST, h)} {pick(LAST, h, 8)} {pick(LAST, f * 7 + 3)}",
        "cpf": digits(h >> 12, 11),
        "birth_date": day(h >> 20, 25_000, start=DAY_1930),
        "sex": pick("FM", h, 40),
        "card_number": f"0{digits(f * 1000 + member, 9)}{member}",
        "family_id": family(f),
        "holder_id": person(f * 3),
        "relationship": RELATIONSHIPS[member],
        "dependent_type_code": f"TDP{(1, 2, 4)[member]:03d}",
        "contract_id": ident("CTR", f % pop.contractor_count),
        "plan_id": ident("PLN", f % 12),
        "marital_status_code": f"ECV{(hv >> 24) % len(MARITAL) + 1:03d}",
        "email": f"beneficiario.{i}@{pick(('mail.com', 'exemplo.com.br', 'correio.net'), hv, 30)}",
        "phone": f"+55 31 9{digits(hv >> 33, 8)}",
        "active": True,
    }


def address(i: int, h: int, hv: int, pop: Population) -> Record:
    city, state = pick(CITIES, hv)
    return {
        "beneficiary_id": person(i),
        "street": pick(STREETS, hv, 8),
        "number": str((hv >> 16) % 3000 + 1),
        "complement": pick(("", "apto 101", "casa 2", "bloco B"), hv, 28),
        "district": pick(("Centro", "Savassi", "Boa Viagem", "Moinhos", "Batel"), hv, 36),
        "city": city,
        "state": state,
        "zip_code": digits(hv >> 40, 8),
        "kind": "residential",
    }


def grace_period(i: int, h: int, hv: int, pop: Population) -> Record:
    return {"beneficiary_id": person(i), "coverage": pick(COVERAGES, h), "ends_on": day(hv >> 8, 900, DAY_2024)}


def pending_document(i: int, h: int, hv: int, pop: Population) -> Record:
    return {
        "beneficiary_id": person(i * 10),
        "document": pick(DOCUMENTS, h),
        "requested_on": day(h >> 8, 500, DAY_2024),
        "status": pick(("pending", "pending", "received"), hv, 16),
    }


def leave(i: int, h: int, hv: int, pop: Population) -> Record:
    start = day(h >> 8, 700, DAY_2024)
    return {
        "beneficiary_id": person(i * 50),
        "kind": pick(LEAVES, h),
        "starts_on": start,
        "ends_on": day((h >> 8) % 700 + 120 + (hv >> 30) % 60, 10_000, DAY_2024),
    }


def debt_balance(i: int, h: int, hv: int, pop: Population) -> Record:
    f = i * 5
    overdue = (hv >> 8) % 4
    return {
        "family_id": family(f),
        "holder_id": person(f * 3),
        "overdue_boletos": overdue,
        "balance": money(overdue * (35_000 + (h >> 20) % 60_000)),
    }


def boleto(i: int, h: int, hv: int, pop: Population) -> Record:
    f, month = divmod(i, 3)
    return {
        "family_id": family(f),
        "holder_id": person(f * 3),
        "competence": f"2025-{month + 3:02d}",
        "due_on": f"2025-{month + 3:02d}-10",
        "amount": money(40_000 + (h >> 8) % 150_000),
        "status": pick(BOLETO_STATUS, hv, 24),
        "barcode": digits(h >> 16, 47),
    }


def statement(kind: str) -> Builder:
    def build(i: int, h: int, hv: int, pop: Population) -> Record:
        f, month = divmod(i, 3) if kind != "reimbursement" else (i, i % 3)
        member = f * 3 + (h % 3)
        return {
            "family_id": family(f),
            "beneficiary_id": person(member if member < pop.beneficiaries else f * 3),
            "competence": f"2025-{month + 3:02d}",
            "event_code": f"1010{digits(h >> 8, 4)}",
            "provider_id": ident("PRE", (h >> 24) % max(1, pop.providers)),
            "amount": money(2_000 + (hv >> 32) % 90_000),
            **({"status": pick(("requested", "paid", "denied"), hv, 40)} if kind == "reimbursement" else {}),
        }

    return build


DAY_1930 = 704_553  # date(1930, 1, 1).toordinal()
DAY_2024 = 738_886  # date(2024, 1, 1).toordinal()


def _families(pop: Population) -> int:
    return pop.families


SPECS = (
    EntitySpec("beneficiary", "BEN", lambda p: p.beneficiaries, beneficiary, base_gone=lambda i: i % 97 == 13),
    EntitySpec("beneficiary_address", "BAD", lambda p: p.beneficiaries, address),
    EntitySpec("grace_period", "CAR", lambda p: p.beneficiaries, grace_period),
    EntitySpec("pending_document", "PDC", lambda p: max(1, p.beneficiaries // 10), pending_document),
    EntitySpec("beneficiary_leave", "LIC", lambda p: max(1, p.beneficiaries // 50), leave),
    EntitySpec("debt_balance", "SDV", lambda p: max(1, p.families // 5), debt_balance),
    EntitySpec("boleto", "BOL", lambda p: p.families * 3, boleto),
    EntitySpec("coparticipation_statement", "COP", lambda p: p.families * 3, statement("coparticipation")),
    EntitySpec("reimbursement_statement", "REE", _families, statement("reimbursement")),
    EntitySpec("utilisation_statement", "UTI", lambda p: p.families * 3, statement("utilisation")),
    EntitySpec("marital_status", "ECV", *table("ECV", MARITAL)),
    EntitySpec("dependent_type", "TDP", *table("TDP", DEPENDENT_TYPES)),
)

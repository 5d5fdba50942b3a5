"""Provider-side entities: the accredited network, addresses, payments and protocols."""

from __future__ import annotations

from collections.abc import Callable

from sandbox.core_system.beneficiaries import CITIES, DAY_2024, FIRST, LAST, STREETS
from sandbox.core_system.model import Builder, EntitySpec, Population, Record, day, digits, ident, money, pick, table

SPECIALTIES = (
    "Cardiologia",
    "Clínica Médica",
    "Dermatologia",
    "Endocrinologia",
    "Gastroenterologia",
    "Ginecologia e Obstetrícia",
    "Neurologia",
    "Oftalmologia",
    "Ortopedia",
    "Otorrinolaringologia",
    "Pediatria",
    "Psiquiatria",
    "Radiologia",
    "Urologia",
    "Fisioterapia",
    "Psicologia",
    "Nutrição",
    "Fonoaudiologia",
    "Anestesiologia",
    "Oncologia",
)
PROVIDER_TYPES = (
    "Médico",
    "Clínica",
    "Hospital",
    "Laboratório",
    "Centro de Diagnóstico por Imagem",
    "Odontólogo",
    "Fisioterapeuta",
    "Psicólogo",
    "Pronto-Socorro",
    "Home Care",
)
DOCUMENT_TYPES = (
    "Alvará sanitário",
    "CNES",
    "Contrato social",
    "Diploma",
    "Registro no conselho",
    "Certidão negativa de débitos",
    "Comprovante de endereço",
    "Título de especialista",
    "Apólice de responsabilidade civil",
    "Cartão CNPJ",
    "RG",
    "CPF",
)
PROVIDER_TABLES = ("conselho", "area_atuacao", "titulacao")
APPLICANT_TABLES = ("servico", "equipamento")
DEACCREDITATION_REASONS = ("pedido do prestador", "descumprimento contratual", "encerramento das atividades")


def provider_id(i: int) -> str:
    return ident("PRE", i)


def specialty_codes(h: int) -> list[str]:
    return sorted({f"ESP{(h >> s) % len(SPECIALTIES) + 1:03d}" for s in (0, 8, 16)[: 1 + h % 3]})


def provider(i: int, h: int, hv: int, pop: Population) -> Record:
    kind = (h >> 4) % 10
    company = kind < 4
    return {
        "name": f"{pick(('Clínica', 'Hospital', 'Laboratório', 'Centro Médico'), h)} {pick(LAST, h, 8)}"
        if company
        else f"Dr(a). {pick(FIRST, h, 12)} {pick(LAST, h, 8)}",
        "person_kind": "legal" if company else "natural",
        "document": digits(h >> 16, 14 if company else 11),
        "council": None if company else {"name": "CRM", "number": digits(h >> 30, 6), "state": pick(CITIES, h)[1]},
        "provider_type_code": f"TPR{(2 if company else 1) + (h >> 40) % 3:03d}",
        "specialty_codes": specialty_codes(h >> 20),
        "accreditation_status": "accredited",
        "accredited_on": day(h >> 44, 3000, DAY_2024 - 3000),
        "phone": f"+55 31 3{digits(hv >> 24, 7)}",
        "email": f"contato{i}@prestador.com.br",
    }


def provider_address(i: int, h: int, hv: int, pop: Population) -> Record:
    city, state = pick(CITIES, h)
    return {
        "provider_id": provider_id(i),
        "street": pick(STREETS, hv, 8),
        "number": str((hv >> 16) % 2000 + 1),
        "district": "Centro",
        "city": city,
        "state": state,
        "zip_code": digits(hv >> 40, 8),
        "kind": "service",
    }


def care_network(i: int, h: int, hv: int, pop: Population) -> Record:
    full = provider(i, h, hv, pop)
    city, state = pick(CITIES, h)
    return {
        "provider_id": provider_id(i),
        "name": full["name"],
        "specialty_codes": full["specialty_codes"],
        "city": city,
        "state": state,
        "plan_ids": [ident("PLN", p) for p in range(12) if (h >> p) & 1],
    }


def deaccredited(i: int, h: int, hv: int, pop: Population) -> Record:
    full = provider(i, h, hv, pop)
    return {
        "provider_id": provider_id(i),
        "name": full["name"],
        "document": full["document"],
        "accreditation_status": "deaccredited",
        "reason": pick(DEACCREDITATION_REASONS, h, 50),
    }


def payment_doc(kind: str, per_provider: int) -> Builder:
    def build(i: int, h: int, hv: int, pop: Population) -> Record:
        p = i // per_provider
        record: Record = {
            "provider_id": provider_id(p),
            "protocol": f"{2025}{digits(i, 8)}",
            "competence": f"2025-{(i % 6) + 1:02d}",
            "amount": money(10_000 + (hv >> 8) % 2_000_000),
        }
        if kind == "bill":
            record["status"] = pick(("open", "audited", "paid"), hv, 30)
        elif kind == "with_tax_invoice":
            record["tax_invoice_number"] = digits(h >> 20, 9)
        elif kind == "denial_appeal":
            record["denied_amount"] = money((hv >> 40) % 50_000 + 500)
            record["appeal_deadline"] = day(h >> 12, 300, DAY_2024 + 365)
        elif kind == "preview":
            record["deductions"] = money((hv >> 44) % 20_000)
        return record

    return build


def _providers(per: int = 1) -> Callable[[Population], int]:
    return lambda pop: pop.providers * per


def _deaccredited_at_start(i: int) -> bool:
    return i % 25 == 7


SPECS = (
    EntitySpec("provider", "PRE", _providers(), provider, base_gone=_deaccredited_at_start),
    EntitySpec("provider_address", "PAD", _providers(), provider_address),
    EntitySpec("care_network", "PRE", _providers(), care_network, base_gone=_deaccredited_at_start, source="provider"),
    EntitySpec(
        "deaccredited_provider",
        "PRE",
        _providers(),
        deaccredited,
        base_gone=_deaccredited_at_start,
        source="provider",
        only_gone=True,
    ),
    EntitySpec("payment_preview", "PPG", _providers(2), payment_doc("preview", 2)),
    EntitySpec("provider_bill", "FAT", _providers(3), payment_doc("bill", 3)),
    EntitySpec("payment_pending_tax_invoice", "PNF", _providers(), payment_doc("pending_payment", 1)),
    EntitySpec("protocol_with_tax_invoice", "PAN", _providers(2), payment_doc("with_tax_invoice", 2)),
    EntitySpec("protocol_pending_tax_invoice", "PPN", _providers(), payment_doc("pending_protocol", 1)),
    EntitySpec("denial_appeal", "RGL", _providers(), payment_doc("denial_appeal", 1)),
    EntitySpec("specialty", "ESP", *table("ESP", SPECIALTIES)),
    EntitySpec("provider_type", "TPR", *table("TPR", PROVIDER_TYPES)),
    EntitySpec("provider_document_type", "TDC", *table("TDC", DOCUMENT_TYPES)),
    EntitySpec(
        "provider_reference_table", "TBP", *table("TBP", [f"{t} {n}" for t in PROVIDER_TABLES for n in range(1, 11)])
    ),
    EntitySpec(
        "applicant_reference_table", "TBR", *table("TBR", [f"{t} {n}" for t in APPLICANT_TABLES for n in range(1, 16)])
    ),
)

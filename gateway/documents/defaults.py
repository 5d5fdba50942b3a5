"""The firm's standard templates and the portal folder each goes to by default (seed 003:
"DAS → Fiscal > DAS, Resumo da Folha de Pagamento → Pessoal > Resumo Mensal, e assim por
diante"). Folders follow the portal's department tree; a folder missing in a client's tree
is created on the first delivery."""

from __future__ import annotations

from typing import NamedTuple


class DefaultTemplate(NamedTuple):
    name: str
    department: str
    folder_path: tuple[str, ...]


DEFAULT_TEMPLATES: tuple[DefaultTemplate, ...] = (
    # Contabilidade
    DefaultTemplate("Balancete", "Contabilidade", ("Contabilidade", "Balancetes")),
    DefaultTemplate("Balanço Patrimonial", "Contabilidade", ("Contabilidade", "Demonstrações")),
    DefaultTemplate(
        "DRE - Demonstração do Resultado do Exercício", "Contabilidade", ("Contabilidade", "Demonstrações")
    ),
    DefaultTemplate("DFC - Demonstração dos Fluxos de Caixa", "Contabilidade", ("Contabilidade", "Demonstrações")),
    DefaultTemplate("Livro Diário", "Contabilidade", ("Contabilidade", "Livros Contábeis")),
    DefaultTemplate("Livro Razão", "Contabilidade", ("Contabilidade", "Livros Contábeis")),
    # Fiscal
    DefaultTemplate("DAS", "Fiscal", ("Fiscal", "DAS")),
    DefaultTemplate("DARF", "Fiscal", ("Fiscal", "Guias")),
    DefaultTemplate("Guia de ICMS", "Fiscal", ("Fiscal", "Guias")),
    DefaultTemplate("Guia de ISS", "Fiscal", ("Fiscal", "Guias")),
    DefaultTemplate("Livro de Registro de Entradas", "Fiscal", ("Fiscal", "Livros Fiscais")),
    DefaultTemplate("Livro de Registro de Saídas", "Fiscal", ("Fiscal", "Livros Fiscais")),
    DefaultTemplate("Livro de Apuração do ICMS", "Fiscal", ("Fiscal", "Livros Fiscais")),
    # Pessoal
    DefaultTemplate("Resumo da Folha de Pagamento", "Pessoal", ("Pessoal", "Resumo Mensal")),
    DefaultTemplate("Holerite", "Pessoal", ("Pessoal", "Holerites")),
    DefaultTemplate("Guia do FGTS", "Pessoal", ("Pessoal", "Guias")),
    DefaultTemplate("DARF Previdenciário", "Pessoal", ("Pessoal", "Guias")),
    DefaultTemplate("Recibo de Férias", "Pessoal", ("Pessoal", "Férias")),
    DefaultTemplate("Termo de Rescisão", "Pessoal", ("Pessoal", "Rescisões")),
)

DEFAULT_BY_NAME = {t.name.casefold(): t for t in DEFAULT_TEMPLATES}

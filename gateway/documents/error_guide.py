"""The delivery error guide ("ERROS INTEGRAÇÃO PORTAL DO CLIENTE"): what each code means and how
to fix it, in Brazilian Portuguese and English.

Every ``error_code`` a delivery can end with has an entry here (a test reads the codes the
delivery code raises and checks each one), and each failed delivery links to its entry.
"""

from __future__ import annotations

from typing import Literal

import msgspec

Language = Literal["pt-BR", "en"]
LANGUAGES: tuple[Language, ...] = ("en", "pt-BR")  # the first is the default
GUIDE_PATH = "/v1/document-deliveries/error-codes"


class GuideText(msgspec.Struct, frozen=True):
    title: str
    meaning: str
    fix: str
    who: str  # who must act to fix it


class GuideEntry(msgspec.Struct, frozen=True):
    status: Literal["failed", "skipped"]
    retry: bool  # whether retrying after the fix delivers it (POST .../retry)
    texts: dict[str, GuideText]


def _entry(status: Literal["failed", "skipped"], retry: bool, pt: GuideText, en: GuideText) -> GuideEntry:
    return GuideEntry(status, retry, {"pt-BR": pt, "en": en})


ADMIN_PT = "Administrador do escritório no Portal do Cliente"
ADMIN_EN = "The firm's Portal do Cliente administrator"

ENTRIES: dict[str, GuideEntry] = {
    "template_unmapped": _entry(
        "failed",
        True,
        GuideText(
            "Template sem pasta de destino",
            "O template do documento não está vinculado a uma pasta de destino ('Nenhuma pasta selecionada').",
            "Vincule o template a uma pasta (individualmente, em lote ou com as pastas padrão) e reenvie.",
            "Quem configura os templates de documentos no escritório",
        ),
        GuideText(
            "Template has no destination folder",
            "The document's template is not mapped to a portal folder ('Nenhuma pasta selecionada').",
            "Map the template to a folder (one by one, in bulk, or with the default folders), then retry.",
            "Whoever configures the firm's document templates",
        ),
    ),
    "portal_unchecked": _entry(
        "failed",
        True,
        GuideText(
            "Conexão com o Portal do Cliente não verificada",
            "A integração vem ativada, mas nenhum documento é enviado até a conexão com o portal ser verificada.",
            "Informe o token do portal e verifique a conexão (POST /v1/document-portal/integration/check); "
            "vincule os templates sem pasta e reenvie.",
            ADMIN_PT,
        ),
        GuideText(
            "Portal connection not checked",
            "The integration is on, but nothing is sent until the portal connection has been checked.",
            "Set the portal token and check the connection (POST /v1/document-portal/integration/check); "
            "map the templates without a folder, then retry.",
            ADMIN_EN,
        ),
    ),
    "integration_disabled": _entry(
        "skipped",
        False,
        GuideText(
            "Integração desativada",
            "A integração com o Portal do Cliente estava desativada quando a tarefa foi concluída.",
            "Ative a integração; documentos de tarefas concluídas depois disso serão enviados.",
            ADMIN_PT,
        ),
        GuideText(
            "Integration disabled",
            "The client-portal integration was disabled when the task was completed.",
            "Enable the integration; documents of tasks completed afterwards are delivered.",
            ADMIN_EN,
        ),
    ),
    "accounting_integration": _entry(
        "skipped",
        False,
        GuideText(
            "Já enviado pelo sistema contábil",
            "O documento veio da integração do sistema contábil, que já o publicou no portal; não é reenviado.",
            "Nada a fazer: o documento já está no Portal do Cliente.",
            "Ninguém",
        ),
        GuideText(
            "Already sent by the accounting system",
            "The document came from the accounting system's own integration, which already published it.",
            "Nothing to do: the document is already in the client portal.",
            "Nobody",
        ),
    ),
    "client_not_found": _entry(
        "failed",
        True,
        GuideText(
            "Cliente não encontrado no portal",
            "O cliente vinculado à tarefa não existe no Portal do Cliente do escritório.",
            "Cadastre o cliente no portal ou corrija o cliente da tarefa, e reenvie.",
            ADMIN_PT,
        ),
        GuideText(
            "Client not found in the portal",
            "The task's client does not exist in the firm's client portal.",
            "Register the client in the portal or fix the task's client, then retry.",
            ADMIN_EN,
        ),
    ),
    "permission_denied": _entry(
        "failed",
        True,
        GuideText(
            "Funcionário sem permissão na pasta do cliente",
            "O funcionário que concluiu a tarefa não tem permissão na pasta de destino deste cliente "
            "(ou o acesso ao cliente ou ao departamento está bloqueado).",
            "Conceda ao funcionário (campo 'employee' da entrega) permissão na pasta do cliente no Portal do "
            "Cliente (Usuários > Permissões) e reenvie.",
            "O administrador do escritório no Portal do Cliente deve conceder a permissão ao funcionário",
        ),
        GuideText(
            "Employee lacks permission on the client's folder",
            "The employee who completed the task has no permission on this client's destination folder "
            "(or access to the client or its department is blocked).",
            "Grant the employee (the delivery's 'employee') permission on the client's folder in the client "
            "portal (Users > Permissions), then retry.",
            "The firm's Portal do Cliente administrator must grant the employee the permission",
        ),
    ),
    "unauthorized": _entry(
        "failed",
        True,
        GuideText(
            "Token do portal recusado",
            "O Portal do Cliente recusou o token da integração (revogado ou inválido).",
            "Gere um novo token no portal, informe-o na integração e reenvie.",
            ADMIN_PT,
        ),
        GuideText(
            "Portal token refused",
            "The client portal refused the integration's token (revoked or invalid).",
            "Issue a new token in the portal, set it on the integration, then retry.",
            ADMIN_EN,
        ),
    ),
    "content_unavailable": _entry(
        "failed",
        True,
        GuideText(
            "Conteúdo do documento indisponível",
            "Não foi possível obter o arquivo do documento (ausente, removido ou base64 inválido).",
            "Anexe o documento novamente na tarefa e conclua-a outra vez.",
            "O funcionário que concluiu a tarefa",
        ),
        GuideText(
            "Document content unavailable",
            "The document's file could not be obtained (missing, removed, or invalid base64).",
            "Attach the document to the task again and complete it again.",
            "The employee who completed the task",
        ),
    ),
    "checksum_mismatch": _entry(
        "failed",
        False,
        GuideText(
            "Conteúdo diferente do esperado",
            "O arquivo obtido não corresponde ao sha256 enviado com ele; nada foi enviado ao portal.",
            "Anexe o documento correto na tarefa e conclua-a outra vez.",
            "O funcionário que concluiu a tarefa",
        ),
        GuideText(
            "Content does not match its checksum",
            "The file obtained does not match the sha256 sent with it; nothing was sent to the portal.",
            "Attach the right document to the task and complete it again.",
            "The employee who completed the task",
        ),
    ),
    "portal_unavailable": _entry(
        "failed",
        True,
        GuideText(
            "Portal do Cliente indisponível",
            "O portal não respondeu após todas as tentativas.",
            "Aguarde o portal voltar e reenvie.",
            "Ninguém no escritório: aguarde e reenvie",
        ),
        GuideText(
            "Client portal unavailable",
            "The portal did not answer after every attempt.",
            "Wait until the portal is back, then retry.",
            "Nobody at the firm: wait and retry",
        ),
    ),
    "name_contention": _entry(
        "failed",
        True,
        GuideText(
            "Muitos envios simultâneos do mesmo nome",
            "Muitas entregas disputaram o mesmo nome de arquivo na mesma pasta ao mesmo tempo.",
            "Reenvie; a entrega recebe o próximo nome livre, como 'Nome (n).ext'.",
            "Ninguém no escritório: reenvie",
        ),
        GuideText(
            "Too many concurrent deliveries of one name",
            "Many deliveries contended for the same file name in the same folder at once.",
            "Retry; the delivery takes the next free name, like 'Name (n).ext'.",
            "Nobody at the firm: retry",
        ),
    ),
    "invalid_name": _entry(
        "failed",
        False,
        GuideText(
            "Nome de arquivo ou pasta inválido",
            "O portal recusou o nome do arquivo ou de uma pasta (vazio ou com '/').",
            "Renomeie o documento ou a pasta de destino do template e conclua a tarefa outra vez.",
            "Quem configura os templates de documentos no escritório",
        ),
        GuideText(
            "Invalid file or folder name",
            "The portal refused the file's or a folder's name (empty or containing '/').",
            "Rename the document or the template's destination folder and complete the task again.",
            "Whoever configures the firm's document templates",
        ),
    ),
    "folder_not_found": _entry(
        "failed",
        True,
        GuideText(
            "Pasta removida no portal",
            "A pasta de destino foi removida no portal durante o envio; a entrega tenta de novo sozinha.",
            "Se persistir, verifique a pasta de destino do template e reenvie.",
            "Quem configura os templates de documentos no escritório",
        ),
        GuideText(
            "Folder removed in the portal",
            "The destination folder was removed in the portal during the delivery; it retries by itself.",
            "If it persists, check the template's destination folder, then retry.",
            "Whoever configures the firm's document templates",
        ),
    ),
    "partner_rejected": _entry(
        "failed",
        True,
        GuideText(
            "Recusado pelo portal",
            "O portal recusou o envio por um motivo que não tem código próprio; veja o detalhe do erro.",
            "Corrija conforme o detalhe do erro e reenvie.",
            ADMIN_PT,
        ),
        GuideText(
            "Refused by the portal",
            "The portal refused the delivery for a reason without its own code; see the error detail.",
            "Fix what the error detail says, then retry.",
            ADMIN_EN,
        ),
    ),
    "internal": _entry(
        "failed",
        True,
        GuideText(
            "Erro interno do Ponte",
            "Um erro inesperado interrompeu a entrega em todas as tentativas.",
            "Reenvie; se persistir, informe o operador do Ponte com o id da entrega.",
            "O operador do Ponte",
        ),
        GuideText(
            "Ponte internal error",
            "An unexpected error interrupted the delivery on every attempt.",
            "Retry; if it persists, tell the Ponte operator the delivery's id.",
            "The Ponte operator",
        ),
    ),
}


def guide_link(code: str | None) -> str | None:
    """The path of a code's guide entry; None when there is no error or no entry for it."""
    return f"{GUIDE_PATH}/{code}" if code in ENTRIES else None


def negotiate(accept_language: str | None) -> Language:
    """The guide's language for an ``Accept-Language`` header (RFC 9110 q-values; ``pt`` and any
    ``pt-*`` get pt-BR, the only Portuguese there is). English when nothing acceptable is asked."""
    best: tuple[float, int, Language] | None = None
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        primary = tag.strip().lower().split("-")[0]
        language: Language | None = "pt-BR" if primary == "pt" else "en" if primary in ("en", "*") else None
        if language is None or q <= 0:
            continue
        if best is None or (q, -position) > (best[0], best[1]):
            best = (q, -position, language)
    return best[2] if best else LANGUAGES[0]

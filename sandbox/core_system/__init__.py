"""The health plan's core system ("o Saúde"), as the portal synchronisations see it.

    GET  /core/health | /core/ping          check call (credentials checked); says the system's
                                            edition (standard | MG) and its TISS tables_version
    GET  /core/{entity}?changed_since=&cursor=&limit=
    POST /core/requests, GET /core/requests?changed_since=&kind=, GET /core/requests/{id}
    GET|PUT /core/_config, POST /core/_mutate   sizes, clock, edition, tables_version, changes

Auth: ``Authorization: Bearer sandbox-<operator>``; each operator has its own data and state.
"""

from sandbox.core_system.routes import router

__all__ = ["router"]

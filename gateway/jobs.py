"""Every domain's task handlers, imported once so the registry is complete in workers."""

import gateway.models  # noqa: F401 - the full metadata, so foreign keys resolve in every process
import gateway.tasks.builtin  # noqa: F401
import gateway.webhooks.jobs  # noqa: F401
import gateway.documents.jobs  # noqa: F401
import gateway.portal.jobs  # noqa: F401
import gateway.imports.jobs  # noqa: F401
import gateway.reconciliation.jobs  # noqa: F401

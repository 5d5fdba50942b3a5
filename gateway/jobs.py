"""Every domain's task handlers, imported once so the registry is complete in workers.

The model metadata comes first, so foreign keys between domains resolve in every process.
"""

import gateway.documents.jobs
import gateway.events.emitters
import gateway.imports.jobs
import gateway.models
import gateway.portal.jobs
import gateway.reconciliation.jobs
import gateway.tasks.builtin
import gateway.webhooks.jobs

"""Document delivery to the client portal (seed 003): templates mapped to portal folders,
one delivery per document of a completed task, a failure dashboard with retries."""

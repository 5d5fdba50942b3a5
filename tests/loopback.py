"""The egress policy of the test settings, for tests that build partner clients by hand."""

from gateway.egress import EgressPolicy, parse_allowlist

# The sandbox and the other test servers listen on 127.0.0.1, over plain http.
LOOPBACK_ALLOW = "127.0.0.1/32"
LOOPBACK_EGRESS = EgressPolicy(allow=parse_allowlist([LOOPBACK_ALLOW]), allow_http=True)

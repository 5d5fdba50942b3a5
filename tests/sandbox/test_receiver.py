"""The sandbox's tenant receiver: verifies with the reference library, records, injects faults."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
from standardwebhooks import Webhook

OLD, NEW = "whsec_" + "b2xkLXNlY3JldC1vbGQtc2VjcmV0LW9sZA==", "whsec_" + "bmV3LXNlY3JldC1uZXctc2VjcmV0LW5ldw=="


def signed(secret: str, body: bytes = b'{"type":"ping","data":{}}') -> dict[str, str]:
    msg_id, now = f"evt_{uuid.uuid4().hex}", datetime.now(UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, now, body.decode()),
    }


def test_receiver_verifies_records_and_injects_faults(sandbox) -> None:
    name = f"t-{uuid.uuid4().hex[:8]}"
    base = f"{sandbox.url}/receiver"
    body = b'{"type":"ping","data":{}}'
    with httpx.Client(base_url=base, timeout=10) as http:
        assert http.post(f"/{name}", content=body, headers=signed(OLD)).status_code == 404  # not configured
        http.put(f"/_receivers/{name}", json={"secrets": [NEW, OLD]}).raise_for_status()
        ok = signed(OLD)
        assert http.post(f"/{name}", content=body, headers=ok).status_code == 200  # any configured secret
        assert http.post(f"/{name}", content=body, headers=signed("whsec_" + "b3RoZXI=")).status_code == 401
        for config, status in [
            ({"error_rate": 1.0}, 500),
            ({"down": True}, 503),
            ({"gone": True}, 410),
            ({"timeout_rate": 1.0, "timeout_s": 0.2}, 504),
        ]:
            http.put(f"/_receivers/{name}", json={"secrets": [NEW], **config}).raise_for_status()
            assert http.post(f"/{name}", content=body, headers=signed(NEW)).status_code == status
        items = http.get(f"/_receivers/{name}/received").json()["items"]
        assert [i["status"] for i in items] == [200, 401, 500, 503, 410, 504]
        assert [i["verified"] for i in items] == [True, False, True, True, True, True]
        assert items[0]["type"] == "ping"
        assert http.get(f"/_receivers/{name}/accepted").json()["ids"] == [ok["webhook-id"]]
        http.delete(f"/_receivers/{name}").raise_for_status()
        assert http.get(f"/_receivers/{name}").json() == {"exists": False}

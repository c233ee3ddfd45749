"""ERP endpoints and local peers for the outbox tests (configured through the service the admin calls)."""

from orders.models import ErpEndpoint
from orders.services.outbox import erp_endpoint_save
from tests.channels.erp_peer import ErpPeer

WEBHOOK_SECRET = "erp-webhook-secret-密钥"


def endpoint(peer: ErpPeer, *, kind: str = "webhook", **fields) -> ErpEndpoint:
    defaults = {
        "name": f"{kind}-{peer.server.server_address[1]}",
        "kind": kind,
        "url": peer.url,
        "secret": WEBHOOK_SECRET,
        "max_attempts": 3,
        "timeout_seconds": 2,
    }
    if kind == "qimen":
        defaults |= {
            "app_key": "qm-app",
            "qimen_customer_id": "C001",
            "qimen_warehouse_code": "WH01",
            "qimen_owner_code": "OWNER1",
        }
    if kind == "jushuitan":
        defaults |= {"app_key": "jst-app", "jst_access_token": "token", "jst_shop_id": "10086"}
    return erp_endpoint_save(endpoint=ErpEndpoint(**(defaults | fields)), actor=None)

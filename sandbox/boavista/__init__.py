"""Boavista, the card-reconciliation integrator (seed 004), as a sandbox partner under ``/boavista``.

Partner API (REST/JSON, ``Authorization: Bearer <token>``; the token is per establishment).
Errors are ``{"status_code", "detail", "extra": {"error": code}}`` with code
establishment_not_found (404), unauthorized (401), remittance_not_found (404),
remittance_conflict (409) or invalid_request (400); a malformed body is a plain 400.

    GET  /boavista/establishments/{code}
         -> {"establishment_code", "terminals": [{"terminal_id", "acquirer"}], "webhook_url"}
    GET  /boavista/establishments/{code}/sales?from=YYYY-MM-DD&to=YYYY-MM-DD&cursor=&limit=
         Local business days (config timezone), both inclusive, at most 31, clamped at "today";
         limit 1..5000 (default 500). Ordered by day, then sold_at.
         -> {"items": [AcquirerSale], "next_cursor": str | null}
         AcquirerSale = {"acquirer_sale_id": "CIE240510...", "sold_at": "2024-05-10T13:45:12Z",
             "gross_amount_cents": 4590, "currency": "BRL", "installments": 1,
             "brand": visa|mastercard|elo|amex|hipercard|alelo|ticket|vr|pluxee,
             "payment_type": credit|debit|voucher|digital_wallet, "nsu": "000017",
             "authorization_code": "031415", "terminal_id": "52341001",
             "acquirer": cielo|rede|stone|getnet|pagseguro|safrapay}
         NSU is a per-terminal daily sequence and authorization codes repeat: neither is a key.
         Only acquirer_sale_id is unique (a duplicated sale appears under two ids).
    PUT  /boavista/establishments/{code}/webhook  {"url": "http://...", "secret": "whsec_..."}
         -> {"establishment_code", "url"}
    POST /boavista/establishments/{code}/remittances  {"remittance_id": "...", "items": [ErpSale]}
         ErpSale = {"sale_id", "sold_at", "gross_amount_cents", "installments", "brand",
             "payment_type", "nsu", "authorization_code", "terminal_id"} (extra fields ignored)
         -> 202 {"protocol": "BV2024051000000001", "remittance_id", "establishment_code",
                 "received_at", "item_count", "status": "received"|"returned"}
         Idempotent on remittance_id: the same id and items answer the first receipt and are
         processed once; the same id with other items -> 409.
    GET  /boavista/establishments/{code}/remittances/{remittance_id}
         -> receipt + {"items": [ReturnItem] | null}   (polling fallback for a lost webhook)

The return, ``return_delay_s`` after intake, is POSTed to the establishment's webhook URL, signed
with Standard Webhooks (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``), retried
after each of ``retry_delays_s`` on non-2xx or connection errors:

    {"type": "remittance.returned", "timestamp": ISO,
     "data": {"establishment_code", "remittance_id", "protocol", "returned_at",
              "items": [ReturnItem]}}
    ReturnItem = {"sale_id", "status": "matched"|"divergent",
                  "reason": null|"authorization"|"installments"|"amount"|"not_found"|"duplicate"|"nsu",
                  "acquirer_sale_id": str | null, "detail": str}

Test-only routes (no token):

    GET|PUT /boavista/_config   {"seed", "sales_per_day" (50), "today" (null = real today),
            "timezone" ("America/Sao_Paulo"), "divergence_rate" (0.02),
            "not_found_reported_after_days" (null: a not_found sale is never reported; n: its
            acquirer record appears n days after the sale), "return_delay_s" (0.2),
            "retry_delays_s" ([0.2, 0.5, 1, 2])}; PUT merges, omitted fields keep their value.
    GET  /boavista/_establishments              -> [{"establishment_code", "token"}]
    PUT  /boavista/_establishments/{code}       register another establishment -> {.., "token"}
    GET  /boavista/_erp_sales/{code}?day=&cursor=&limit=&corrected=
         limit 1..100000 (default 10000) -> {"establishment_code", "day", "items": [ErpSale],
         "divergences": {sale_id: reason}, "next_cursor": int | null}
         About ``divergence_rate`` of the ERP's sales diverge, evenly across the six reasons;
         ``corrected=true`` gives the copies after a person fixed them (they then match, except
         not_found and duplicate, which only the acquirer can fix).
    GET  /boavista/_deliveries?remittance_id=   webhook messages with their attempts
    POST /boavista/_resend/{remittance_id}?establishment=        same message again (same webhook-id)
    POST /boavista/_return_again/{remittance_id}?establishment=  a second return (new webhook-id)
    DELETE /boavista/_remittances/{remittance_id}?establishment= Boavista loses the remittance
"""

from sandbox.boavista.routes import router

__all__ = ["router"]

"""schemathesis hooks for .ci/schemathesis.sh.

Placing an order with an Idempotency-Key used before (and another body) is refused by design
(422), and the generator repeats short keys often; so a valid generated key is made unique,
letting generated orders actually be placed. Invalid keys are left as generated, so their
rejection is still tested.

`POST /v1/admin/backup` writes a backup into the directory its body names, on this machine: a
valid generated directory is moved under $ST_BACKUP_ROOT (a fresh one per request, inside the
run's throwaway directory), so the run writes nowhere else and the backups are actually made.
Before every call, whatever phase generated the case. Invalid bodies are left as generated.
"""

import os
import re
import uuid

import schemathesis

VALID_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


@schemathesis.hook
def map_headers(ctx, headers):
    if headers is None:
        return headers
    for name in list(headers):
        if name.lower() == "idempotency-key" and isinstance(headers[name], str) and VALID_KEY.match(headers[name]):
            headers[name] = f"st-{uuid.uuid4().hex}"
    return headers


BACKUP_ROOT = os.environ.get("ST_BACKUP_ROOT")


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    operation = getattr(case, "operation", None)
    if getattr(operation, "path", None) != "/v1/admin/backup" or not BACKUP_ROOT:
        return
    body = case.body
    if isinstance(body, dict) and isinstance(body.get("dir"), str):
        d = body["dir"]
        if d.startswith("/") and len(d) >= 2 and "\x00" not in d and len(d) <= 4096:
            body["dir"] = f"{BACKUP_ROOT}/{uuid.uuid4().hex}"

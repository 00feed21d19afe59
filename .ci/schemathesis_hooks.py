"""schemathesis hooks for .ci/schemathesis.sh.

Placing an order with an Idempotency-Key used before (and another body) is refused by design
(422), and the generator repeats short keys often; so a valid generated key is made unique,
letting generated orders actually be placed. Invalid keys are left as generated, so their
rejection is still tested.
"""

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

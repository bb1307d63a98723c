"""A Vertex stack's Google credentials, its own: never the process's default unless it says so.

`default`: the machine's Application Default Credentials. `key`: a service-account key (its JSON)
kept as one of the stack's encrypted secrets, named by `credentials_secret`; the control plane keeps it
to itself (jobs run as the stack's `service_account`, never with the key). `impersonate`: the default
credentials (or the key, if the stack has one) act as `impersonate_service_account`.
"""

from __future__ import annotations

import json
from typing import Any

SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]


def stack_credentials(config: Any, secrets: dict[str, str]) -> Any:
    """The credentials every client of the stack uses; None means the machine's default."""
    if config.credentials == "default":
        return None
    key = secrets.get(config.credentials_secret)
    source = None
    if key:
        from google.oauth2 import service_account

        try:
            info = json.loads(key)
        except ValueError:
            raise ValueError(f"secret {config.credentials_secret} is not a service-account key (JSON)") from None
        source = service_account.Credentials.from_service_account_info(info, scopes=SCOPES)
    elif config.credentials == "key":
        raise ValueError(f"credentials is key, but the stack has no secret {config.credentials_secret}")
    if config.credentials == "key":
        return source
    import google.auth
    from google.auth import impersonated_credentials

    if source is None:
        source, _ = google.auth.default(scopes=SCOPES)
    return impersonated_credentials.Credentials(
        source_credentials=source, target_principal=config.impersonate_service_account, target_scopes=SCOPES
    )

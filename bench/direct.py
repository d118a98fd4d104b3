"""The direct path every maker builds today: per request, mint a token, then call the action.

This is what a Power Automate flow with two HTTP actions (or a naive function) does, written with plain
`requests` and a pooled session so that the comparison measures the approach, not connection set-up.
"""

from __future__ import annotations

import json

import requests

from availability.dataverse.wire import BEFORE_CONVERSATION


class DirectPath:
    """Token request + action call per check, against an org, its tenant and app registration."""

    def __init__(self, org_url: str, authority: str, tenant_id: str, client_id: str, client_secret: str,
                 ca_bundle: str) -> None:
        self.org_url = org_url.rstrip("/")
        self.token_url = f"{authority.rstrip('/')}/{tenant_id}/oauth2/v2.0/token"
        self.client_id = client_id
        self.client_secret = client_secret
        self.session = requests.Session()
        self.session.mount("https://", requests.adapters.HTTPAdapter(pool_maxsize=64))
        self.verify = ca_bundle

    def token(self) -> str:
        response = self.session.post(self.token_url, verify=self.verify, timeout=30, data={
            "grant_type": "client_credentials", "client_id": self.client_id,
            "client_secret": self.client_secret, "scope": f"{self.org_url}/.default"})
        response.raise_for_status()
        return response.json()["access_token"]

    def action(self, token: str, workstream_id: str, context: dict | None = None) -> dict:
        body = {"ApiVersion": "1.0", "LiveWorkStreamId": workstream_id}
        if context:
            body["CustomContextItems"] = json.dumps(
                {k: {"value": v, "isDisplayable": True, "datatype": "192350000"} for k, v in context.items()})
        response = self.session.post(f"{self.org_url}/api/data/v9.2/{BEFORE_CONVERSATION}", json=body,
                                     verify=self.verify, timeout=30,
                                     headers={"Authorization": f"Bearer {token}", "Accept": "application/json",
                                              "OData-MaxVersion": "4.0", "OData-Version": "4.0"})
        response.raise_for_status()
        return response.json()

    def check(self, workstream_id: str, context: dict | None = None) -> dict:
        """One check the direct way: a fresh token, then the action."""
        return self.action(self.token(), workstream_id, context)

"""Every request and answer shape of the HTTP API, written once as JSON Schema (draft 2020-12).

The request checks (`checks.py`) validate bodies with these very dicts, and both published documents
(`availability.openapi`: OpenAPI 3.1, whose schema dialect is this one, and the connector's Swagger 2.0) are
built from them, so what the API accepts and what its description says cannot drift apart. Beside JSON Schema
a node may carry private keys, which the validator never sees and the documents drop or translate: `_subject`
and `_messages` word the 400 a value gets there (see `checks.py`), `_visibility` becomes the connector's
`x-ms-visibility`, `_enum_names` (value → display name) its `x-ms-enum-values`, `_pick` (`workstream`) a
dropdown filled from the org's workstreams, and `_swagger` holds keys that replace the node's own in Swagger 2.0
(None drops a key), where JSON Schema says more than Swagger can (`oneOf`, `propertyNames`, `if`/`then`).

One module per family of endpoints (`availability`, `escalation`, `history`, `web`, `subscriptions`,
`besttimes`, `health`, `workstreams`), the fields of a check (`fields`), the error body (`error`) and what they all
share (`core`). Nothing is built at import; `components()` builds the shapes once, on first use.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from .availability import availability_shapes
from .besttimes import best_times_shapes
from .core import (
    ALIAS_PATTERN,
    CALLBACK_PATTERN,
    DELIVERY_HEADER,
    DIALECT,
    EXAMPLE_CONVERSATION,
    EXAMPLE_QUEUE,
    EXAMPLE_SUBSCRIPTION,
    EXAMPLE_WORKSTREAM,
    GUID_PATTERN,
    INT_MAX,
    INT_MIN,
    MAX_BATCH,
    MAX_BODY_BYTES,
    MAX_CALLBACK_LENGTH,
    MAX_CONTEXT_ITEMS,
    MAX_NAME_LENGTH,
    MAX_SUBSCRIPTIONS_PER_WORKSTREAM,
    MAX_VALUE_LENGTH,
    SCHEMA_PREFIX,
    SIGNATURE_HEADER,
    TIMED_SIGNATURE_HEADER,
    public,
    ref,
)
from .error import error_shapes
from .escalation import escalation_shapes
from .fields import field_shapes
from .health import health_shapes
from .history import history_shapes
from .subscriptions import subscription_shapes
from .web import web_shapes
from .workstreams import workstream_shapes

__all__ = [
    "ALIAS_PATTERN",
    "CALLBACK_PATTERN",
    "DELIVERY_HEADER",
    "DIALECT",
    "EXAMPLE_CONVERSATION",
    "EXAMPLE_QUEUE",
    "EXAMPLE_SUBSCRIPTION",
    "EXAMPLE_WORKSTREAM",
    "GUID_PATTERN",
    "INT_MAX",
    "INT_MIN",
    "MAX_BATCH",
    "MAX_BODY_BYTES",
    "MAX_CALLBACK_LENGTH",
    "MAX_CONTEXT_ITEMS",
    "MAX_NAME_LENGTH",
    "MAX_SUBSCRIPTIONS_PER_WORKSTREAM",
    "MAX_VALUE_LENGTH",
    "SCHEMA_PREFIX",
    "SIGNATURE_HEADER",
    "TIMED_SIGNATURE_HEADER",
    "components",
    "public",
    "ref",
]


@lru_cache(maxsize=1)
def components() -> dict[str, dict[str, Any]]:
    """Every shape by name, with its private keys: treat as read-only (use `public()` for a copy)."""
    return {
        **field_shapes(),
        **availability_shapes(),
        **escalation_shapes(),
        **history_shapes(),
        **error_shapes(),
        **web_shapes(),
        **subscription_shapes(),
        **best_times_shapes(),
        **health_shapes(),
        **workstream_shapes(),
    }

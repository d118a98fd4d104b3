"""The Dynamics 365 org: its client (the two availability actions, discovery queries), the credential that
feeds it tokens, and the pooled HTTP session it talks through."""

from .client import DataverseClient
from .credential import DataverseCredential
from .session import pooled_session
from .wire import ACTIONS, BEFORE_CONVERSATION, FOR_CONVERSATION

__all__ = ["DataverseClient", "DataverseCredential", "pooled_session", "ACTIONS", "BEFORE_CONVERSATION",
           "FOR_CONVERSATION"]

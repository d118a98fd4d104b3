"""The Dynamics 365 org: its client (the two availability actions, discovery queries) and the credential that
feeds it tokens."""

from .client import DataverseClient
from .credential import DataverseCredential
from .wire import ACTIONS, BEFORE_CONVERSATION, FOR_CONVERSATION

__all__ = ["ACTIONS", "BEFORE_CONVERSATION", "FOR_CONVERSATION", "DataverseClient", "DataverseCredential"]

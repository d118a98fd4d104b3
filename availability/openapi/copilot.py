"""What Copilot Studio takes beside the connector: the app's MCP server as a connector, and a ready Escalate topic.

- `mcp/apiDefinition.swagger.json` and `mcp/apiProperties.json`: a custom connector of one operation marked
  `x-ms-agentic-protocol: mcp-streamable-1.0` at the Functions MCP extension's endpoint (`/runtime/webhooks/mcp`),
  keyed with its system key. An agent with generative orchestration takes the tools, their descriptions and
  inputs from the server itself (Microsoft Learn, "Connect your agent to an existing MCP server"; the template
  microsoft/PowerPlatformConnectors custom-connectors/MCP-Streamable-HTTP).
- `topics/escalate.yaml`: the Escalate topic for the topic code editor: an HTTP request to
  `POST /api/escalation/decision`, a branch on `decision`, `message` said as is, the transfer when escalating.
  Its branches, the decision's fields it reads and its URL come from the definitions the API answers with.
"""

from __future__ import annotations

from typing import Any

from .. import __version__
from .connection import DEFINITION_HOST, properties
from .operations import TITLE
from .publisher import Publisher

__all__ = ["MCP_PROPERTIES_FILE", "MCP_SWAGGER_FILE", "TOPIC_FILE", "escalate_topic", "mcp_api_properties",
           "mcp_swagger_document"]

MCP_SWAGGER_FILE = "mcp/apiDefinition.swagger.json"
MCP_PROPERTIES_FILE = "mcp/apiProperties.json"
TOPIC_FILE = "topics/escalate.yaml"
MCP_BASE_PATH, MCP_PATH = "/runtime/webhooks", "/mcp"
DECISION_PATH = "/api/escalation/decision"
MCP_DESCRIPTION = (
    "Tells an agent whether a human representative of the contact center can take the customer now, and decides "
    "whether to escalate: the decision, its reason, a sentence to say in the customer's language, the expected wait "
    "as a range and the next opening. Tools: decide_escalation, check_availability, check_conversation_availability."
)


def mcp_swagger_document() -> dict[str, Any]:
    """The MCP server as a Power Platform custom connector (Swagger 2.0), for any function app: its host is a
    connection parameter, as the main connector's is."""
    return {
        "swagger": "2.0",
        "info": {"title": "Availability MCP Server", "description": MCP_DESCRIPTION, "version": __version__},
        "host": DEFINITION_HOST,
        "basePath": MCP_BASE_PATH,
        "schemes": ["https"],
        "consumes": [],
        "produces": [],
        "paths": {
            MCP_PATH: {
                "post": {
                    "summary": f"{TITLE} MCP server",
                    "description": "The app's MCP server (streamable HTTP): decide whether to escalate a customer to "
                                   "a representative, and check availability.",
                    "x-ms-agentic-protocol": "mcp-streamable-1.0",
                    "operationId": "InvokeMCP",
                    "responses": {"200": {"description": "Success"}},
                },
            },
        },
        "securityDefinitions": {
            "api_key": {"type": "apiKey", "in": "header", "name": "x-functions-key",
                        "description": "The function app's system key mcp_extension (the MCP extension's key)."},
        },
        "security": [{"api_key": []}],
    }


def mcp_api_properties(publisher: Publisher | None = None) -> dict[str, Any]:
    """The MCP connector's `apiProperties.json`: the function app's host name and the extension's system key as the
    connection's parameters, and the policy that sends every call to that host."""
    key = {
        "type": "securestring",
        "uiDefinition": {
            "displayName": "MCP extension key",
            "description": "The system key mcp_extension of the availability function app.",
            "tooltip": "az functionapp keys list --name <app> --resource-group <group> --query "
                       "systemKeys.mcp_extension. Sent in the x-functions-key header.",
            "constraints": {"tabIndex": 2, "clearText": False, "required": "true"},
        },
    }
    return properties(key, MCP_BASE_PATH, [], publisher)


def escalate_topic(host: str = "<your function app>.azurewebsites.net") -> str:
    """The Escalate topic (Copilot Studio's topic YAML) calling the decision of the app at `host` (a placeholder the
    maker replaces: the topic's HTTP request names its URL)."""
    from ..escalation import decisions
    from ..schemas import components

    escalate, alternative, closed = decisions()
    fields = components()["EscalationDecision"]["properties"]
    kinds = {"string": "String", "integer": "Number"}
    read = {name: kinds[node["type"] if isinstance(node["type"], str) else node["type"][0]]
            for name, node in fields.items() if name in ("decision", "reason", "message", "nextOpeningTime",
                                                           "maxWaitSeconds")}
    schema = "\n".join(f"          {name}: {kind}" for name, kind in read.items())
    return f"""\
# Escalate, on the availability gateway's decision ({TITLE} {__version__}).
# Generated by python -m availability.openapi; see docs/agents.md, "A ready Escalate topic".
#
# Paste it into Copilot Studio: Topics > System > Escalate (or a new topic) > More > Open code editor. Then:
# - url: your function app's host (this file names {host});
# - x-functions-key: a key of the function app, better read from an environment variable (=Env.<name>);
# - conversationId: the conversation's id, here the global variable msdyn_ConversationId that Contact Center
#   passes to the agent (a global variable of that name, with "External sources can set values");
# - the message of the offer_alternative branch: your alternative, or a BeginDialog to a topic that takes one.
# Add "language" (the customer's BCP 47 tag) and "timeZone" to the body to word message for the customer.
kind: AdaptiveDialog
beginDialog:
  kind: OnEscalate
  id: main
  intent:
    displayName: Escalate
    includeInOnSelectIntent: false
    triggerQueries:
      - Talk to a person
      - Talk to an agent
      - Speak to a representative
      - I want a human
      - Customer service
  actions:
    - kind: HttpRequestAction
      id: httpRequest_decideEscalation
      displayName: Decide whether to escalate
      method: Post
      url: https://{host}{DECISION_PATH}
      headers:
        x-functions-key: REPLACE_WITH_A_FUNCTION_KEY
      body:
        kind: JsonRequestContent
        content: "={{conversationId: Global.msdyn_ConversationId, maxWaitSeconds: 600}}"
      requestTimeoutInMilliseconds: 30000
      errorHandling:
        kind: ContinueOnErrorBehavior
        statusCode: Topic.DecisionFailure
      response: Topic.Decision
      responseSchema:
        kind: Record
        properties:
{schema}

    - kind: ConditionGroup
      id: conditionGroup_decision
      conditions:
        - id: conditionItem_unanswered
          condition: =!IsBlank(Topic.DecisionFailure)
          actions:
            - kind: TransferConversationV2
              id: transfer_unchecked
              transferType:
                kind: TransferToAgent
                messageToAgent: Escalated without an availability decision (the gateway did not answer).

        - id: conditionItem_{escalate}
          condition: =Topic.Decision.decision = "{escalate}"
          actions:
            - kind: SendActivity
              id: sendActivity_escalate
              activity: "{{Topic.Decision.message}}"

            - kind: TransferConversationV2
              id: transfer_decided
              transferType:
                kind: TransferToAgent
                messageToAgent: "Escalated after the availability check: {{Topic.Decision.reason}}"

        - id: conditionItem_{closed}
          condition: =Topic.Decision.decision = "{closed}"
          actions:
            - kind: SendActivity
              id: sendActivity_closed
              activity: "{{Topic.Decision.message}}"

            - kind: EndDialog
              id: endDialog_closed

      elseActions:
        # {alternative}: open, but a transfer now would not serve the customer well (reason says why).
        - kind: SendActivity
          id: sendActivity_alternative
          activity: "{{Topic.Decision.message}}"

        - kind: SendActivity
          id: sendActivity_offer
          activity: You can leave a message and a representative will get back to you.
"""

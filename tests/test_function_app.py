"""The entry point the real Functions host indexes: an import error there means zero functions."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_function_app_imports_and_lists_its_functions(app_functions):
    functions = {f.get_function_name(): f.get_trigger().get_dict_repr() for f in app_functions}
    assert set(functions) == {"before_conversation", "for_conversation", "escalation_decision", "batch", "health",
                              "openapi", "snapshots",
                              "dashboard", "snapshot_availability", "public_availability", "public_widget",
                              "create_subscription", "list_subscriptions", "get_subscription", "delete_subscription",
                              "notify_subscribers", "workstreams", "decide_escalation", "check_availability",
                              "check_conversation_availability", "list_workstreams", "best_times"}
    assert functions["health"]["route"] == "health"
    assert functions["best_times"]["route"] == "workstreams/{id}/best-times"
    assert str(getattr(functions["best_times"]["authLevel"], "value", "")).lower() == "function"
    assert str(getattr(functions["health"]["authLevel"], "value", "")).lower() == "anonymous"
    for name in ("public_availability", "public_widget"):  # web pages hold no key
        assert str(getattr(functions[name]["authLevel"], "value", "")).lower() == "anonymous"
    # Listing every subscription is an operator's act; a subscription's id opens it with any key.
    assert str(getattr(functions["list_subscriptions"]["authLevel"], "value", "")).lower() == "admin"
    for name in ("create_subscription", "get_subscription", "delete_subscription"):
        assert str(getattr(functions[name]["authLevel"], "value", "")).lower() == "function"
    assert functions["snapshot_availability"]["type"] == "timerTrigger"
    assert functions["snapshot_availability"]["schedule"] == "%SNAPSHOT_SCHEDULE%"
    assert functions["notify_subscribers"]["type"] == "timerTrigger"
    assert functions["notify_subscribers"]["schedule"] == "%NOTIFY_SCHEDULE%"


@pytest.mark.subprocess
def test_import_does_not_load_the_heavy_sdks():
    code = ("import sys, function_app; "
            "print(sorted(m for m in sys.modules if m.startswith(('azure.identity', 'azure.keyvault', "
            "'azure.data.tables', 'msal', 'requests', 'mcp', 'availability.agents.calls', 'availability.escalation', "
            "'availability.schemas'))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_route_answers_every_method_a_python_function_can_declare(app_functions):
    """Azure's host answers an empty 404 to a method no function of a route declares; the app wants its own 405
    with Allow instead, so each route is one function declared without methods (every method reaches it), or its
    functions together declare every method the programming model has."""
    from availability.http.respond import DECLARABLE_METHODS

    declared: dict[str, set[str] | None] = {}
    answered: dict[str, set[str]] = {}
    for function in app_functions:
        trigger = function.get_trigger().get_dict_repr()
        if trigger["type"] != "httpTrigger":
            continue
        methods = trigger.get("methods")
        route = trigger["route"]
        if methods is None:
            assert route not in declared, f"{route}: a function without methods must be the route's only one"
            declared[route] = None
        elif (known := declared.get(route, set())) is not None:
            declared[route] = known | {str(getattr(m, "value", m)) for m in methods}
        answered.setdefault(route, set()).update(function.get_user_function().answered_methods)
    for route, methods in declared.items():
        assert methods is None or methods >= set(DECLARABLE_METHODS), (route, methods)
        assert answered[route] and answered[route] <= set(DECLARABLE_METHODS), route

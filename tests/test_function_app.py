"""The entry point the real Functions host indexes: an import error there means zero functions."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_function_app_imports_and_lists_its_functions(app_functions):
    functions = {f.get_function_name(): f.get_trigger().get_dict_repr() for f in app_functions}
    assert set(functions) == {"before_conversation", "for_conversation", "batch", "health", "openapi", "snapshots",
                              "dashboard", "snapshot_availability", "public_availability", "public_widget",
                              "create_subscription", "list_subscriptions", "get_subscription", "delete_subscription",
                              "notify_subscribers", "best_times"}
    assert functions["health"]["route"] == "health"
    assert functions["best_times"]["route"] == "workstreams/{id}/best-times"
    assert str(getattr(functions["best_times"]["authLevel"], "value", "")).lower() == "function"
    assert str(getattr(functions["health"]["authLevel"], "value", "")).lower() == "anonymous"
    for name in ("public_availability", "public_widget"):  # web pages hold no key
        assert str(getattr(functions[name]["authLevel"], "value", "")).lower() == "anonymous"
    assert functions["snapshot_availability"]["type"] == "timerTrigger"
    assert functions["snapshot_availability"]["schedule"] == "%SNAPSHOT_SCHEDULE%"
    assert functions["notify_subscribers"]["type"] == "timerTrigger"
    assert functions["notify_subscribers"]["schedule"] == "%NOTIFY_SCHEDULE%"


@pytest.mark.subprocess
def test_import_does_not_load_the_heavy_sdks():
    code = ("import sys, function_app; "
            "print(sorted(m for m in sys.modules if m.startswith(('azure.identity', 'azure.keyvault', "
            "'azure.data.tables', 'msal', 'requests'))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

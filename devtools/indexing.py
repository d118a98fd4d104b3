"""Indexing a Python v2-model app as Azure does: the worker lists the functions and checks their parameters, the
host checks their routes and schedules, and the HTTP routes are ordered as the host's router tries them.

An app Azure would not run as it is does not start here either (`AppRefused` names every problem). In Azure the
worker's refusal costs the whole app (no function at all), the host's only the function at fault, which a
running app then silently lacks: both are mistakes to catch before deploying.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import logging
import os
import re
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devtools import mcp
from devtools.schedules import Schedule, ScheduleError, parse_schedule

__all__ = ["AppRefused", "HttpFunction", "TimerFunction", "compile_route", "index_app", "resolve_setting_refs"]

log = logging.getLogger("host")

_SETTING_REF = re.compile(r"%([^%]+)%")
_CONSTRAINTS = {
    "int": r"-?\d+",
    "long": r"-?\d+",
    "guid": r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}",
    "alpha": r"[A-Za-z]+",
    "bool": r"(?i:true|false)",
}
_PARAMETER = re.compile(r"\{(\*?)([A-Za-z_][A-Za-z0-9_]*)((?::[A-Za-z]+[^}:?]*)*)(\?)?\}")


class AppRefused(Exception):
    """What Azure's worker or host would refuse in the app, one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class HttpFunction:
    name: str
    route: str
    pattern: re.Pattern[str]
    methods: frozenset[str] | None  # None: every method
    auth_level: str
    arg_name: str
    call: Callable[..., Any]


@dataclass
class TimerFunction:
    name: str
    schedule: Schedule
    run_on_startup: bool
    arg_name: str
    call: Callable[..., Any]
    lock: threading.Lock = field(default_factory=threading.Lock)
    invocations: int = 0
    running: int = 0
    last_result: str | None = None
    last_finished: str | None = None


def compile_route(template: str) -> re.Pattern[str]:
    """Turn an ASP.NET-style route template (`items/{id:int}/{rest?}`, `{*path}`) into a regex."""
    parts = []
    for segment in template.strip("/").split("/"):
        match = _PARAMETER.fullmatch(segment)
        if not match:
            parts.append("/" + re.escape(segment))
            continue
        catch_all, name, constraints, optional = match.groups()
        constraint = constraints.split(":")[1].split("(")[0].lower() if constraints else ""
        body = ".*" if catch_all else _CONSTRAINTS.get(constraint, r"[^/]+")
        group = f"(?P<{name}>{body})"
        parts.append(f"(?:/{group})?" if optional or catch_all else "/" + group)
    return re.compile("".join(parts) + "/?", re.IGNORECASE)


def resolve_setting_refs(text: str, environ: Mapping[str, str] = os.environ) -> str:
    """Replace `%NAME%` with the app setting NAME, as the Functions host does for binding expressions."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environ:
            raise LookupError(f"'%{name}%' does not resolve to a value: the app setting {name} is not set")
        return environ[name]

    return _SETTING_REF.sub(replace, text)


def index_app(app_dir: Path, script: str = "function_app", environ: Mapping[str, str] = os.environ,
              mcp_tools: list[Any] | None = None) -> tuple[list[HttpFunction], list[TimerFunction]]:
    """Import the app's script and list its HTTP functions (in the order the router tries them) and its timers.

    :raises AppRefused: what the worker or the host would refuse.
    """
    import azure.functions as func

    sys.path.insert(0, str(app_dir))
    module = importlib.import_module(script)
    apps = [value for value in vars(module).values() if isinstance(value, func.FunctionApp)]
    if len(apps) != 1:
        raise RuntimeError(f"{script}.py must define exactly one FunctionApp (found {len(apps)})")
    functions = apps[0].get_functions()  # once per app: a second call refuses the names it already knows
    problems = [problem for function in functions for problem in _worker_problems(function)]
    if problems:
        raise AppRefused(["The Python worker refuses to index the app (Azure would run none of its functions):",
                          *problems])
    http: list[HttpFunction] = []
    timers: list[TimerFunction] = []
    for function in functions:
        trigger: dict[str, Any] = function.get_trigger().get_dict_repr()  # type: ignore[union-attr]  # always set
        name = str(function.get_function_name())
        call = function.get_user_function()
        if trigger["type"] == "httpTrigger":
            route = str(trigger.get("route") or name)
            methods = trigger.get("methods")
            http.append(HttpFunction(
                name=name, route=route, pattern=compile_route(route),
                methods=frozenset(_value(m).upper() for m in methods) if methods else None,
                auth_level=_value(trigger.get("authLevel") or "function").lower(),
                arg_name=trigger["name"], call=call))
        elif trigger["type"] == "timerTrigger":
            try:
                schedule = parse_schedule(resolve_setting_refs(trigger["schedule"], environ))
            except (LookupError, ScheduleError) as exc:
                problems.append(f"{name}: {exc}")
                continue
            timers.append(TimerFunction(name=name, schedule=schedule, run_on_startup=bool(trigger.get("runOnStartup")),
                                        arg_name=trigger["name"], call=call))
        elif trigger["type"] == mcp.TRIGGER and mcp_tools is not None:  # served by the MCP endpoint
            mcp_tools.append(mcp.McpTool.of(name, trigger, call))
        else:  # Azure runs it; this host does not
            log.warning("Function %s has a %s trigger, which this host does not run", name, trigger["type"])
    problems += _route_problems(http)
    if problems:
        raise AppRefused(["The Functions host would not load these functions (Azure would run the app without "
                          "them):", *problems])
    return sorted(http, key=functools.cmp_to_key(_route_order)), timers


def _worker_problems(function: Any) -> list[str]:
    """The worker's parameter check (azure_functions_worker/functions.py, `Registry.add_indexed_function`,
    `is_context_required` and `validate_function_params`): every parameter of the Python function must be a
    binding's name, and every binding but `$return` a parameter; a `context` nobody binds is the invocation
    context."""
    name = function.get_function_name()
    params = dict(inspect.signature(function.get_user_function()).parameters)
    bound = {binding.name for binding in function.get_bindings() if binding.name != "$return"}
    if "context" in params and "context" not in bound:
        params.pop("context")
    problems = []
    if set(params) - bound:
        problems.append(f"cannot load the {name} function: the following parameters are declared in Python but "
                        f"not in function.json: {set(params) - bound!r}")
    if bound - set(params):
        problems.append(f"cannot load the {name} function: the following parameters are declared in function.json "
                        f"but not in Python: {bound - set(params)!r}")
    return problems


def _route_problems(functions: list[HttpFunction]) -> list[str]:
    """The host's route checks (Azure/azure-functions-host src/WebJobs.Script/Host/ScriptHost.cs,
    `ValidateHttpFunction` and `HttpRoutesConflict`): no route in the host's own `admin` or `runtime` space, and no
    two functions with the same route template whose methods overlap (no methods: every method)."""
    problems = []
    seen: list[HttpFunction] = []
    for function in functions:
        if function.route.strip("/").lower().startswith(("admin", "runtime")):
            problems.append(f"{function.name}: the route '{function.route}' conflicts with one or more built in "
                            "routes (admin..., runtime...)")
            continue
        for other in seen:
            if other.route.strip("/").lower() != function.route.strip("/").lower():
                continue
            if function.methods is None or other.methods is None or function.methods & other.methods:
                problems.append(f"{function.name}: the route '{function.route}' conflicts with the route defined "
                                f"by function '{other.name}' (methods {_methods(function)} and {_methods(other)})")
                break
        else:
            seen.append(function)
    return problems


def _route_order(first: HttpFunction, second: HttpFunction) -> int:
    """The order the host's router tries routes in (Azure/azure-webjobs-sdk-extensions
    src/WebJobs.Extensions.Http/Routing/WebJobsRouteBuilder.cs, `RouteComparison`): segment by segment, a literal
    before a parameter, a parameter with more constraints first, literals alphabetically; a longer route first."""
    mine, theirs = _segments(first.route), _segments(second.route)
    for index, (literal, constraints, text) in enumerate(mine):
        if index >= len(theirs):
            return -1
        other_literal, other_constraints, other_text = theirs[index]
        if literal != other_literal:
            return -1 if literal else 1
        if not literal and constraints != other_constraints:
            return -1 if constraints > other_constraints else 1
        if literal and text.lower() != other_text.lower():
            return -1 if text.lower() < other_text.lower() else 1
    return 1 if len(theirs) > len(mine) else 0


def _segments(route: str) -> list[tuple[bool, int, str]]:
    """(is a literal, number of constraints, text) of each segment of a route template."""
    segments = []
    for segment in route.strip("/").split("/"):
        match = _PARAMETER.fullmatch(segment)
        segments.append((match is None, match.group(3).count(":") if match else 0, segment))
    return segments


def _methods(function: HttpFunction) -> str:
    return ",".join(sorted(function.methods)) if function.methods else "all"


def _value(enum_or_str: Any) -> str:
    return str(getattr(enum_or_str, "value", enum_or_str))

"""A function app that exercises the local host: routes, keys, async, concurrency, timers (NCRONTAB and TimeSpan)."""

import asyncio
import json
import os
import threading
from pathlib import Path

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
_barrier = threading.Barrier(int(os.environ.get("BARRIER_PARTIES", "4")), timeout=10)


def _record(name: str) -> None:
    with open(Path(os.environ["TIMER_LOG"]), "a", encoding="utf-8") as log:
        log.write(name + "\n")


@app.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse('{"status": "ok"}', mimetype="application/json")


@app.route(route="echo/{name}", methods=["GET", "POST"])
def echo(req: func.HttpRequest) -> func.HttpResponse:
    body = {"method": req.method, "route": dict(req.route_params), "params": dict(req.params),
            "body": req.get_body().decode(), "header": req.headers.get("x-test"), "url": req.url}
    return func.HttpResponse(json.dumps(body), mimetype="application/json", headers={"x-echo": "yes"})


@app.route(route="items/{id:int}", methods=["GET"])
def item(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(req.route_params["id"])


@app.route(route="master-only", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
def master_only(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("admin")


@app.route(route="async", methods=["GET"])
async def asynchronous(req: func.HttpRequest) -> func.HttpResponse:
    await asyncio.sleep(0)
    return func.HttpResponse("async", status_code=201)


@app.route(route="barrier", methods=["GET"])
def barrier(req: func.HttpRequest) -> func.HttpResponse:
    # Passes only when BARRIER_PARTIES requests are being served at the same time.
    _barrier.wait()
    return func.HttpResponse("together")


@app.route(route="boom", methods=["GET"])
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("boom")


@app.timer_trigger(schedule="%TICK_SCHEDULE%", arg_name="timer")
def tick(timer: func.TimerRequest) -> None:
    _record("tick")


@app.timer_trigger(schedule="%SPAN_SCHEDULE%", arg_name="timer")
def span(timer: func.TimerRequest) -> None:
    _record("span")


@app.timer_trigger(schedule="0 0 0 1 1 *", arg_name="timer")
def manual(timer: func.TimerRequest) -> None:
    _record(f"manual past_due={timer.past_due}")


@app.route(route="status/{code:int}", methods=["GET"])
def status(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(status_code=int(req.route_params["code"]), headers={"ETag": '"v1"'})


@app.route(route="things/{name}", methods=["GET"])
def thing(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"thing {req.route_params['name']}")


# Declared after the parameter route it overlaps: the router still tries the literal first.
@app.route(route="things/new", methods=["GET"])
def new_thing(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("new")

"""The real-time intake service: ``POST /v1/leads/{webhook}`` (and ``POST /v1/leads`` for the first webhook of
sources.yaml), ``GET /healthz``. A FastAPI app around :class:`~leadops.realtime.intake.GroupCommit` (store, then
answer) and :class:`~leadops.realtime.router.Router` (enrich, score, route, notify right after).

Refused requests are logged in one line (webhook, client address, why), never with their body.
"""
from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from leadops.config import Rules, Settings, WebhookSource
from leadops.intake import webhook
from leadops.realtime.intake import GroupCommit, Submission
from leadops.realtime.router import Router
from leadops.realtime.summary import Reporter

log = logging.getLogger("leadops.intake")

#: the largest request body read (100 leads of a web form take a few tens of kB)
MAX_BODY_BYTES = 1_000_000


class ServiceError(Exception):
    """The service cannot start (no webhook configured, a missing secret): one line saying what to do."""


@dataclass
class Service:
    """The running parts of the service, for tests and the health endpoint."""

    group: GroupCommit
    router: Router
    started: float
    reporter: Reporter | None = None

    def stop(self) -> None:
        """Stop every part, each whatever the others raised (a part left running would go on writing)."""
        try:
            if self.reporter is not None:
                self.reporter.stop()
        finally:
            try:
                self.group.stop()
            finally:
                self.router.stop()


def webhook_secrets(rules: Rules) -> dict[str, str]:
    """Return each webhook's secret (its Prefect Secret block, else its environment variable), registered for
    redaction; raises ServiceError naming the webhook and where to put it when one is missing."""
    import os

    from leadops.redact import register

    out: dict[str, str] = {}
    for cfg in rules.sources.webhooks:
        secret = None
        if cfg.secret_block:
            from prefect.blocks.system import Secret

            try:
                block: Any = Secret.load(cfg.secret_block)
                secret = str(block.get())
            except Exception as exc:  # noqa: BLE001 - one line for the operator
                raise ServiceError(f"webhook {cfg.name}: the Secret block {cfg.secret_block!r} could not be loaded "
                                   f"({type(exc).__name__})") from None
        else:
            secret = os.environ.get(cfg.secret_env) or None
        if not secret or len(secret) < 16:
            raise ServiceError(f"webhook {cfg.name}: no secret of at least 16 characters: set {cfg.secret_env} or "
                               f"secret_block in sources.yaml")
        register(secret)
        out[cfg.name] = secret
    return out


def _signing_secret(settings: Settings, rules: Rules) -> str | None:
    """Return the Slack signing secret when notify.yaml turns the buttons on (registered for redaction); raises
    ServiceError when they are on without one."""
    if not (rules.notify.slack.enabled and rules.notify.slack.interactive):
        return None
    from leadops.redact import register

    secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
    if not secret:
        raise ServiceError("notify.yaml turns Slack buttons on (slack.interactive): set LEADOPS_SLACK_SIGNING_SECRET "
                           "(the app's Basic Information > Signing Secret)")
    register(secret)
    return secret


def create_app(settings: Settings, rules: Rules, secrets: dict[str, str] | None = None, *,
               router_idle_seconds: float = 5.0, reload: Callable[[], Rules] | None = None,
               summary_every: float | None = None) -> Any:
    """Return the ASGI app, its parts started (``app.state.service``: the roster synced, the group commit and the
    router running); raises ServiceError when it cannot serve. ``reload``: returns the rule files as they are now
    (the router takes an edit at its next pass)."""
    if not rules.sources.webhooks and not rules.notify.slack.interactive:
        raise ServiceError("no webhook in sources.yaml (webhooks:) and no Slack buttons: nothing to serve")
    secrets = secrets if secrets is not None else webhook_secrets(rules)
    hooks: dict[str, WebhookSource] = {w.name: w for w in rules.sources.webhooks}
    router = Router(settings, rules, idle_seconds=router_idle_seconds, log=log.warning, reload=reload).start()
    def stored(subs: list[Submission]) -> None:
        for sub in subs:
            router.poke(sub.lead_ids, sub.received_at.timestamp())

    group = GroupCommit(settings, rules, on_stored=stored)
    router.on_rules = lambda new: setattr(group, "rules", new)  # webhooks themselves change with a restart
    service = Service(group.start(), router, time.time())
    refused = [0]

    def problem() -> str | None:
        dead = [t.name for t in (group._thread, router._thread) if not t.is_alive()]
        return f"thread(s) stopped: {', '.join(dead)}" if dead else None

    reporter = Reporter(lambda: {"requests": group.stored, "leads_accepted": group.leads_accepted,
                                 "leads_quarantined": group.leads_quarantined, "refused": refused[0],
                                 "routed": router.stats.routed, "notified": router.stats.notified,
                                 "failed_passes": router.stats.errors, "store_failures": group.failures},
                        router.take_latencies, problem, summary_every or 0, log.warning)
    if summary_every:
        reporter.start()
    service.reporter = reporter

    @asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        yield
        service.stop()
        # uvicorn re-raises the SIGTERM it handled once shut down, and a process killed by a signal runs no atexit
        # hook: stop the validation process here, or it outlives the service
        from leadops.intake import validation_process

        validation_process.shutdown()

    app = FastAPI(title="leadops intake", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.service = service

    async def accept(name: str, request: Request) -> Response:
        cfg = hooks.get(name)
        client = request.client.host if request.client else "?"
        if cfg is None:
            return JSONResponse({"error": f"no webhook {name!r} (sources.yaml webhooks:)"}, status_code=404)
        headers = {k.lower(): v for k, v in request.headers.items()}
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            log.warning("refused a request to webhook %s from %s: HTTP 413 body of %s bytes", name, client, declared)
            return JSONResponse({"error": f"body over {MAX_BODY_BYTES} bytes"}, status_code=413)
        body = b""
        async for part in request.stream():  # read up to the limit: a body without a length cannot exhaust memory
            body += part
            if len(body) > MAX_BODY_BYTES:
                log.warning("refused a request to webhook %s from %s: HTTP 413 body over %s bytes", name, client,
                            MAX_BODY_BYTES)
                return JSONResponse({"error": f"body over {MAX_BODY_BYTES} bytes"}, status_code=413)
        try:
            webhook.authenticate(cfg, secrets[name], headers, body, time.time(), dict(request.query_params))
            records = webhook.records(cfg, body, headers.get("content-type", ""))
        except webhook.Refused as exc:
            refused[0] += 1
            log.warning("refused a request to webhook %s from %s: HTTP %s %s", name, client, exc.status, exc.reason)
            return JSONResponse({"error": exc.reason}, status_code=exc.status)
        sub = Submission(cfg, webhook.idempotency_key(headers, name, body), records)
        status, answer = await run_in_threadpool(group.submit, sub)
        if cfg.shape == "salesforce_outbound" and status in (202, 422):
            # Salesforce retries a message until it is acknowledged: stored or quarantined, it is taken
            return Response(webhook.SOAP_ACK, media_type="text/xml")
        return JSONResponse(answer, status_code=status)

    signing = _signing_secret(settings, rules)

    @app.post("/v1/slack/actions")
    async def slack_action(request: Request) -> Response:
        from leadops.realtime import slack_actions

        body = await request.body()
        client = request.client.host if request.client else "?"
        if signing is None:
            return JSONResponse({"error": "Slack buttons are off (notify.yaml slack.interactive)"}, status_code=404)
        try:
            slack_actions.verify(signing, {k.lower(): v for k, v in request.headers.items()}, body, time.time())
            action = slack_actions.parse(body)
        except webhook.Refused as exc:
            log.warning("refused a Slack action from %s: HTTP %s %s", client, exc.status, exc.reason)
            return JSONResponse({"error": exc.reason}, status_code=exc.status)
        text = await run_in_threadpool(slack_actions.handle, settings, router.rules, action)
        router.poke([])  # a reassignment's message goes out with the next pass, now
        await run_in_threadpool(slack_actions.reply, action.response_url, text)
        return JSONResponse(slack_actions.answer(action, text))

    @app.post("/v1/leads/{name}")
    async def post_leads(name: str, request: Request) -> Response:
        return await accept(name, request)

    @app.post("/v1/leads")
    async def post_default(request: Request) -> Response:
        first = rules.sources.webhooks[0].name if rules.sources.webhooks else ""
        return await accept(first, request)

    @app.get("/healthz")
    async def health() -> JSONResponse:
        stats = asdict(router.stats)
        times = sorted(stats.pop("pass_seconds"))
        ok = group._thread.is_alive() and router._thread.is_alive()
        return JSONResponse({"ok": ok, "requests_stored": group.stored, "store_failures": group.failures,
                             "router": stats, "pass_p50_seconds": times[len(times) // 2] if times else None,
                             "pass_p95_seconds": times[int(len(times) * 0.95)] if times else None,
                             "uptime_seconds": round(time.time() - service.started)}, status_code=200 if ok else 503)

    return app

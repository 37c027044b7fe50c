"""The tenant HTTP API over real HTTP on 127.0.0.1: tokens, OFREP evaluation, tenant data; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from tenantctl.api.app import API_KEY
from tenantctl.billing.lifecycle import suspend_tenant
from tenantctl.tenants.models import ApiToken
from tenantctl.tenants.overrides import set_override
from tenantctl.tenants.tokens import revoke_api_token
from tests.api.conftest import Api


async def test_ofrep_single_and_bulk_for_the_tokens_tenant_only(api: Api) -> None:
    status, _, flag = await api.call("POST", "/ofrep/v1/evaluate/flags/yookassa", api.tokens["Beta"], json={})
    assert status == 200 and flag == {"key": "yookassa", "value": True, "reason": "STATIC", "variant": "on",
                                      "metadata": {"source": "plan", "category": "payment_gateways"}}
    status, _, flag = await api.call("POST", "/ofrep/v1/evaluate/flags/yookassa", api.tokens["Alpha"], json={})
    assert (status, flag["value"], flag["variant"], flag["metadata"]["source"]) == (200, False, "off", "default")
    status, _, mode = await api.call("POST", "/ofrep/v1/evaluate/flags/support_tickets", api.tokens["Alpha"],
                                     json={"context": {"targetingKey": "user-1"}})
    assert (status, mode["value"], mode["variant"]) == (200, "tickets", "tickets")
    status, _, config = await api.call("POST", "/ofrep/v1/evaluate/flags/support_tickets.config", api.tokens["Alpha"], json={})
    assert status == 200 and config["value"] == {"SUPPORT_USERNAME": "@help"}  # the secret-looking key is left out

    status, headers, bulk = await api.call("POST", "/ofrep/v1/evaluate/flags", api.tokens["Alpha"], json={"context": {}})
    assert status == 200 and {f["key"] for f in bulk["flags"]} >= {"yookassa", "card_to_card", "support_tickets.config"}
    etag = headers["ETag"]
    status, _, body = await api.call("POST", "/ofrep/v1/evaluate/flags", api.tokens["Alpha"], headers={"If-None-Match": etag})
    assert (status, body) == (304, None)
    _, beta_headers, _ = await api.call("POST", "/ofrep/v1/evaluate/flags", api.tokens["Beta"])
    assert beta_headers["ETag"] != etag  # scoped to the tenant

    async with api.app.unit_of_work() as session:  # an override changes the answer, its reason and the ETag
        await set_override(session, bot_id=api.bot_ids["Alpha"], feature="yookassa", enabled=True, actor="test", reason="trial")
    for _ in range(60):  # the change reaches the served answers through the flag watcher (NOTIFY, or a poll)
        status, _, flag = await api.call("POST", "/ofrep/v1/evaluate/flags/yookassa", api.tokens["Alpha"])
        if status == 200 and flag["value"]:
            break
        await asyncio.sleep(0.25)  # under the test's rate limit of 5 a second
    assert (flag["value"], flag["reason"], flag["metadata"]["source"]) == (True, "TARGETING_MATCH", "override")
    status, headers, _ = await api.call("POST", "/ofrep/v1/evaluate/flags", api.tokens["Alpha"], headers={"If-None-Match": etag})
    assert status == 200 and headers["ETag"] != etag


async def test_ofrep_errors(api: Api) -> None:
    token = api.tokens["Alpha"]
    status, _, body = await api.call("POST", "/ofrep/v1/evaluate/flags/nope", token, json={})
    assert (status, body["errorCode"], body["key"]) == (404, "FLAG_NOT_FOUND", "nope")
    status, _, body = await api.call("POST", "/ofrep/v1/evaluate/flags/yookassa", token, data=b"{not json")
    assert (status, body["errorCode"]) == (400, "PARSE_ERROR")
    status, _, body = await api.call("POST", "/ofrep/v1/evaluate/flags", token, json={"context": ["a"]})
    assert (status, body["errorCode"]) == (400, "INVALID_CONTEXT")
    status, _, _ = await api.call("POST", "/ofrep/v1/evaluate/flags", token, data=b"{" + b" " * 100_000 + b"}")
    assert status == 413  # the body size is limited


async def test_tokens_unknown_revoked_and_suspended_tenants(api: Api) -> None:
    for token in (None, "tc_deadbeef_nothing", api.tokens["Alpha"][:-1] + "x"):
        status, _, body = await api.call("POST", "/ofrep/v1/evaluate/flags", token)
        assert (status, body) == (401, None)
    status, _, _ = await api.call("GET", "/api/v1/tenant", None, headers={"X-API-Key": api.tokens["Alpha"]})
    assert status == 200
    async with api.app.unit_of_work() as session:
        row = await session.scalar(select(ApiToken).where(ApiToken.bot_id == api.bot_ids["Alpha"]))
        assert row.last_used_at is not None
        await revoke_api_token(session, bot_id=api.bot_ids["Alpha"], prefix=row.prefix, actor="test")
        await suspend_tenant(session, bot_id=api.bot_ids["Beta"], actor="test")
    for _ in range(20):  # the held token is forgotten through the flag watcher (NOTIFY, or a poll)
        status, _, body = await api.call("GET", "/api/v1/tenant", api.tokens["Alpha"])
        if status != 200:
            break
        await asyncio.sleep(0.1)
    assert (status, body) == (401, None)
    status, _, body = await api.call("GET", "/api/v1/features", api.tokens["Beta"])
    assert (status, body) == (403, None)


async def test_tenant_data_openapi_and_rate_limit(api: Api) -> None:
    token = api.tokens["Beta"]
    status, _, tenant = await api.call("GET", "/api/v1/tenant", token)
    assert status == 200 and tenant["name"] == "Beta" and tenant["plan"] == "growth"
    status, _, features = await api.call("GET", "/api/v1/features", token)
    assert status == 200 and {f["key"]: f["value"] for f in features}["yookassa"] is True
    status, _, stats = await api.call("GET", "/api/v1/stats?period=30d", token)
    assert status == 200 and stats == {"period": "30d", "users": 0, "income_kopeks": 0, "traffic_bytes": 0}
    assert (await api.call("GET", "/api/v1/stats?period=1y", token))[0] == 400
    status, _, document = await api.call("GET", "/api/v1/openapi.json", None)
    assert status == 200 and document["openapi"] == "3.1.0" and "/ofrep/v1/evaluate/flags/{key}" in document["paths"]

    answers = await asyncio.gather(*(api.call("POST", "/ofrep/v1/evaluate/flags/yookassa", token) for _ in range(40)))
    limited = [headers for status, headers, _ in answers if status == 429]
    assert limited and all(int(headers["Retry-After"]) >= 1 for headers in limited)
    assert (await api.call("POST", "/ofrep/v1/evaluate/flags/yookassa", api.tokens["Alpha"]))[0] == 200  # per token


async def test_the_openfeature_sdk_reads_a_tenants_flags(api: Api) -> None:
    from openfeature import api as openfeature
    from openfeature.contrib.provider.ofrep import OFREPProvider
    from openfeature.evaluation_context import EvaluationContext
    from openfeature.exception import ErrorCode

    def read(name: str) -> tuple[bool, str, object]:
        client_name = f"tenant-{name}"
        token = api.tokens[name]
        openfeature.set_provider(OFREPProvider(api.url, headers_factory=lambda: {"Authorization": f"Bearer {token}"}), client_name)
        client = openfeature.get_client(client_name)
        context = EvaluationContext(targeting_key="user-7")
        return (client.get_boolean_value("yookassa", False, context), client.get_string_value("support_tickets", "off", context),
                client.get_boolean_details("no_such_flag", True, context))

    beta = await asyncio.to_thread(read, "Beta")
    alpha = await asyncio.to_thread(read, "Alpha")
    assert beta[:2] == (True, "tickets") and alpha[:2] == (False, "tickets")  # two tenants, two answers
    missing = alpha[2]
    assert missing.value is True and missing.error_code == ErrorCode.FLAG_NOT_FOUND


async def test_rollouts_answer_split_per_targeting_key_and_evaluations_are_counted(api: Api) -> None:
    from tenantctl.flags.models import FlagUsageDaily
    from tenantctl.flags.rollout import bucket
    from tenantctl.flags.usage import UsageFlusher
    from tenantctl.plans.service import set_grant

    async with api.app.unit_of_work() as session:
        await set_grant(session, plan="growth", feature="support_tickets", actor="test", value="both", rollout_percent=50,
                        rollout_by="user")
    beta = api.tokens["Beta"]
    for _ in range(60):  # through the flag watcher
        status, _, flag = await api.call("POST", "/ofrep/v1/evaluate/flags/support_tickets", beta, json={})
        if flag["reason"] == "SPLIT":
            break
        await asyncio.sleep(0.25)
    assert (flag["value"], flag["reason"]) == ("tickets", "SPLIT")  # no targetingKey: in no rollout
    users = ["u-1", "u-2", "u-3", "u-4", "u-5", "u-6"]
    assert {bucket("support_tickets", u) <= 50 for u in users} == {True, False}
    seen = {}
    for user in users:
        await asyncio.sleep(0.2)  # under the test's rate limit
        status, _, flag = await api.call("POST", "/ofrep/v1/evaluate/flags/support_tickets", beta,
                                         json={"context": {"targetingKey": user}})
        seen[user] = (status, flag["value"], flag["reason"])
    assert seen == {u: (200, "both" if bucket("support_tickets", u) <= 50 else "tickets", "SPLIT") for u in users}
    inside = next(u for u in users if bucket("support_tickets", u) <= 50)
    status, headers, bulk = await api.call("POST", "/ofrep/v1/evaluate/flags", beta, json={"context": {"targetingKey": inside}})
    assert status == 200 and {f["key"]: f["value"] for f in bulk["flags"]}["support_tickets"] == "both"
    status, _, _ = await api.call("POST", "/ofrep/v1/evaluate/flags", beta, json={"context": {"targetingKey": inside}},
                                  headers={"If-None-Match": headers["ETag"]})
    assert status == 304
    _, base_headers, base = await api.call("POST", "/ofrep/v1/evaluate/flags", beta, json={})
    assert {f["key"]: f["value"] for f in base["flags"]}["support_tickets"] == "tickets"
    assert base_headers["ETag"] != headers["ETag"]

    assert await UsageFlusher([api.webapp[API_KEY].cache], api.app.unit_of_work).flush() > 0
    async with api.app.unit_of_work() as session:
        counts = {(r.feature_key, r.result): r.count for r in (await session.scalars(
            select(FlagUsageDaily).where(FlagUsageDaily.bot_id == api.bot_ids["Beta"]))).all()}
    wanted = sum(bucket("support_tickets", u) <= 50 for u in users)
    assert counts[("support_tickets", "both")] == wanted + 2  # single evaluations, and the two bulk answers for `inside`
    assert counts[("support_tickets", "tickets")] >= len(users) - wanted + 2
    assert not any(key.endswith(".config") for key, _ in counts)

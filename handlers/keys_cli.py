"""`apex keys create | list | revoke`: straight to the keys table, or through a gateway's admin API."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from core.config import Config
from core.errors import StorageError
from core.keys import create_key
from core.routes.admin import key_view
from core.storage.dynamo import DynamoDB
from core.storage.keys import DynamoKeyStore
from core.storage.tables import table_names
from core.usage import summarize, usage_between

LOOPBACK = ("127.0.0.1", "localhost", "::1")
USAGE_LOOKBACK_S = 90 * 24 * 3600      # how far back `list` looks for a key's last use: usage's retention


class _Refused(urllib.request.HTTPRedirectHandler):
    """A redirect is an error here: followed, it would carry the admin key to wherever it points."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


NO_REDIRECTS = urllib.request.build_opener(_Refused())


def admin_call(url: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """One call to a running gateway's admin API, with APEX_ADMIN_KEY."""
    admin_key = os.environ.get("APEX_ADMIN_KEY")
    if not admin_key:
        raise SystemExit("apex: --url needs APEX_ADMIN_KEY in the environment")
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme != "https" and parsed.hostname not in LOOPBACK:
        raise SystemExit(f"apex: --url must be https:// (the admin key would cross the network in clear): {url}")
    request = urllib.request.Request(f"{url.rstrip('/')}/admin/{path}", method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"authorization": f"Bearer {admin_key}",
                                              "content-type": "application/json"})
    try:
        with NO_REDIRECTS.open(request, timeout=30) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = json.loads(exc.read() or b"{}").get("error", {}).get("message", exc.reason)
        raise SystemExit(f"apex: {exc.code}: {detail}") from None


def _storage() -> DynamoDB:
    """The keys table to use without --url: APEX_DYNAMODB_ENDPOINT's, else the AWS account in the
    environment, else the embedded one of the `apex serve` running beside this command."""
    from handlers.local_state import running
    from handlers.serve import AWS_CREDENTIAL_VARIABLES

    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    endpoint = os.environ.get("APEX_DYNAMODB_ENDPOINT")
    if endpoint or any(os.environ.get(v) for v in AWS_CREDENTIAL_VARIABLES):
        return DynamoDB(table_names(), endpoint_url=endpoint, region=region)
    local = running()
    if local is None:
        raise SystemExit("apex keys: no gateway to reach: start one with `make serve` (or `apex serve`), or pass "
                         "--url URL with APEX_ADMIN_KEY, or set APEX_DYNAMODB_ENDPOINT or AWS credentials for a "
                         "deployed keys table")
    print(f"apex keys: the gateway at {local['url']}", file=sys.stderr)
    return DynamoDB(table_names(), endpoint_url=local["dynamodb"], region=region,
                    credentials=tuple(local["credentials"]))


async def _direct(action: str, args: argparse.Namespace) -> Any:
    db = _storage()
    store = DynamoKeyStore(db)
    try:
        if action == "create":
            key, record = await create_key(store, args.plan, args.name, args.rpm, args.monthly_tokens, args.credits,
                                           tuple(args.models) if args.models is not None else None)
            return {**key_view(record), "key": key}
        if action == "list":
            today = time.strftime("%Y-%m-%d", time.gmtime())
            first = time.strftime("%Y-%m-%d", time.gmtime(time.time() - USAGE_LOOKBACK_S))
            usage = summarize(await usage_between(db, None, first, today), ["key"])
            return {"data": [key_view(k) for k in await store.list_keys()], "usage": usage}
        if not await store.revoke_key(args.id):
            raise SystemExit(f"apex keys: no key with id '{args.id}'")
        return {"id": args.id, "status": "revoked"}
    except StorageError as exc:
        cause = f": {exc.__cause__}" if exc.__cause__ else ""
        raise SystemExit(f"apex keys: {exc}{cause}") from None
    finally:
        await db.aclose()


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(ts)) if ts else "never"


def run(args: argparse.Namespace, config: Config) -> None:
    action = args.keys_command
    if action == "create" and args.plan not in config.plans:
        raise SystemExit(f"apex keys: unknown plan '{args.plan}' (plans: {', '.join(sorted(config.plans))})")
    if args.url:
        body = {k: getattr(args, k) for k in ("plan", "name", "rpm", "monthly_tokens", "credits", "models")} \
            if action == "create" else None
        path = {"create": "keys", "list": "keys", "revoke": f"keys/{getattr(args, 'id', '')}"}[action]
        method = {"create": "POST", "list": "GET", "revoke": "DELETE"}[action]
        result = admin_call(args.url, method, path, body)
        if action == "list":
            first = time.strftime("%Y-%m-%d", time.gmtime(time.time() - USAGE_LOOKBACK_S))
            result["usage"] = admin_call(args.url, "GET", f"usage?group_by=key&from={first}")
    else:
        result = asyncio.run(_direct(action, args))
    if action == "create":
        print(result["key"])
        print(f"id {result['id']}, plan {result['plan']}: the key is shown this once and stored only hashed",
              file=sys.stderr)
    elif action == "list":
        seen = {g["key"]: g["last_seen"] for g in result["usage"].get("groups", ())}
        columns = ("id", "prefix", "name", "plan", "rpm", "monthly_tokens", "credits", "models", "status")
        rows = [(*columns, "created", "last_used")] + [
            (*("-" if k[c] is None else ",".join(k[c]) if isinstance(k[c], list) else str(k[c]) for c in columns),
             _when(k["created_at"]), _when(seen.get(k["id"]))) for k in result["data"]]
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for row in rows:
            print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    else:
        print(f"revoked {result['id']}")


def add_parser(commands: Any, config_loader: Any) -> None:
    keys = commands.add_parser("keys", help="create, list and revoke gateway keys")
    keys.add_argument("--url", help="a running gateway (its admin API, with APEX_ADMIN_KEY) instead of the table")
    keys.add_argument("--config", help="the config file, for its plans (default: APEX_CONFIG, else ./apex.toml)")
    actions = keys.add_subparsers(dest="keys_command", required=True)
    create = actions.add_parser("create", help="make a key and print it, once")
    create.add_argument("--plan", required=True, help="the plan it is on (see [plans] in the config)")
    create.add_argument("--name", default="", help="a name to know it by in listings")
    create.add_argument("--rpm", type=int, help="requests per minute (default: the plan's)")
    create.add_argument("--monthly-tokens", dest="monthly_tokens", type=int,
                        help="tokens per calendar month (default: the plan's)")
    create.add_argument("--credits", type=float, help="USD it may spend (default: the plan's)")
    create.add_argument("--models", type=lambda v: [m for m in v.split(",") if m],
                        help="the only models it may use, comma-separated (default: the plan's)")
    actions.add_parser("list", help="every key, without the keys themselves")
    revoke = actions.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("id", help="the key's id (key_…), as `apex keys list` shows it")
    for sub in (create, actions.choices["list"], revoke):
        sub.add_argument("--url", default=argparse.SUPPRESS)
        sub.add_argument("--config", default=argparse.SUPPRESS)
    keys.set_defaults(run=lambda args: run(args, config_loader(args.config)))

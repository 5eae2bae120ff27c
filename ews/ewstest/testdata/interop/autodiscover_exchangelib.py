"""Runs exchangelib's own Autodiscover against the fake and prints what it
found as one JSON object on stdout.

    autodiscover_exchangelib.py AUTODISCOVER-URL soap|pox USER PASSWORD EMAIL OTHER-EMAIL

exchangelib derives its candidate URLs from the email domain (https only)
and offers no option to name the Autodiscover endpoint, but its discovery
starts from a per-domain cache of AutodiscoverProtocol objects: seeding that
cache with a protocol for the fake's loopback URL (its persistent file moved
to a private temporary directory) makes Account(autodiscover=...) run its
normal path (the cached endpoint, GetUserSettings or the POX request, its
response checks, the EWS protocol built from the answer) against the fake.
Each step's failure lands in out["errors"]; the Go test judges the JSON.
"""
import json
import sys
import tempfile
from pathlib import Path

import exchangelib.autodiscover.cache as adcache
from exchangelib import BASIC, Account, Configuration, Credentials
from exchangelib.autodiscover.protocol import AutodiscoverProtocol
from exchangelib.services import GetUserSettings

url, flavour, user, password, email, other = sys.argv[1:7]
out = {"errors": []}
tmp = tempfile.TemporaryDirectory()
adcache.AUTODISCOVER_PERSISTENT_STORAGE = Path(tmp.name, "autodiscover.cache")
cache = adcache.autodiscover_cache
creds = Credentials(user, password)
proto = AutodiscoverProtocol(config=Configuration(service_endpoint=url, credentials=creds, auth_type=BASIC))
key = (email.split("@")[1].lower(), creds)
cache[key] = proto
try:
    acct = Account(email, credentials=creds, autodiscover=flavour)
    out["ews_url"] = acct.protocol.service_endpoint
    out["primary_smtp_address"] = acct.primary_smtp_address
    out["api_version"] = acct.version.api_version if acct.version else None
    out["inbox_total"] = acct.inbox.total_count
except Exception as e:  # noqa: BLE001 - reported to the Go test
    out["errors"].append(f"account: {type(e).__name__}: {e}")
if flavour == "soap":
    try:
        got = {}
        for r in GetUserSettings(protocol=proto).call(
            users=[email, other, "nobody@" + email.split("@")[1]],
            settings=["external_ews_url", "grouping_information", "auto_discover_smtp_address"],
        ):
            if isinstance(r, Exception):
                out["errors"].append(f"user: {type(r).__name__}: {r}")
                continue
            us = r.user_settings or {}  # None on a per-user error
            got[us.get("auto_discover_smtp_address") or r.error_code] = {
                "error_code": r.error_code,
                "external_ews_url": us.get("external_ews_url"),
                "grouping_information": us.get("grouping_information"),
            }
        out["users"] = got
    except Exception as e:  # noqa: BLE001
        out["errors"].append(f"GetUserSettings: {type(e).__name__}: {e}")
try:
    del cache[key]
    cache.close()
except Exception:  # noqa: BLE001
    pass
print(json.dumps(out))

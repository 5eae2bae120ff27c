"""What the exchangelib interop scripts share: debug logging, the Account
on the fake, and the per-check error capture.

The scripts run as `python3 testdata/<dir>/<script>.py URL USER PASSWORD
ADDRESS ...` from the Go tests; those in this directory import this module
directly, others put this directory on sys.path first.
"""

import logging
import os
import traceback

from exchangelib import BASIC, DELEGATE, NTLM, Account, Configuration, Credentials
from exchangelib.protocol import BaseProtocol

# AUTH maps the scripts' AUTH argument to exchangelib's auth types.
AUTH = {"basic": BASIC, "ntlm": NTLM}


def debug_logging(env="EWSTEST_INTEROP_DEBUG"):
    """Log exchangelib's traffic at DEBUG when the environment variable env is set."""
    if os.environ.get(env):
        logging.basicConfig(level=logging.DEBUG)


def account(url, user, password, address, auth_type=BASIC, access_type=DELEGATE, **config):
    """An Account for address on the EWS endpoint url, without autodiscovery.

    config holds further Configuration arguments (max_connections, version).
    """
    BaseProtocol.TIMEOUT = 30
    cfg = Configuration(service_endpoint=url, credentials=Credentials(user, password), auth_type=auth_type, **config)
    return Account(primary_smtp_address=address, config=cfg, autodiscover=False, access_type=access_type)


def checker(out):
    """A check(name, fn) that stores fn() in out[name], or on an exception
    "ERROR: <exception class>: <message>" (at most 300 characters), so that
    each check runs on its own."""

    def check(name, fn):
        try:
            out[name] = fn()
        except Exception as e:  # noqa: BLE001 - every failure is reported
            out[name] = ("ERROR: %s: %s" % (type(e).__name__, e))[:300]
            if os.environ.get("EWSTEST_INTEROP_DEBUG"):
                traceback.print_exc()

    return check

"""Drive the notification side of the ewstest fake server with exchangelib.

Usage: notifications.py URL USER PASSWORD ADDRESS AUTH STREAMS_URL

STREAMS_URL answers the number of streaming connections the server holds open.

Pull (subscribe_to_pull + get_events), streaming (subscribe_to_streaming +
get_streaming_events) and push (subscribe_to_push to a local http.server
listener that parses each SendNotification with exchangelib and answers
OK): each must see the CreatedEvent of an item exchangelib creates after
subscribing. Prints one JSON object; notify_interop_test.go asserts on it.
Exits non-zero on any exception.
"""

import http.server
import json
import queue
import sys
import threading

from exchangelib import Message
from exchangelib.properties import CreatedEvent, StatusEvent
from exchangelib.services import SendNotification

import ewsinterop

ewsinterop.debug_logging()


def created_ids(notifications):
    """The item ids of the CreatedEvents in some notifications."""
    out = []
    for n in notifications:
        for e in n.events:
            if isinstance(e, CreatedEvent) and e.item_id is not None:
                out.append(e.item_id.id)
    return out


def event_names(notifications):
    return [type(e).__name__ for n in notifications for e in n.events]


def create(account, subject):
    m = Message(account=account, folder=account.inbox, subject=subject, body="notify interop")
    m.save()
    return m.id


def pull(account, out):
    sub, wm = account.inbox.subscribe_to_pull(timeout=5)
    item = create(account, "pull interop")
    notifications = list(account.inbox.get_events(sub, wm))
    out["pull_item"] = item
    out["pull_created"] = created_ids(notifications)
    out["pull_events"] = event_names(notifications)
    out["pull_previous_is_subscribe_wm"] = notifications[0].previous_watermark == wm
    last = notifications[-1].events[-1].watermark
    idle = list(account.inbox.get_events(sub, last))
    out["pull_idle"] = event_names(idle)
    out["pull_idle_chains"] = idle[0].previous_watermark == last and idle[0].events[0].watermark == last
    account.inbox.unsubscribe(sub)


def wait_no_open_streams(url, deadline=20.0):
    """Poll the test's counter of open streaming connections until it is 0."""
    import time
    import urllib.request

    end = time.monotonic() + deadline
    while True:
        with urllib.request.urlopen(url, timeout=5) as r:
            if r.read().strip() == b"0":
                return
        if time.monotonic() > end:
            raise RuntimeError("the server still holds the first streaming connection")
        time.sleep(0.01)


def streaming(account, out):
    sub = account.inbox.subscribe_to_streaming()
    # Created while (or just before) the connection opens: either way the
    # event must arrive, live or from the subscription's queue.
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("item", create(account, "streaming interop")))
    t.start()
    notifications = []
    for n in account.inbox.get_streaming_events(sub, connection_timeout=1, max_notifications_returned=1):
        notifications.append(n)
        if box.get("item") in created_ids(notifications):
            break
    t.join()
    # The generator closed its response; wait until the server has seen the
    # connection end, or events raised now would still go to it.
    wait_no_open_streams(out["streams_url"])
    # A second connection after the first: an item created in between.
    item2 = create(account, "streaming interop 2")
    again = []
    for n in account.inbox.get_streaming_events(sub, connection_timeout=1, max_notifications_returned=1):
        again.append(n)
        break
    out["streaming_item"] = box.get("item")
    out["streaming_created"] = created_ids(notifications)
    out["streaming_item2"] = item2
    out["streaming_created2"] = created_ids(again)
    out["streaming_subscription_ok"] = all(n.subscription_id == sub for n in notifications + again)
    account.inbox.unsubscribe(sub)


def push(account, out):
    received = queue.Queue()

    class Listener(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            ws = SendNotification(protocol=None)
            for n in ws.parse(body):
                received.put(n)
            payload = ws.ok_payload()
            self.send_response(200)
            self.send_header("Content-Type", "text/xml; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Listener)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        url = "http://127.0.0.1:%d/push" % srv.server_address[1]
        sub, wm = account.inbox.subscribe_to_push(callback_url=url, status_frequency=1)
        first = received.get(timeout=30)
        out["push_first"] = event_names([first])
        out["push_first_sub_ok"] = first.subscription_id == sub
        item = create(account, "push interop")
        seen = []
        while item not in created_ids(seen):
            seen.append(received.get(timeout=30))
        out["push_item"] = item
        out["push_created"] = created_ids(seen)
    finally:
        srv.shutdown()


def main():
    url, user, password, address, auth, streams_url = sys.argv[1:7]
    account = ewsinterop.account(url, user, password, address, ewsinterop.AUTH[auth], max_connections=4)
    out = {"version": str(account.version.build), "streams_url": streams_url}
    pull(account, out)
    streaming(account, out)
    push(account, out)
    print(json.dumps(out))


if __name__ == "__main__":
    main()  # an exception prints its traceback and exits 1

"""Smoke-test the ewstest fake with exchangelib features beyond the interop test.

Usage: exchangelib_smoke.py URL USER PASSWORD ADDRESS

Each step records what exchangelib saw under its name in one JSON object
printed on stdout; the Go test (msdocs_exchangelib_test.go) asserts on it.
A step that raises records {"error": "..."} and the script goes on, so one
gap in the fake does not hide the others.
"""

import datetime
import json
import os
import sys
import traceback

from exchangelib import EWSDateTime, ExtendedProperty, Folder, Mailbox, Message, UTC

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "interop"))
import ewsinterop  # noqa: E402 - found through the path set above

ewsinterop.debug_logging("EWSTEST_SMOKE_DEBUG")


class LocalCommitTimeMax(ExtendedProperty):
    """PR_LOCAL_COMMIT_TIME_MAX (0x670A, PT_SYSTIME)."""

    property_tag = 0x670A
    property_type = "SystemTime"


class DeletedCountTotal(ExtendedProperty):
    """PR_DELETED_COUNT_TOTAL (0x670B, PT_LONG)."""

    property_tag = 0x670B
    property_type = "Integer"


def main():
    url, user, password, address = sys.argv[1:5]
    account = ewsinterop.account(url, user, password, address)
    out = {}

    def step(name, fn):
        try:
            out[name] = fn()
        except Exception as e:  # noqa: BLE001 - every failure is reported to the Go test
            out[name] = {"error": "%s: %s" % (type(e).__name__, e), "trace": traceback.format_exc()[-1500:]}

    inbox = account.inbox

    step("root_tree", lambda: account.root.tree().splitlines())

    def newest_ten():
        items = list(inbox.all().order_by("-datetime_received")[:10])
        return {
            "subjects": [i.subject for i in items],
            "received": [i.datetime_received.isoformat() for i in items],
        }

    step("newest_ten", newest_ten)

    def unread():
        return {
            "unread_count": inbox.filter(is_read=False).count(),
            "read_count": inbox.filter(is_read=True).count(),
            "unread_subjects": sorted(i.subject for i in inbox.filter(is_read=False).only("subject")),
        }

    step("filter_is_read", unread)

    def paging():
        # FindItem pages of 7 items (IndexedPageItemView MaxEntriesReturned).
        qs = inbox.all().only("subject")
        qs.page_size = 7
        subjects = [i.subject for i in qs]
        return {"count": len(subjects), "unique": len(set(subjects))}

    step("paging", paging)

    def values_list():
        return sorted(inbox.all().values_list("subject", flat=True))

    step("values_list", values_list)

    def refresh():
        item = inbox.all().order_by("-datetime_received")[0]
        before = item.subject
        item.subject = "changed locally"
        item.refresh()
        return {"before": before, "after_refresh": item.subject, "has_mime_size": item.size is not None}

    step("item_refresh", refresh)

    def bulk():
        msgs = [
            Message(account=account, folder=inbox, subject="bulk %d" % i, body="bulk body %d" % i, is_read=False)
            for i in range(5)
        ]
        created = account.bulk_create(folder=inbox, items=msgs)
        ids = [(c.id, c.changekey) for c in created]
        items = list(account.fetch(ids=ids))
        for it in items:
            it.subject = it.subject + " updated"
            it.is_read = True
        updated = account.bulk_update(items=[(it, ("subject", "is_read")) for it in items])
        after = list(account.fetch(ids=[(u[0], u[1]) for u in updated]))
        deleted = account.bulk_delete(ids=[(a.id, a.changekey) for a in after])
        gone = list(account.fetch(ids=[(a.id, a.changekey) for a in after]))
        return {
            "created": len(created),
            "fetched_subjects": sorted(i.subject for i in items),
            "updated": len(updated),
            "after_subjects": sorted(a.subject for a in after),
            "after_read": [a.is_read for a in after],
            "deleted": [d is True for d in deleted],
            "fetch_after_delete": [type(g).__name__ for g in gone],
        }

    step("bulk", bulk)

    def folder_lifecycle():
        f = Folder(parent=account.msg_folder_root, name="Smoke Folder")
        f.save()
        fid = f.id
        f.name = "Smoke Folder Renamed"
        f.save()
        f.refresh()
        id_stable = fid == f.id
        names_after_rename = sorted(c.name for c in account.msg_folder_root.children)
        sub = Folder(parent=f, name="Child")
        sub.save()
        f.refresh()
        child_count = f.child_folder_count
        f.delete()
        account.msg_folder_root.refresh()
        names_after_delete = sorted(c.name for c in account.msg_folder_root.children)
        return {
            "id_stable": id_stable,
            "renamed": f.name,
            "names_after_rename": names_after_rename,
            "child_count": child_count,
            "names_after_delete": names_after_delete,
        }

    step("folder_lifecycle", folder_lifecycle)

    def extended_props():
        Folder.register("local_commit_time_max", LocalCommitTimeMax)
        Folder.register("deleted_count_total", DeletedCountTotal)
        try:
            got = []
            for f in (account.inbox, account.trash):
                f.refresh()  # GetFolder with every registered field
                got.append(
                    {
                        "name": f.name,
                        "commit_time": f.local_commit_time_max.isoformat() if f.local_commit_time_max else None,
                        "deleted": f.deleted_count_total,
                    }
                )
            return got
        finally:
            Folder.deregister("local_commit_time_max")
            Folder.deregister("deleted_count_total")

    step("extended_props", extended_props)

    def move_copy_delete():
        item = Message(account=account, folder=inbox, subject="to move", body="x")
        item.save()
        item.move(account.drafts)
        in_drafts = account.drafts.filter(subject="to move").count()
        copy = item.copy(inbox)
        copies = inbox.filter(subject="to move").count()
        item.move_to_trash()  # DeleteItem MoveToDeletedItems returns no new id
        in_trash = account.trash.filter(subject="to move").count()
        item = account.trash.get(subject="to move")
        item.soft_delete()
        in_trash_after_soft = account.trash.filter(subject="to move").count()
        return {
            "in_drafts": in_drafts,
            "copy_is_id": isinstance(copy, tuple) or hasattr(copy, "id"),
            "copies_in_inbox": copies,
            "in_trash": in_trash,
            "in_trash_after_soft_delete": in_trash_after_soft,
        }

    step("move_copy_delete", move_copy_delete)

    def mime_roundtrip():
        mime = (
            b"From: Carol <carol@example.com>\r\nTo: alice@example.com\r\n"
            b"Subject: from mime\r\nMessage-ID: <mime-1@example.com>\r\n"
            b"Date: Mon, 2 Mar 2026 09:00:00 +0000\r\n\r\nMIME body\r\n"
        )
        m = Message(account=account, folder=inbox, mime_content=mime)
        m.save()
        got = inbox.get(subject="from mime")
        return {
            "subject": got.subject,
            "sender": got.sender.email_address if got.sender else None,
            "message_id": got.message_id,
            "mime_has_subject": b"Subject: from mime" in (got.mime_content or b""),
        }

    step("mime_roundtrip", mime_roundtrip)

    def restrictions():
        start = EWSDateTime(2000, 1, 1, tzinfo=UTC)
        return {
            "contains": inbox.filter(subject__contains="message").count(),
            "since_2000": inbox.filter(datetime_received__gt=start).count(),
            "exists": inbox.filter(subject="no such subject").exists(),
        }

    step("restrictions", restrictions)

    def navigation():
        top = account.root / "Top of Information Store"
        inbox_by_path = top / "Inbox"
        return {
            "same_inbox": inbox_by_path.id == inbox.id,
            "parent_is_top": inbox.parent.id == account.msg_folder_root.id,
            "walk_names": sorted(f.name for f in account.msg_folder_root.walk()),
            "glob": sorted(f.name for f in account.msg_folder_root.glob("*Items")),
        }

    step("navigation", navigation)

    def update_fields():
        item = inbox.get(subject="message 01")
        item.is_read = False
        item.categories = ["Red", "Blue"]
        item.importance = "High"
        item.save(update_fields=["is_read", "categories", "importance"])
        again = inbox.get(subject="message 01")
        return {"is_read": again.is_read, "categories": again.categories, "importance": again.importance}

    step("update_fields", update_fields)

    def date_range():
        start = EWSDateTime(2026, 2, 1, 10, 0, tzinfo=UTC)
        end = EWSDateTime(2026, 2, 1, 14, 0, tzinfo=UTC)
        return sorted(i.subject for i in inbox.filter(datetime_received__range=(start, end)))

    step("date_range", date_range)

    def attachments():
        item = inbox.get(subject="message 04")
        return [{"name": a.name, "content": a.content.decode()} for a in item.attachments]

    step("attachments", attachments)

    def bulk_move_and_send():
        target = Folder(parent=account.msg_folder_root, name="Moved Here")
        target.save()
        ids = [(i.id, i.changekey) for i in inbox.filter(subject__startswith="message 1")]
        moved = account.bulk_move(ids=ids, to_folder=target)
        in_target = target.all().count()
        Message(account=account, subject="sent to self", body="hi",
                to_recipients=[Mailbox(email_address=address)]).send(save_copy=True)
        return {
            "asked": len(ids),
            "moved": len([m for m in moved if not isinstance(m, Exception)]),
            "in_target": in_target,
            "self_in_inbox": inbox.filter(subject="sent to self").count(),
            "copy_in_sent": account.sent.filter(subject="sent to self").count(),
        }

    step("bulk_move_and_send", bulk_move_and_send)

    def sync_only_fields():
        seen = []
        for change_type, item in inbox.sync_items(only_fields=["subject"], max_changes_returned=4):
            seen.append([change_type, item.subject])
        again = list(inbox.sync_items(sync_state=inbox.item_sync_state))
        return {"creates": len([c for c in seen if c[0] == "create"]), "all_have_subject": all(c[1] for c in seen),
                "second": len(again)}

    step("sync_only_fields", sync_only_fields)

    def inbox_counts():
        inbox.refresh()
        return {"total": inbox.total_count, "unread": inbox.unread_count, "children": inbox.child_folder_count}

    step("inbox_counts", inbox_counts)

    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()

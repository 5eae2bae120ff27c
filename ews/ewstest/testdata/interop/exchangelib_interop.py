"""Drive the ewstest fake Exchange server with exchangelib.

Usage: exchangelib_interop.py URL USER PASSWORD ADDRESS AUTH

Prints one JSON object with what exchangelib saw; the Go test
(interop_test.go) asserts on it. Exits non-zero on any exception.
"""

import json
import os
import sys

from exchangelib import DELEGATE, IMPERSONATION, Build, Mailbox, Message, Version

import ewsinterop

ewsinterop.debug_logging()


def drain_items(folder, state=None, page=None):
    """Run sync_items to completion; return (changes, new state)."""
    changes = []
    kwargs = {"sync_state": state}
    if page:
        kwargs["max_changes_returned"] = page
    for change_type, item in folder.sync_items(**kwargs):
        if change_type == "delete":
            changes.append([change_type, item.id])
        elif change_type == "read_flag_change":
            item_id, is_read = item
            changes.append([change_type, item_id.id])
        else:
            changes.append([change_type, item.id, item.subject])
    return changes, folder.item_sync_state


def main():
    url, user, password, address, auth = sys.argv[1:6]
    version = None
    if os.environ.get("EWSTEST_INTEROP_FIXED_VERSION"):
        version = Version(build=Build(15, 1, 2507, 6))
    access = IMPERSONATION if os.environ.get("EWSTEST_INTEROP_IMPERSONATE") else DELEGATE
    account = ewsinterop.account(
        url, user, password, address, ewsinterop.AUTH[auth], access, version=version, max_connections=2
    )
    out = {"version": str(account.version.build)}

    # 1. The folder tree.
    out["tree"] = sorted(f.name for f in account.msg_folder_root.walk())
    out["root_children"] = sorted(f.name for f in account.root.children)

    # 2. Counts and reading.
    inbox = account.inbox
    inbox.refresh()
    out["inbox_total_count"] = inbox.total_count
    out["inbox_unread_count"] = inbox.unread_count
    out["inbox_query_count"] = inbox.all().count()
    items = list(inbox.all().order_by("-datetime_received").only("subject", "is_read", "datetime_received", "sender", "size"))
    out["inbox_subjects"] = [i.subject for i in items]
    first = inbox.get(id=items[0].id, changekey=items[0].changekey)
    out["first_subject"] = first.subject
    out["first_sender"] = first.sender.email_address if first.sender else None
    out["first_mime_starts"] = first.mime_content[:5].decode() if first.mime_content else None
    out["first_size_matches_mime"] = first.size == len(first.mime_content)
    out["first_body_nonempty"] = bool(first.body)
    with_att = inbox.get(subject="message 04")
    out["attachment"] = [
        [a.name, a.content.decode() if a.content else None] for a in with_att.attachments
    ]
    out["paged_count"] = len(list(inbox.all().only("subject")[0:7]))

    # 3. sync_hierarchy to completion.
    hier = [(c, f.name) for c, f in account.msg_folder_root.sync_hierarchy()]
    out["hierarchy_changes"] = len(hier)
    out["hierarchy_creates_include_inbox"] = any(c == "create" and n == "Inbox" for c, n in hier)
    hstate = account.msg_folder_root.folder_sync_state
    again = list(account.msg_folder_root.sync_hierarchy(sync_state=hstate))
    out["hierarchy_second"] = len(again)

    # 4. sync_items to completion, paged small, then a second sync is empty.
    initial, state = drain_items(inbox, page=3)
    out["initial_sync_creates"] = sum(1 for c in initial if c[0] == "create")
    out["initial_sync_other"] = sum(1 for c in initial if c[0] != "create")
    out["initial_sync_ids_unique"] = len({c[1] for c in initial}) == len(initial)
    second, state = drain_items(inbox, state)
    out["second_sync"] = len(second)

    # 5. Changes through exchangelib, then see exactly them in sync_items.
    folder = inbox / "Projects" if any(f.name == "Projects" for f in inbox.children) else None
    if folder is None:
        from exchangelib import Folder

        folder = Folder(parent=inbox, name="Projects")
        folder.save()
    out["created_folder"] = folder.name

    new = Message(
        account=account,
        folder=inbox,
        subject="created by exchangelib",
        body="hello from python",
        to_recipients=[Mailbox(email_address=address)],
    )
    new.save()
    victim = items[1]
    mover = items[2]
    reader = items[3]
    victim_id, mover_id, reader_id = victim.id, mover.id, reader.id
    first.subject = "renamed by exchangelib"
    first.save(update_fields=["subject"])
    reader.is_read = not reader.is_read
    reader.save(update_fields=["is_read"])
    moved = mover.move(folder)
    victim.delete()

    changes, state = drain_items(inbox, state)
    summary = sorted(c[0] + ":" + (c[2] if len(c) > 2 else "") for c in changes)
    out["changes"] = summary
    ids = {c[0]: c[1] for c in changes}
    out["deleted_ids_match"] = sorted(c[1] for c in changes if c[0] == "delete") == sorted([victim_id, mover_id])
    out["read_flag_id_matches"] = ids.get("read_flag_change") == reader_id
    out["third_sync"] = len(drain_items(inbox, state)[0])

    moved_changes, _ = drain_items(folder)
    out["moved_folder_creates"] = [c[2] for c in moved_changes if c[0] == "create"]

    # 6. Folder changes through sync_hierarchy.
    folder.name = "Projects renamed"
    folder.save(update_fields=["name"])
    hier2 = [(c, f.name) for c, f in account.msg_folder_root.sync_hierarchy(sync_state=hstate)]
    out["hierarchy_after"] = sorted(c + ":" + (n or "") for c, n in hier2)

    # 7. A garbage sync state is refused the way Exchange refuses it.
    try:
        list(inbox.sync_items(sync_state="bm90IGEgc3luYyBzdGF0ZQ=="))
        out["garbage_state"] = "accepted"
    except Exception as e:  # exchangelib raises ErrorInvalidSyncStateData
        out["garbage_state"] = type(e).__name__

    more(account, inbox, folder, out)
    churn(account, inbox, out)
    print(json.dumps(out, sort_keys=True))


def churn(account, inbox, out):
    """Paging across a changing mailbox: while a folder named "Churn"
    exists, the Go side delivers a new message before every SyncFolderItems
    call. A mirror built only from sync_items must end equal to the folder,
    with no item created twice."""
    _, state = drain_items(inbox)
    mirror = {i.id for i in inbox.all().only("id")}
    from exchangelib import Folder

    marker = Folder(parent=account.msg_folder_root, name="Churn")
    marker.save()
    created, duplicates, unknown = 0, 0, 0
    for change_type, item in inbox.sync_items(sync_state=state, max_changes_returned=2):
        if change_type == "create":
            created += 1
            if item.id in mirror:
                duplicates += 1
            mirror.add(item.id)
        elif change_type == "delete":
            if item.id not in mirror:
                unknown += 1
            mirror.discard(item.id)
        else:
            item_id = item[0].id if change_type == "read_flag_change" else item.id
            if item_id not in mirror:
                unknown += 1
    state = inbox.item_sync_state
    marker.delete()
    for change_type, item in inbox.sync_items(sync_state=state):
        if change_type == "create":
            if item.id in mirror:
                duplicates += 1
            mirror.add(item.id)
            created += 1
        elif change_type == "delete":
            mirror.discard(item.id)
    server = {i.id for i in inbox.all().only("id")}
    out["churn_created"] = created
    out["churn_duplicates"] = duplicates
    out["churn_unknown"] = unknown
    out["churn_mirror_matches"] = mirror == server


def more(account, inbox, folder, out):
    """Second round: restrictions, batch calls with per-item errors, copy,
    soft delete, move to trash, categories, folder move and delete."""
    out["unread_filter"] = inbox.filter(is_read=False).count()
    out["subject_filter"] = sorted(i.subject for i in inbox.filter(subject__contains="message 0").only("subject"))
    _, state = drain_items(inbox)
    items = list(inbox.all().order_by("datetime_received").only("subject", "categories"))
    a, b, c, d = items[0], items[1], items[2], items[3]
    a_id, b_id, c_id = a.id, b.id, c.id
    a.categories = ["Red", "Blue"]
    a.save(update_fields=["categories"])
    out["categories_roundtrip"] = inbox.get(id=a_id).categories
    copied = b.copy(to_folder=folder)
    c.soft_delete()
    d.move_to_trash()
    fetched = list(account.fetch(ids=[(a_id, None), (c_id, None)]))
    out["fetch_kinds"] = [type(x).__name__ for x in fetched]
    deleted = account.bulk_delete(ids=[(c_id, None), (b_id, None)])
    out["bulk_delete_results"] = [r if r is True else type(r).__name__ for r in deleted]
    changes, state = drain_items(inbox, state)
    out["round2_changes"] = sorted(ch[0] for ch in changes)
    trash_subjects = [i.subject for i in account.trash.all().only("subject")]
    out["trash_has_moved"] = d.subject in trash_subjects
    out["copy_in_folder"] = copied is not None
    # Folder move and delete; the hierarchy sync sees both.
    account.msg_folder_root.refresh()
    _ = [x for x in account.msg_folder_root.sync_hierarchy()]
    hstate = account.msg_folder_root.folder_sync_state
    folder.move(to_folder=account.msg_folder_root)
    moved_parent = account.msg_folder_root.get_folder(folder) if hasattr(account.msg_folder_root, "get_folder") else None
    hmove = [(ch, f.name) for ch, f in account.msg_folder_root.sync_hierarchy(sync_state=hstate)]
    out["hierarchy_move"] = sorted(ch + ":" + (n or "") for ch, n in hmove)
    hstate = account.msg_folder_root.folder_sync_state
    folder.delete()
    hdel = [ch for ch, f in account.msg_folder_root.sync_hierarchy(sync_state=hstate)]
    out["hierarchy_delete"] = hdel
    del moved_parent


if __name__ == "__main__":
    main()  # an exception prints its traceback and exits 1

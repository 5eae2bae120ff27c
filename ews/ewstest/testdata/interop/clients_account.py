"""Drive the ewstest fake with exchangelib's account-level services and
non-mail items: folder tree, OOF settings, time zones, name resolution,
room lists, delegates, attachments, archive, calendar, contacts and
tasks.

Usage: clients_account.py URL USER PASSWORD ADDRESS

Each check runs on its own; its result (or "ERROR: <exception class>:
<message>") goes into one JSON object on stdout, which
interop_clients_test.go asserts on.
"""

import datetime
from decimal import Decimal
import json
import sys

from exchangelib import (
    UTC,
    CalendarItem,
    Contact,
    DistributionList,
    EWSDate,
    EWSDateTime,
    EWSTimeZone,
    Folder,
    FileAttachment,
    ItemAttachment,
    Message,
    OofSettings,
    PostItem,
    Task,
)
from exchangelib.indexed_properties import EmailAddress, PhoneNumber

import ewsinterop

ewsinterop.debug_logging()


def main():
    url, user, password, address = sys.argv[1:5]
    account = ewsinterop.account(url, user, password, address, max_connections=2)
    out = {}
    check = ewsinterop.checker(out)

    def saved(cls, folder, **fields):
        """Create a cls item in folder, save it, and return it read back."""
        item = cls(account=account, folder=folder, **fields)
        item.save()
        return folder.get(id=item.id)

    # Folders.
    check("tree_has_inbox", lambda: "Inbox" in account.root.tree())
    check("inbox_children", lambda: [f.name for f in account.inbox.children])
    check("public_folders_root", lambda: str(account.public_folders_root))

    # Account-level services.
    def oof():
        account.oof_settings = OofSettings(
            state=OofSettings.ENABLED, internal_reply="I am away", external_reply="Away", external_audience="All"
        )
        s = account.oof_settings
        return [s.state, s.internal_reply, s.external_reply, s.external_audience]

    check("oof", oof)
    check("timezones", lambda: len(list(account.protocol.get_timezones())) > 0)
    check(
        "resolve_names",
        lambda: sorted(m.email_address for m in account.protocol.resolve_names(["bob"])),
    )
    check("resolve_none", lambda: [type(r).__name__ for r in account.protocol.resolve_names(["nobody-here"])])
    check("resolve_smtp", lambda: [m.email_address for m in account.protocol.resolve_names(["SMTP:alice@example.com"])])
    check("roomlists", lambda: list(account.protocol.get_roomlists()))
    check("delegates", lambda: list(account.delegates))
    check("tz_ids", lambda: sorted(t.id for t in account.protocol.get_timezones() if t.id in ("UTC", "Tokyo Standard Time")))

    # Attachments on a saved item.
    def attach():
        m = Message(account=account, folder=account.drafts, subject="with attachment", body="see file")
        m.save()
        att = FileAttachment(name="hello.txt", content=b"hello world")
        m.attach(att)
        fresh = account.drafts.get(id=m.id)
        names = [a.name for a in fresh.attachments]
        content = fresh.attachments[0].content.decode()
        m.detach(att)
        after = account.drafts.get(id=m.id)
        return [names, content, len(after.attachments)]

    check("attach", attach)

    def item_attachment():
        outer = Message(account=account, folder=account.drafts, subject="outer", body="o")
        outer.save()
        outer.attach(ItemAttachment(name="forwarded", item=Message(subject="inner", body="inner body")))
        fresh = account.drafts.get(id=outer.id)
        a = fresh.attachments[0]
        return [type(a).__name__, a.name, a.item.subject, str(a.item.body)]

    check("item_attachment", item_attachment)
    check(
        "archive",
        lambda: [type(r).__name__ for r in account.inbox.filter(subject="Party").archive(to_folder=account.inbox)],
    )

    # Calendar, contacts, tasks.
    start = EWSDateTime(2025, 4, 1, 9, 0, tzinfo=UTC)

    def calendar():
        item = CalendarItem(
            account=account,
            folder=account.calendar,
            subject="Planning",
            start=start,
            end=start + datetime.timedelta(hours=1),
            location="Room 1",
            body="agenda",
        )
        item.save(send_meeting_invitations="SendToNone")
        CalendarItem(
            account=account,
            folder=account.calendar,
            subject="Later",
            start=start + datetime.timedelta(days=10),
            end=start + datetime.timedelta(days=10, hours=1),
        ).save()
        got = account.calendar.get(id=item.id)
        view = [
            i.subject
            for i in account.calendar.view(start=start - datetime.timedelta(days=1), end=start + datetime.timedelta(days=1))
        ]
        got.subject = "Planning (moved)"
        got.save(update_fields=["subject"])
        after = account.calendar.get(id=item.id)
        everything = sorted(i.subject for i in account.calendar.all())
        after.delete()
        return [
            got.location,
            got.start.isoformat(),
            got.end.isoformat(),
            view,
            after.subject,
            everything,
            account.calendar.all().count(),
        ]

    check("calendar", calendar)

    def contact():
        got = saved(
            Contact, account.contacts, display_name="Carol Jones", given_name="Carol", surname="Jones", company_name="Acme"
        )
        return [got.given_name, got.surname, got.company_name, account.contacts.all().count()]

    check("contact", contact)

    def task():
        got = saved(Task, account.tasks, subject="Write report", status="InProgress")
        return [got.subject, got.status]

    check("task", task)

    # More everyday calls.
    def calendar_filters():
        tz = EWSTimeZone("Europe/Copenhagen")
        s = EWSDateTime(2025, 6, 2, 10, 0, tzinfo=tz)
        got = saved(CalendarItem, account.calendar, subject="Local", start=s, end=s + datetime.timedelta(hours=2))
        overlapping = [
            i.subject
            for i in account.calendar.filter(
                start__lt=s + datetime.timedelta(hours=1), end__gt=s - datetime.timedelta(hours=1)
            )
        ]
        changes = [c for c, _ in account.calendar.sync_items()]
        return [got.start.astimezone(UTC).isoformat(), overlapping, sorted(set(changes))]

    check("calendar_filters", calendar_filters)

    def contact_email():
        got = saved(
            Contact,
            account.contacts,
            display_name="Dan",
            email_addresses=[EmailAddress(email="dan@example.org", label="EmailAddress1")],
            phone_numbers=[PhoneNumber(label="MobilePhone", phone_number="+45 1234")],
        )
        return [[e.email for e in got.email_addresses], [p.phone_number for p in got.phone_numbers]]

    check("contact_email", contact_email)

    def folders_and_moves():
        sub = Folder(parent=account.inbox, name="Sub")
        sub.save()
        m = Message(account=account, folder=account.inbox, subject="to move", body="x")
        m.save()
        m.move(sub)
        copied = m.copy(account.drafts)
        names = [f.name for f in account.inbox.children]
        n_sub = sub.all().count()
        (account.inbox / "Sub").empty()
        return [names, n_sub, sub.all().count(), bool(copied)]

    check("folders_and_moves", folders_and_moves)

    def bulk():
        ids = account.bulk_create(
            folder=account.drafts,
            items=[Message(account=account, subject="bulk %d" % i, body="b") for i in range(3)],
        )
        fetched = [i.subject for i in account.fetch(ids=ids)]
        account.bulk_update(items=[(i, ("subject",)) for i in account.fetch(ids=ids) if setattr(i, "subject", i.subject + "!") is None])
        after = sorted(i.subject for i in account.fetch(ids=ids))
        account.bulk_delete(ids=ids)
        return [sorted(fetched), after, account.drafts.filter(subject__startswith="bulk").count()]

    check("bulk", bulk)

    def send():
        Message(account=account, subject="hello bob", body="hi", to_recipients=["bob@example.com"]).send_and_save()
        return account.sent.filter(subject="hello bob").count()

    check("send", send)

    def free_busy():
        s = EWSDateTime(2025, 6, 2, 0, 0, tzinfo=UTC)
        views = list(
            account.protocol.get_free_busy_info(
                accounts=[(account, "Required", False)],
                start=s,
                end=s + datetime.timedelta(days=1),
                merged_free_busy_interval=60,
                requested_view="DetailedMerged",
            )
        )
        v = views[0]
        return [
            v.view_type,
            v.merged,
            [[e.start.isoformat(), e.end.isoformat(), e.busy_type, e.details.subject] for e in v.calendar_events],
        ]

    check("free_busy", free_busy)

    def junk():
        Message(account=account, folder=account.inbox, subject="spam spam", body="x").save()
        res = account.inbox.filter(subject="spam spam").mark_as_junk(is_junk=True, move_item=True)
        return [len(list(res)), account.junk.filter(subject="spam spam").count(), account.inbox.filter(subject="spam spam").count()]

    check("junk", junk)

    def export_upload():
        items = list(account.inbox.filter(subject__in=["Party", "Invoice"]).order_by("subject"))
        data = account.export(items)
        restore = Folder(parent=account.msg_folder_root, name="Restore")
        restore.save()
        account.upload([(restore, d) for d in data])
        restored = sorted((i.subject, i.has_attachments) for i in restore.all())
        cal = list(account.calendar.filter(subject="Local"))
        cal_data = account.export(cal)
        account.upload([(account.calendar, cal_data[0])])
        copies = sorted(i.start.isoformat() for i in account.calendar.filter(subject="Local"))
        return [restored, copies]

    check("export_upload", export_upload)

    def more_items():
        got_post = saved(PostItem, account.inbox, subject="posted", body="to the folder")
        got_dl = saved(DistributionList, account.contacts, display_name="Team")
        s = EWSDateTime(2025, 7, 1, 9, 0, tzinfo=UTC)
        meeting = CalendarItem(
            account=account,
            folder=account.calendar,
            subject="Review",
            start=s,
            end=s + datetime.timedelta(minutes=45),
            required_attendees=["bob@example.com"],
        )
        meeting.save(send_meeting_invitations="SendToAllAndSaveCopy")
        got_meeting = account.calendar.get(id=meeting.id)
        attendees = [a.mailbox.email_address for a in got_meeting.required_attendees or []]
        got_meeting.delete(send_meeting_cancellations="SendToNone")
        due = EWSDate(2025, 8, 1)
        got_task = saved(Task, account.tasks, subject="Due soon", due_date=due, status="InProgress", percent_complete=Decimal(50))
        return [
            type(got_post).__name__,
            got_post.subject,
            type(got_dl).__name__,
            got_dl.display_name,
            attendees,
            got_meeting.is_meeting,
            str(got_task.due_date),
            str(got_task.percent_complete),
            account.tasks.filter(due_date__lt=EWSDate(2025, 8, 2)).count(),
        ]

    check("more_items", more_items)

    def mail_tips():
        t = account.mail_tips
        return [t.recipient_address.email_address, t.out_of_office.reply_body, t.mailbox_full, t.max_message_size]

    check("mail_tips", mail_tips)
    check("people", lambda: sorted(p.display_name for p in account.contacts.people()))
    check("calendar_order", lambda: [i.subject for i in account.calendar.all().order_by("-start").only("subject")])
    check(
        "contact_filter",
        lambda: [c.display_name for c in account.contacts.filter(display_name__startswith="Car").only("display_name")],
    )
    check("rooms", lambda: [type(r).__name__ for r in account.protocol.get_rooms("rooms@example.com")])

    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()

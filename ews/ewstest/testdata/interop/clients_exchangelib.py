"""Drive the ewstest fake with exchangelib the way applications commonly
do beyond mail sync: QuerySet filters, exclude, Q objects, ordering,
counts, AQS query strings, and account-level services.

Usage: clients_exchangelib.py URL USER PASSWORD ADDRESS

Each check runs on its own; its result (or "ERROR: <exception class>:
<message>") goes into one JSON object on stdout, which
interop_clients_test.go asserts on.
"""

import datetime
import json
import sys

from exchangelib import EWSDateTime, Mailbox, Q, UTC
from exchangelib.folders.queryset import SingleFolderQuerySet

import ewsinterop

ewsinterop.debug_logging()


def subjects(qs):
    return sorted(i.subject for i in qs.only("subject"))


def main():
    url, user, password, address = sys.argv[1:5]
    account = ewsinterop.account(url, user, password, address, max_connections=2)
    inbox = account.inbox
    base = EWSDateTime(2025, 3, 1, tzinfo=UTC)
    out = {}
    check = ewsinterop.checker(out)

    # Restrictions (FindItem t:Restriction).
    check("contains", lambda: subjects(inbox.filter(subject__contains="report")))
    check("icontains", lambda: subjects(inbox.filter(subject__icontains="REPORT")))
    check("startswith", lambda: subjects(inbox.filter(subject__startswith="Weekly")))
    check("iexact", lambda: subjects(inbox.filter(subject__iexact="lunch plans")))
    check("exact", lambda: subjects(inbox.filter(subject="Lunch plans")))
    check(
        "range",
        lambda: subjects(
            inbox.filter(
                datetime_received__range=(base + datetime.timedelta(hours=2), base + datetime.timedelta(hours=4))
            )
        ),
    )
    check("gte", lambda: subjects(inbox.filter(datetime_received__gte=base + datetime.timedelta(hours=5))))
    check("unread", lambda: subjects(inbox.filter(is_read=False)))
    check("categories", lambda: subjects(inbox.filter(categories__contains=["Work"])))
    check("categories_all", lambda: subjects(inbox.filter(categories__contains=["Work", "Urgent"])))
    check("categories_in", lambda: subjects(inbox.filter(categories__in=["Urgent", "Home"])))
    check("sender", lambda: subjects(inbox.filter(sender="bob@example.org")))
    check("sender_mailbox", lambda: subjects(inbox.filter(sender=Mailbox(email_address="bob@example.org"))))
    check("importance", lambda: subjects(inbox.filter(importance="High")))
    check("has_attachments", lambda: subjects(inbox.filter(has_attachments=True)))
    check("size_gt", lambda: subjects(inbox.filter(size__gt=4000)))
    check("exclude", lambda: subjects(inbox.exclude(subject__contains="report")))
    check("q_or", lambda: subjects(inbox.filter(Q(importance="High") | Q(subject__startswith="Lunch"))))
    check("q_not", lambda: subjects(inbox.filter(~Q(is_read=True) & Q(importance="Normal"))))
    check("exists", lambda: inbox.filter(subject__contains="Lunch").exists())
    check("not_exists", lambda: inbox.filter(subject__contains="nothing like this").exists())
    check("count", lambda: inbox.filter(is_read=False).count())
    check("order_by", lambda: [i.subject for i in inbox.all().order_by("-size", "subject").only("subject")])
    check("order_by_subject", lambda: [i.subject for i in inbox.all().order_by("subject").only("subject")])
    check(
        "values_list",
        lambda: sorted(inbox.filter(importance="High").values_list("subject", "importance")),
    )
    check("values_flat", lambda: sorted(inbox.filter(has_attachments=True).values_list("subject", flat=True)))
    check("message_id", lambda: subjects(inbox.filter(message_id="<lunch@example.org>")))
    check("body_contains", lambda: subjects(inbox.filter(body__contains="quarterly")))
    check("item_class", lambda: inbox.filter(item_class="IPM.Note").count())
    check("sensitivity", lambda: subjects(inbox.filter(sensitivity="Private")))
    check("in_subjects", lambda: subjects(inbox.filter(subject__in=["Lunch plans", "Weekly report"])))

    # AQS query strings (FindItem m:QueryString).
    check("aqs_subject", lambda: subjects(inbox.filter("subject:report")))
    check("aqs_from", lambda: subjects(inbox.filter("from:bob")))
    check("aqs_free", lambda: subjects(inbox.filter("quarterly")))
    check("aqs_phrase", lambda: subjects(inbox.filter('subject:"report draft"')))
    check("aqs_bool", lambda: subjects(inbox.filter("hasattachment:true AND isread:false")))
    check("aqs_or_not", lambda: subjects(inbox.filter("(subject:party OR subject:lunch) NOT from:ann@example.org")))
    check("aqs_received", lambda: inbox.filter("received:2025-03-01").count())
    check("aqs_received_after", lambda: inbox.filter("received:>2025-03-01").count())

    # Folder restrictions.
    check(
        "folder_filter",
        lambda: sorted(
            f.name
            for f in SingleFolderQuerySet(account=account, folder=account.msg_folder_root)
            .depth("Shallow")
            .filter(name__startswith="In")
        ),
    )
    check(
        "folder_counts",
        lambda: sorted(
            f.name
            for f in SingleFolderQuerySet(account=account, folder=account.msg_folder_root)
            .depth("Deep")
            .filter(total_count__gt=0)
        ),
    )
    # A restriction over item folders of all kinds (FolderCollection.filter).
    check("collection_filter", lambda: subjects(account.msg_folder_root.children.filter(subject__startswith="Lunch")))

    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()

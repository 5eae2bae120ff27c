// Drives an EWS endpoint with ews-javascript-api (a TypeScript port of
// Microsoft's EWS Managed API) the way a Managed API program would, and
// prints what it saw as one JSON object on stdout.
//
//   node interop.js URL USER PASSWORD [basic|ntlm] [SMTP-ADDRESS-TO-IMPERSONATE]
//
// The mailbox is expected to hold the fixture of interop_ewsjs_test.go:
// twelve messages "message 00".."message 11" in the Inbox (00 oldest; every
// third, starting with 00, read; 04 with the attachment notes.txt), a
// top-level folder "Archive 2025", and bob@example.com as another local user.
//
// Each step records its failure in out.errors and the run goes on, so one
// discrepancy does not hide the others. The exit code is 0 whenever the JSON
// was printed; the Go test judges it.
//
// Library quirks this script works around or avoids (ews-javascript-api
// 0.15.3, not server behaviour): string values are written into requests
// unescaped by design, so HTML bodies are escaped here; the promise of
// StreamingSubscriptionConnection.Open settles only on failure;
// FindFolders never sets FolderView results' NextPageOffset (FindItems
// does, so offset paging is exercised there); AddItemAttachment leaves
// the attachment's Item null, so item attachments are not created.
"use strict";

const ews = require("ews-javascript-api");
const { XhrApi } = require("@ewsjs/xhr");

const [url, user, pass, auth = "basic", impersonate = ""] = process.argv.slice(2);
if (!url || !user || !pass) {
  console.error("usage: node interop.js URL USER PASSWORD [basic|ntlm] [SMTP-ADDRESS-TO-IMPERSONATE]");
  process.exit(2);
}

const out = { errors: [] };

// The library logs through console.log in places; keep stdout for the JSON.
const realLog = console.log;
console.log = (...args) => console.error(...args);

function describe(err) {
  if (!err) return String(err);
  const parts = [];
  if (err.constructor && err.constructor.name) parts.push(err.constructor.name);
  if (err.ErrorCode !== undefined) parts.push("ErrorCode=" + ews.ServiceError[err.ErrorCode]);
  if (err.message) parts.push(err.message);
  else if (err.Message) parts.push(err.Message);
  if (parts.length <= 1) {
    try {
      parts.push(JSON.stringify(err).slice(0, 500));
    } catch (_) {
      parts.push(String(err));
    }
  }
  return parts.join(": ");
}

async function step(name, fn) {
  console.error("step: " + name);
  try {
    await fn();
  } catch (err) {
    out.errors.push(name + ": " + describe(err));
  }
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(what + ": no answer in " + ms + " ms")), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function xmlEscape(s) {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function extendedValue(obj, def) {
  const v = { outValue: null };
  return obj.TryGetProperty(def, v) ? v.outValue : null;
}

function changeName(ct) {
  return ews.ChangeType[ct];
}

async function main() {
  const service = new ews.ExchangeService(ews.ExchangeVersion.Exchange2013);
  service.Url = new ews.Uri(url);
  service.Credentials = new ews.WebCredentials(user, pass);
  if (auth === "ntlm") {
    service.XHRApi = new XhrApi({ rejectUnauthorized: true }).useNtlmAuthentication(user, pass);
  }
  out.auth = auth;
  if (impersonate) {
    // ExchangeImpersonation: the script then acts on that mailbox.
    service.ImpersonatedUserId = new ews.ImpersonatedUserId(ews.ConnectingIdType.SmtpAddress, impersonate);
    out.impersonated = impersonate;
  }

  const inboxId = new ews.FolderId(ews.WellKnownFolderName.Inbox);
  const lastModified = new ews.ExtendedPropertyDefinition(0x670a, ews.MapiPropertyType.SystemTime);
  const deletedCount = new ews.ExtendedPropertyDefinition(0x670b, ews.MapiPropertyType.Integer);

  // Folder.Bind with counts and the two MAPI properties a sync engine polls.
  await step("Folder.Bind(Inbox)", async () => {
    const ps = new ews.PropertySet(ews.BasePropertySet.FirstClassProperties, [
      ews.FolderSchema.TotalCount,
      ews.FolderSchema.UnreadCount,
      ews.FolderSchema.WellKnownFolderName,
      lastModified,
      deletedCount,
    ]);
    const inbox = await ews.Folder.Bind(service, ews.WellKnownFolderName.Inbox, ps);
    out.inbox = {
      displayName: inbox.DisplayName,
      total: inbox.TotalCount,
      unread: inbox.UnreadCount,
      idNonEmpty: !!(inbox.Id && inbox.Id.UniqueId),
      wellKnown: ews.WellKnownFolderName[inbox.WellKnownFolderName] || null,
      lastModified: null,
      deletedCount: null,
    };
    const lm = extendedValue(inbox, lastModified);
    if (lm !== null) out.inbox.lastModified = lm.toString();
    out.inbox.deletedCount = extendedValue(inbox, deletedCount);
    out.inbox.extendedCount = inbox.ExtendedProperties.Count;
    out.serverVersion = service.ServerInfo
      ? `${service.ServerInfo.MajorVersion}.${service.ServerInfo.MinorVersion}`
      : null;
  });

  // FindFolders over the whole visible tree.
  await step("FindFolders(MsgFolderRoot, Deep)", async () => {
    const view = new ews.FolderView(100);
    view.Traversal = ews.FolderTraversal.Deep;
    view.PropertySet = new ews.PropertySet(ews.BasePropertySet.IdOnly, [
      ews.FolderSchema.DisplayName,
      ews.FolderSchema.TotalCount,
      ews.FolderSchema.ChildFolderCount,
    ]);
    const res = await service.FindFolders(ews.WellKnownFolderName.MsgFolderRoot, view);
    out.tree = res.Folders.map((f) => f.DisplayName).sort();
    out.treeTotal = res.TotalCount;
    out.treeMore = res.MoreAvailable;
    const inbox = res.Folders.find((f) => f.DisplayName === "Inbox");
    out.treeInboxTotal = inbox ? inbox.TotalCount : null;
  });

  // FindItems paged with an offset, newest first.
  await step("FindItems paging", async () => {
    const subjects = [];
    let offset = 0;
    let pages = 0;
    for (;;) {
      const view = new ews.ItemView(5, offset, ews.OffsetBasePoint.Beginning);
      view.PropertySet = new ews.PropertySet(ews.BasePropertySet.IdOnly, [
        ews.ItemSchema.Subject,
        ews.ItemSchema.DateTimeReceived,
      ]);
      view.OrderBy.Add(ews.ItemSchema.DateTimeReceived, ews.SortDirection.Descending);
      const res = await service.FindItems(inboxId, view);
      pages++;
      for (const it of res.Items) subjects.push(it.Subject);
      out.pagingTotal = res.TotalCount;
      if (!res.MoreAvailable || pages > 10) break;
      offset = res.NextPageOffset;
    }
    out.pagedSubjects = subjects;
    out.pages = pages;
  });

  await step("FindItems SearchFilter", async () => {
    const view = new ews.ItemView(50);
    view.PropertySet = new ews.PropertySet(ews.BasePropertySet.IdOnly, [ews.ItemSchema.Subject]);
    view.OrderBy.Add(ews.ItemSchema.DateTimeReceived, ews.SortDirection.Ascending);
    const unread = await service.FindItems(
      inboxId,
      new ews.SearchFilter.IsEqualTo(ews.EmailMessageSchema.IsRead, false),
      view,
    );
    out.unreadFilter = unread.Items.map((i) => i.Subject);
    const sub = await service.FindItems(
      inboxId,
      new ews.SearchFilter.ContainsSubstring(
        ews.ItemSchema.Subject,
        "MESSAGE 0",
        ews.ContainmentMode.Substring,
        ews.ComparisonMode.IgnoreCase,
      ),
      view,
    );
    out.subjectFilter = sub.Items.map((i) => i.Subject);
    const both = new ews.SearchFilter.SearchFilterCollection(ews.LogicalOperator.And, [
      new ews.SearchFilter.IsEqualTo(ews.EmailMessageSchema.IsRead, false),
      new ews.SearchFilter.ContainsSubstring(ews.ItemSchema.Subject, "message 1"),
    ]);
    const andRes = await service.FindItems(inboxId, both, view);
    out.andFilter = andRes.Items.map((i) => i.Subject);
  });

  // Item.Bind and LoadPropertiesForItems with a PropertySet.
  const readSet = new ews.PropertySet(ews.BasePropertySet.IdOnly, [
    ews.ItemSchema.Subject,
    ews.ItemSchema.DateTimeReceived,
    ews.EmailMessageSchema.From,
    ews.EmailMessageSchema.IsRead,
    ews.ItemSchema.MimeContent,
  ]);
  await step("Item.Bind / LoadPropertiesForItems", async () => {
    const view = new ews.ItemView(3);
    view.OrderBy.Add(ews.ItemSchema.DateTimeReceived, ews.SortDirection.Descending);
    const found = await service.FindItems(inboxId, view);
    const newest = await ews.Item.Bind(service, found.Items[0].Id, readSet);
    const mime = Buffer.from(newest.MimeContent.Content, "base64").toString("utf8");
    out.bind = {
      subject: newest.Subject,
      from: newest.From ? newest.From.Address : null,
      isRead: newest.IsRead,
      received: newest.DateTimeReceived ? newest.DateTimeReceived.ToISOString() : null,
      mimeHasSubject: mime.includes("Subject: " + newest.Subject),
      mimeCharset: newest.MimeContent.CharacterSet || null,
    };
    const responses = await service.LoadPropertiesForItems(found.Items, readSet);
    out.loaded = found.Items.map((i) => ({
      subject: i.Subject,
      from: i.From ? i.From.Address : null,
      isRead: i.IsRead,
      mime: !!(i.MimeContent && i.MimeContent.Content && i.MimeContent.Content.length > 0),
    }));
    out.loadedResults = responses.Responses.map((r) => ews.ServiceResult[r.Result]);
  });

  // EmailMessage.Bind with the default FirstClassProperties (body,
  // attachments, recipients) and FileAttachment.Load.
  await step("EmailMessage.Bind FirstClassProperties + attachment", async () => {
    const view = new ews.ItemView(1);
    view.PropertySet = new ews.PropertySet(ews.BasePropertySet.IdOnly, [ews.ItemSchema.Subject]);
    const found = await service.FindItems(inboxId, new ews.SearchFilter.IsEqualTo(ews.ItemSchema.HasAttachments, true), view);
    out.withAttachment = found.Items.map((i) => i.Subject);
    const full = await ews.EmailMessage.Bind(service, found.Items[0].Id);
    out.full = {
      subject: full.Subject,
      bodyType: ews.BodyType[full.Body.BodyType],
      bodyHasSubject: String(full.Body.Text).includes(full.Subject),
      to: full.ToRecipients.GetEnumerator().map((a) => a.Address),
      hasAttachments: full.HasAttachments,
      attachments: full.Attachments.Count,
      size: full.Size,
    };
    // The Exchange 2013 body variants, named explicitly.
    const bodies = await ews.EmailMessage.Bind(
      service,
      found.Items[0].Id,
      new ews.PropertySet(ews.BasePropertySet.IdOnly, [ews.ItemSchema.TextBody, ews.ItemSchema.UniqueBody, ews.ItemSchema.NormalizedBody]),
    );
    out.bodies = {
      text: bodies.TextBody ? [ews.BodyType[bodies.TextBody.BodyType], String(bodies.TextBody.Text)] : null,
      unique: bodies.UniqueBody ? ews.BodyType[bodies.UniqueBody.BodyType] : null,
      normalized: bodies.NormalizedBody ? ews.BodyType[bodies.NormalizedBody.BodyType] : null,
    };
    const att = full.Attachments._getItem(0);
    await att.Load();
    out.attachment = [att.Name, Buffer.from(att.Base64Content, "base64").toString("utf8")];
  });

  // Sync the hierarchy and the Inbox to completion, then an empty pass.
  const syncSet = new ews.PropertySet(ews.BasePropertySet.IdOnly, [ews.ItemSchema.Subject]);
  let itemState = null;
  const mirror = new Map(); // UniqueId -> subject
  async function syncItems(label) {
    const changes = [];
    let calls = 0;
    for (;;) {
      const cc = await service.SyncFolderItems(inboxId, syncSet, null, 5, ews.SyncFolderItemsScope.NormalItems, itemState);
      calls++;
      itemState = cc.SyncState;
      for (const c of cc.GetEnumerator()) {
        const id = c.ItemId ? c.ItemId.UniqueId : c.Item.Id.UniqueId;
        const kind = changeName(c.ChangeType);
        let subject = "";
        if (c.ChangeType === ews.ChangeType.Create || c.ChangeType === ews.ChangeType.Update) {
          subject = c.Item.Subject;
          if (c.ChangeType === ews.ChangeType.Update && !mirror.has(id)) out.errors.push(label + ": update of unknown item");
          mirror.set(id, subject);
        } else if (c.ChangeType === ews.ChangeType.Delete) {
          if (!mirror.delete(id)) out.errors.push(label + ": delete of unknown item");
        } else if (c.ChangeType === ews.ChangeType.ReadFlagChange) {
          if (!mirror.has(id)) out.errors.push(label + ": read flag change of unknown item");
          subject = mirror.get(id) || "";
          if (c.IsRead !== true && c.IsRead !== false) out.errors.push(label + ": read flag change without IsRead");
        }
        changes.push(kind + ":" + subject);
      }
      if (!cc.MoreChangesAvailable || calls > 50) break;
    }
    return { changes, calls };
  }
  let hierarchyState = null;
  await step("SyncFolderHierarchy", async () => {
    const ps = new ews.PropertySet(ews.BasePropertySet.IdOnly, [ews.FolderSchema.DisplayName]);
    const names = [];
    let calls = 0;
    for (;;) {
      const cc = await service.SyncFolderHierarchy(null, ps, hierarchyState);
      calls++;
      hierarchyState = cc.SyncState;
      for (const c of cc.GetEnumerator()) names.push(changeName(c.ChangeType) + ":" + (c.Folder ? c.Folder.DisplayName : ""));
      if (!cc.MoreChangesAvailable || calls > 20) break;
    }
    out.hierarchyInitial = names;
    const again = await service.SyncFolderHierarchy(null, ps, hierarchyState);
    out.hierarchySecond = again.Count;
    out.hierarchySecondMore = again.MoreChangesAvailable;
  });
  await step("SyncFolderItems initial", async () => {
    const first = await syncItems("initial sync");
    out.syncInitial = first.changes;
    out.syncInitialCalls = first.calls;
    const second = await syncItems("second sync");
    out.syncSecond = second.changes;
  });

  // Drafts: Save, Update, Move and the three delete modes.
  await step("EmailMessage.Save/Update/Move/Delete", async () => {
    const draft = new ews.EmailMessage(service);
    draft.Subject = "draft by ewsjs";
    draft.Body = new ews.MessageBody(ews.BodyType.Text, "written by ews-javascript-api");
    draft.ToRecipients.Add("bob@example.com");
    await draft.Save(ews.WellKnownFolderName.Drafts);
    out.draftHasId = !!(draft.Id && draft.Id.UniqueId);
    const saved = await ews.EmailMessage.Bind(service, draft.Id, readSet);
    out.draftSaved = { subject: saved.Subject, isRead: saved.IsRead };

    saved.Subject = "draft renamed by ewsjs";
    saved.IsRead = !saved.IsRead;
    await saved.Update(ews.ConflictResolutionMode.AutoResolve);
    const updated = await ews.EmailMessage.Bind(service, draft.Id, readSet);
    out.draftUpdated = { subject: updated.Subject, isRead: updated.IsRead };

    // The three delete modes, each on its own draft.
    const modes = [
      ["HardDelete", ews.DeleteMode.HardDelete],
      ["SoftDelete", ews.DeleteMode.SoftDelete],
      ["MoveToDeletedItems", ews.DeleteMode.MoveToDeletedItems],
    ];
    out.deleteModes = {};
    for (const [name, mode] of modes) {
      const m = new ews.EmailMessage(service);
      m.Subject = "delete " + name;
      m.Body = new ews.MessageBody(ews.BodyType.Text, name);
      await m.Save(ews.WellKnownFolderName.Drafts);
      await m.Delete(mode);
      let gone = false;
      try {
        await ews.Item.Bind(service, m.Id, syncSet);
      } catch (err) {
        gone = err.ErrorCode === ews.ServiceError.ErrorItemNotFound;
      }
      out.deleteModes[name] = gone;
    }
    const view = new ews.ItemView(50);
    view.PropertySet = new ews.PropertySet(ews.BasePropertySet.IdOnly, [ews.ItemSchema.Subject]);
    const trash = await service.FindItems(ews.WellKnownFolderName.DeletedItems, view);
    out.deletedItems = trash.Items.map((i) => i.Subject).sort();
    const drafts = await service.FindItems(ews.WellKnownFolderName.Drafts, view);
    out.drafts = drafts.Items.map((i) => i.Subject).sort();
  });

  // Changes made meanwhile: a create (the draft moved in), an update, a
  // read-flag-only change and a delete; the next sync sees exactly those.
  await step("changes then SyncFolderItems", async () => {
    const view = new ews.ItemView(50);
    view.PropertySet = new ews.PropertySet(ews.BasePropertySet.IdOnly, [ews.ItemSchema.Subject, ews.EmailMessageSchema.IsRead]);
    const found = await service.FindItems(inboxId, view);
    const bySubject = new Map(found.Items.map((i) => [i.Subject, i]));

    const drafts = await service.FindItems(
      ews.WellKnownFolderName.Drafts,
      new ews.SearchFilter.IsEqualTo(ews.ItemSchema.Subject, "draft renamed by ewsjs"),
      view,
    );
    const moved = await drafts.Items[0].Move(ews.WellKnownFolderName.Inbox);
    out.movedNewId = !!(moved && moved.Id && moved.Id.UniqueId !== drafts.Items[0].Id.UniqueId);

    const toRename = await ews.EmailMessage.Bind(service, bySubject.get("message 05").Id, syncSet);
    toRename.Subject = "renamed by ewsjs";
    await toRename.Update(ews.ConflictResolutionMode.AlwaysOverwrite);

    const toRead = bySubject.get("message 01");
    await service.LoadPropertiesForItems([toRead], new ews.PropertySet(ews.BasePropertySet.IdOnly, [ews.EmailMessageSchema.IsRead]));
    toRead.IsRead = true;
    await toRead.Update(ews.ConflictResolutionMode.AutoResolve);

    await bySubject.get("message 02").Delete(ews.DeleteMode.HardDelete);

    const after = await syncItems("sync after changes");
    out.syncAfter = after.changes.sort();
    const empty = await syncItems("sync after changes, again");
    out.syncAfterSecond = empty.changes;
    out.mirror = [...mirror.values()].sort();
  });

  // Response objects: Reply, Forward and CreateReply().Save().
  await step("Reply/Forward/CreateReply", async () => {
    const view = new ews.ItemView(10);
    view.PropertySet = new ews.PropertySet(ews.BasePropertySet.IdOnly, [ews.ItemSchema.Subject]);
    const find = async (folder, subject) =>
      (await service.FindItems(folder, new ews.SearchFilter.IsEqualTo(ews.ItemSchema.Subject, subject), view)).Items;
    const original = await ews.EmailMessage.Bind(service, (await find(inboxId, "message 03"))[0].Id, syncSet);
    // The library writes string values into the request unescaped, by
    // design (its issue #368): callers escape HTML. Unescaped markup is a
    // schema violation that Exchange refuses; check the server does.
    try {
      await original.Reply(new ews.MessageBody(ews.BodyType.HTML, "<p>raw html</p>"), false);
      out.rawHtmlReply = "accepted";
    } catch (err) {
      out.rawHtmlReply = err.faultCode || describe(err);
    }
    await original.Reply(new ews.MessageBody(ews.BodyType.HTML, xmlEscape("<p>reply by ewsjs</p>")), true);
    const withAtt = await ews.EmailMessage.Bind(service, (await find(inboxId, "message 04"))[0].Id, syncSet);
    await withAtt.Forward(new ews.MessageBody(ews.BodyType.Text, "forward by ewsjs"), [new ews.EmailAddress("bob@example.com")]);
    const draft = original.CreateReply(false);
    draft.BodyPrefix = new ews.MessageBody(ews.BodyType.Text, "draft reply by ewsjs");
    await draft.Save(ews.WellKnownFolderName.Drafts);

    const ps = new ews.PropertySet(ews.BasePropertySet.FirstClassProperties);
    const sent = await find(ews.WellKnownFolderName.SentItems, "RE: message 03");
    const reply = sent.length ? await ews.EmailMessage.Bind(service, sent[0].Id, ps) : null;
    const fwdSent = await find(ews.WellKnownFolderName.SentItems, "FW: message 04");
    const fwd = fwdSent.length ? await ews.EmailMessage.Bind(service, fwdSent[0].Id, ps) : null;
    const drafts = await find(ews.WellKnownFolderName.Drafts, "RE: message 03");
    const replyDraft = drafts.length ? await ews.EmailMessage.Bind(service, drafts[0].Id, ps) : null;
    out.reply = reply && {
      to: reply.ToRecipients.GetEnumerator().map((a) => a.Address),
      bodyType: ews.BodyType[reply.Body.BodyType],
      quotes: String(reply.Body.Text).includes("reply by ewsjs") && String(reply.Body.Text).includes("this is message 03"),
      inReplyTo: !!reply.InReplyTo,
      startsWithNew: String(reply.Body.Text).startsWith("<p>reply by ewsjs</p>"),
    };
    out.forward = fwd && {
      to: fwd.ToRecipients.GetEnumerator().map((a) => a.Address),
      attachments: fwd.Attachments.GetEnumerator().map((a) => a.Name),
      quotes: String(fwd.Body.Text).includes("forward by ewsjs") && String(fwd.Body.Text).includes("this is message 04"),
    };
    // The originals are marked (Microsoft's FindRecentlySent example) and
    // the next sync reports exactly those two updates.
    const verb = new ews.ExtendedPropertyDefinition(0x1081, ews.MapiPropertyType.Integer);
    const verbSet = new ews.PropertySet(ews.BasePropertySet.IdOnly, [ews.ItemSchema.Subject, verb]);
    out.lastVerbs = [];
    for (const subject of ["message 03", "message 04"]) {
      const m = await ews.EmailMessage.Bind(service, (await find(inboxId, subject))[0].Id, verbSet);
      out.lastVerbs.push(extendedValue(m, verb));
    }
    out.syncAfterReplies = (await syncItems("sync after replies")).changes.sort();
    out.replyDraft = replyDraft && {
      to: replyDraft.ToRecipients.GetEnumerator().map((a) => a.Address),
      isDraft: replyDraft.IsDraft,
      quotes: String(replyDraft.Body.Text).includes("draft reply by ewsjs"),
    };
  });

  // Folder changes meanwhile: a create then rename nets to one Create, a
  // copy is another Create; a delete is a Delete.
  await step("folder changes then SyncFolderHierarchy", async () => {
    const f = new ews.Folder(service);
    f.DisplayName = "ewsjs folder";
    await f.Save(ews.WellKnownFolderName.MsgFolderRoot);
    f.DisplayName = "ewsjs renamed";
    await f.Update();
    const copy = await f.Copy(ews.WellKnownFolderName.Inbox);
    out.folderCopyNewId = !!(copy && copy.Id && copy.Id.UniqueId && copy.Id.UniqueId !== f.Id.UniqueId);
    const view = new ews.FolderView(10);
    view.PropertySet = new ews.PropertySet(ews.BasePropertySet.IdOnly, [ews.FolderSchema.DisplayName]);
    const archive = await service.FindFolders(
      ews.WellKnownFolderName.MsgFolderRoot,
      new ews.SearchFilter.IsEqualTo(ews.FolderSchema.DisplayName, "Archive 2025"),
      view,
    );
    out.archiveFound = archive.Folders.length;
    await archive.Folders[0].Delete(ews.DeleteMode.HardDelete);
    const ps = new ews.PropertySet(ews.BasePropertySet.IdOnly, [ews.FolderSchema.DisplayName]);
    const cc = await service.SyncFolderHierarchy(null, ps, hierarchyState);
    hierarchyState = cc.SyncState;
    out.hierarchyAfter = cc.GetEnumerator().map((c) => changeName(c.ChangeType) + ":" + (c.Folder ? c.Folder.DisplayName : "")).sort();
    out.hierarchyDeleteIdMatches = cc.GetEnumerator().some(
      (c) => c.ChangeType === ews.ChangeType.Delete && c.FolderId && c.FolderId.UniqueId === archive.Folders[0].Id.UniqueId,
    );
    const again = await service.SyncFolderHierarchy(null, ps, hierarchyState);
    out.hierarchyAfterSecond = again.Count;
  });

  // Pull notifications: subscribe, create an item, GetEvents sees it.
  await step("PullSubscription", async () => {
    const sub = await service.SubscribeToPullNotifications(
      [inboxId],
      5,
      null,
      ews.EventType.NewMail,
      ews.EventType.Created,
      ews.EventType.Deleted,
      ews.EventType.Modified,
      ews.EventType.Moved,
    );
    out.pullHasId = !!sub.Id;
    const empty = await sub.GetEvents();
    out.pullFirst = empty.AllEvents.length;
    const m = new ews.EmailMessage(service);
    m.Subject = "pulled by ewsjs";
    m.Body = new ews.MessageBody(ews.BodyType.Text, "pull");
    await m.Save(ews.WellKnownFolderName.Inbox);
    const res = await sub.GetEvents();
    out.pullEvents = res.ItemEvents.map((e) => ews.EventType[e.EventType]);
    out.pullFolderEvents = res.FolderEvents.map((e) => ews.EventType[e.EventType]);
    out.pullSeesItem = res.ItemEvents.some(
      (e) => e.EventType === ews.EventType.Created && e.ItemId && e.ItemId.UniqueId === m.Id.UniqueId,
    );
    out.pullMore = res.MoreEventsAvailable;
    await sub.Unsubscribe();
    out.pullUnsubscribed = true;
    try {
      await sub.GetEvents();
      out.pullAfterUnsubscribe = "ok";
    } catch (err) {
      out.pullAfterUnsubscribe = err.ErrorCode !== undefined ? ews.ServiceError[err.ErrorCode] : describe(err);
    }
  });

  // Streaming notifications: a connection sees a new item, then closes.
  await step("StreamingSubscription", async () => {
    const sub = await service.SubscribeToStreamingNotifications([inboxId], ews.EventType.NewMail, ews.EventType.Created);
    out.streamHasId = !!sub.Id;
    const conn = new ews.StreamingSubscriptionConnection(service, 1);
    conn.AddSubscription(sub);
    const seen = [];
    let resolveSeen;
    const gotCreate = new Promise((resolve) => {
      resolveSeen = resolve;
    });
    const target = { id: null };
    const createdIds = [];
    const check = () => {
      if (target.id && createdIds.includes(target.id)) resolveSeen(true);
    };
    conn.OnNotificationEvent.push((_sender, args) => {
      for (const e of args.Events) {
        seen.push(ews.EventType[e.EventType]);
        if (e.EventType === ews.EventType.Created && e.ItemId) createdIds.push(e.ItemId.UniqueId);
      }
      check();
    });
    const errors = [];
    conn.OnSubscriptionError.push((_sender, args) => errors.push(describe(args.Exception)));
    let disconnected = false;
    conn.OnDisconnect.push(() => {
      disconnected = true;
    });
    // Open's promise settles only when the connection fails (the port
    // resolves it on no success path), so it is not awaited; a failure is
    // recorded. Events raised before the connection is up are queued on the
    // subscription, as on Exchange.
    console.error("streaming: open");
    let openFailed = null;
    conn.Open().catch((err) => {
      openFailed = describe(err);
    });
    const m = new ews.EmailMessage(service);
    m.Subject = "streamed by ewsjs";
    m.Body = new ews.MessageBody(ews.BodyType.Text, "stream");
    m.ToRecipients.Add("alice@example.com");
    console.error("streaming: send");
    await m.SendAndSaveCopy();
    // SendAndSaveCopy does not return the delivered copy's id: find it.
    const view = new ews.ItemView(1);
    view.PropertySet = new ews.PropertySet(ews.BasePropertySet.IdOnly, [ews.ItemSchema.Subject]);
    const found = await service.FindItems(inboxId, new ews.SearchFilter.IsEqualTo(ews.ItemSchema.Subject, "streamed by ewsjs"), view);
    target.id = found.Items.length ? found.Items[0].Id.UniqueId : null;
    out.streamDelivered = found.Items.length;
    check(); // the event may have come before the id was known
    out.streamSeesItem = await withTimeout(gotCreate, 8000, "streaming event").catch((err) => {
      out.errors.push("StreamingSubscription: " + describe(err));
      return false;
    });
    out.streamOpen = conn.IsOpen;
    out.streamOpenFailed = openFailed;
    out.streamEvents = [...new Set(seen)].sort();
    out.streamErrors = errors;
    console.error("streaming: close");
    conn.Close();
    out.streamClosed = !conn.IsOpen;
    console.error("streaming: unsubscribe");
    await withTimeout(sub.Unsubscribe(), 5000, "StreamingSubscription.Unsubscribe");
    out.streamUnsubscribed = true;
    out.streamDisconnectedEvent = disconnected;
  });
}

// A hung step must not hang the caller: print what there is and stop.
const deadline = setTimeout(() => {
  out.errors.push("deadline: the script did not finish in 20 s");
  realLog(JSON.stringify(out));
  process.exit(0);
}, 20000);

main()
  .catch((err) => out.errors.push("main: " + describe(err)))
  .finally(() => {
    realLog(JSON.stringify(out));
    // Open sockets (a streaming connection the library keeps) must not
    // keep the process alive.
    process.exit(0);
  });

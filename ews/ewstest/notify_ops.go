package ewstest

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"

	"github.com/mailsync/mailsync/ews/ewstest/internal/notify"
)

// The notification operations: Subscribe, GetEvents, GetStreamingEvents
// and Unsubscribe. Requests are parsed by namespace URI and local name;
// where clients disagree with the schema about a namespace (exchangelib
// writes m:Watermark in subscription requests, the schema says t:) both
// are accepted, as is the Exchange 2010 SP1 form of GetStreamingEvents
// (m:SubscriptionId directly under the operation). The server plays a
// 2016 build, so the operations do not depend on RequestServerVersion
// (Microsoft's own examples send none).

// childMT returns the child named local in the types namespace, else in
// the messages namespace.
func childMT(el *etree.Element, local string) *etree.Element {
	if c := childT(el, local); c != nil {
		return c
	}
	return childM(el, local)
}

// notifyErr turns a broker error into the error the SOAP layer writes: a
// request-wide fault for schema violations, a response code otherwise.
func notifyErr(err error) error {
	var ne *notify.Error
	if !errors.As(err, &ne) {
		return err
	}
	if ne.Code == "ErrorSchemaValidation" {
		return schemaFault("%s", strings.TrimPrefix(ne.Message, "The request failed schema validation."))
	}
	return codeErr(ne.Code, "%s", ne.Message)
}

func isFault(err error) bool {
	var f *Fault
	return errors.As(err, &f)
}

// route returns the backend a notification request is served by: the one
// named by a valid X-BackEndOverrideCookie (cookie, or header as
// exchangelib sends it), else the X-AnchorMailbox's, else the target
// mailbox's.
func (r *request) route() string {
	b := r.s.broker()
	v := r.http.Header.Get(notify.AffinityCookieName)
	if c, err := r.http.Cookie(notify.AffinityCookieName); err == nil {
		v = c.Value
	}
	if be, ok := notify.CookieBackend(v); ok {
		return be
	}
	if a := r.http.Header.Get("X-AnchorMailbox"); a != "" {
		if m := r.s.Mailbox(a); m != nil {
			return b.MailboxBackend(r.s.placed(m))
		}
	}
	return b.MailboxBackend(r.s.placed(r.mb))
}

// minutes parses a whole number of minutes.
func minutes(el *etree.Element, name string) (time.Duration, error) {
	n, err := strconv.Atoi(textOf(el))
	if err != nil {
		return 0, schemaFault("the value of %s is not a valid integer", name)
	}
	if n < 0 || n > 1<<20 {
		return 0, schemaFault("the value of %s is out of range", name)
	}
	return time.Duration(n) * time.Minute, nil
}

func opSubscribe(r *request) error {
	var req *etree.Element
	var kind notify.Kind
	for _, c := range r.body.ChildElements() {
		if c.NamespaceURI() != nsM {
			continue
		}
		switch c.Tag {
		case "PullSubscriptionRequest":
			req, kind = c, notify.Pull
		case "PushSubscriptionRequest":
			req, kind = c, notify.Push
		case "StreamingSubscriptionRequest":
			req, kind = c, notify.Streaming
		}
	}
	if req == nil {
		return schemaFault("Subscribe needs a PullSubscriptionRequest, PushSubscriptionRequest or StreamingSubscriptionRequest")
	}
	sr := notify.SubscribeRequest{Kind: kind, Principal: r.caller, Mailbox: r.s.placed(r.mb)}
	if a := attr(req, "SubscribeToAllFolders"); a != "" {
		all, err := parseBool(a)
		if err != nil {
			return err
		}
		sr.AllFolders = all
	}
	types := childMT(req, "EventTypes")
	if types == nil {
		return schemaFault("the required element EventTypes is missing")
	}
	for _, c := range types.ChildElements() {
		if c.Tag == "EventType" {
			sr.EventTypes = append(sr.EventTypes, notify.EventKind(textOf(c)))
		}
	}
	if wm := childMT(req, "Watermark"); wm != nil {
		if kind == notify.Streaming {
			return schemaFault("the element Watermark is not allowed in StreamingSubscriptionRequest")
		}
		sr.Watermark = textOf(wm)
	}
	var err error
	switch kind {
	case notify.Pull:
		el := childMT(req, "Timeout")
		if el == nil {
			return schemaFault("the required element Timeout is missing")
		}
		if sr.Timeout, err = minutes(el, "Timeout"); err != nil {
			return err
		}
	case notify.Push:
		el := childMT(req, "StatusFrequency")
		if el == nil {
			return schemaFault("the required element StatusFrequency is missing")
		}
		if sr.StatusFrequency, err = minutes(el, "StatusFrequency"); err != nil {
			return err
		}
		u := childMT(req, "URL")
		if u == nil {
			return schemaFault("the required element URL is missing")
		}
		sr.URL = textOf(u)
		sr.CallerData = textOf(childMT(req, "CallerData"))
	}
	// Folders: one mailbox only. A folder-level failure is a response
	// message error, as for other operations.
	var folderErr error
	if fids := childMT(req, "FolderIds"); fids != nil {
		var target *Mailbox
		for _, el := range fids.ChildElements() {
			m, key, err := r.resolveFolder(el)
			if r.caller != "" && (ResponseCode(err) == "ErrorAccessDenied" || err == nil && m != r.mb) {
				// Another user's folders without ExchangeImpersonation is
				// delegate access (Microsoft's Subscribe reference).
				folderErr = codeErr("ErrorSubscriptionDelegateAccessNotSupported", "Subscriptions are not supported for delegate user access.")
				break
			}
			if err != nil {
				if isFault(err) {
					return err
				}
				folderErr = err
				break
			}
			if target != nil && m != target {
				folderErr = codeErr("ErrorInvalidSubscriptionRequest", "A subscription can only cover folders of one mailbox.")
				break
			}
			target = m
			id, err := m.FolderID(key)
			if err != nil {
				folderErr = err
				break
			}
			sr.FolderIDs = append(sr.FolderIDs, id)
		}
		if target != nil && folderErr == nil {
			sr.Mailbox = r.s.placed(target)
		}
	}
	backend := r.route()
	sr.Backend = backend
	var sub notify.Subscription
	if folderErr == nil {
		sub, err = r.s.broker().Subscribe(r.ctx, sr)
		if err = notifyErr(err); err != nil && isFault(err) {
			return err
		}
	} else {
		err = folderErr
	}
	if err == nil && strings.EqualFold(r.http.Header.Get("X-PreferServerAffinity"), "true") && r.http.Header.Get("X-AnchorMailbox") != "" {
		c := &http.Cookie{Name: notify.AffinityCookieName, Value: notify.AffinityCookie(backend), Path: "/", HttpOnly: true,
			Secure: r.http.TLS != nil}
		http.SetCookie(r.rw, c)
	}
	r.respBegin()
	if err != nil {
		r.msgError(err)
	} else {
		r.msgOK()
		r.w.elem("m:SubscriptionId", sub.ID)
		if sub.Watermark != "" {
			r.w.elem("m:Watermark", sub.Watermark)
		}
		r.msgClose()
	}
	r.respEnd()
	return nil
}

func opGetEvents(r *request) error {
	idEl, wmEl := childMT(r.body, "SubscriptionId"), childMT(r.body, "Watermark")
	if idEl == nil || wmEl == nil {
		return schemaFault("GetEvents needs SubscriptionId and Watermark")
	}
	n, err := r.s.broker().GetEvents(r.ctx, notify.GetEventsRequest{Principal: r.caller, Backend: r.route(),
		SubscriptionID: textOf(idEl), Watermark: textOf(wmEl)})
	r.respBegin()
	if err != nil {
		r.msgError(notifyErr(err))
	} else {
		r.msgOK()
		r.w.raw(string(notify.AppendNotification(nil, n, true)))
		r.msgClose()
	}
	r.respEnd()
	return nil
}

func opUnsubscribe(r *request) error {
	idEl := childMT(r.body, "SubscriptionId")
	if idEl == nil {
		return schemaFault("Unsubscribe needs a SubscriptionId")
	}
	err := r.s.broker().Unsubscribe(r.ctx, notify.UnsubscribeRequest{Principal: r.caller, Backend: r.route(), SubscriptionID: textOf(idEl)})
	r.respBegin()
	if err != nil {
		r.msgError(notifyErr(err))
	} else {
		r.msgOK()
		r.msgClose()
	}
	r.respEnd()
	return nil
}

func opGetStreamingEvents(r *request) error {
	var ids []string
	if list := childMT(r.body, "SubscriptionIds"); list != nil {
		for _, c := range list.ChildElements() {
			if c.Tag == "SubscriptionId" {
				ids = append(ids, textOf(c))
			}
		}
	}
	// Microsoft's reference example puts SubscriptionId directly under
	// the operation; accept that too.
	for _, c := range childrenNS(r.body, nsM, "SubscriptionId") {
		ids = append(ids, textOf(c))
	}
	toEl := childMT(r.body, "ConnectionTimeout")
	if len(ids) == 0 || toEl == nil {
		return schemaFault("GetStreamingEvents needs SubscriptionIds and ConnectionTimeout")
	}
	timeout, err := minutes(toEl, "ConnectionTimeout")
	if err != nil {
		return err
	}
	st, err := r.s.broker().OpenStream(r.ctx, notify.StreamRequest{Principal: r.caller, Account: r.mb.address,
		Backend: r.route(), SubscriptionIDs: ids, ConnectionTimeout: timeout})
	if err != nil {
		if err = notifyErr(err); isFault(err) {
			return err
		}
		// A refused connection: one ordinary response, Closed.
		r.respBegin()
		r.w.status("m:GetStreamingEventsResponseMessage", "Error", messageTextOf(err), ResponseCode(err))
		r.w.elem("m:ConnectionStatus", "Closed")
		r.msgClose()
		r.respEnd()
		return nil
	}
	defer st.Close()
	r.handled = true
	h := r.rw.Header()
	h.Set("Content-Type", "text/xml; charset=utf-8")
	h.Set("X-FEServer", "EWSTEST")
	r.rw.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(r.rw)
	header := r.serverVersionHeader()
	buf := []byte(`<?xml version="1.0" encoding="utf-8"?>`)
	for {
		f, err := st.Next(r.ctx)
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case errors.Is(err, notify.ErrConnectionDropped):
			// Drop the connection without ending the chunked body.
			panic(http.ErrAbortHandler)
		case err != nil:
			return nil // the client went away
		}
		buf = notify.AppendFrameEnvelope(buf, f, header)
		if _, err := r.rw.Write(buf); err != nil {
			return nil
		}
		if err := rc.Flush(); err != nil {
			return nil
		}
		buf = buf[:0]
	}
}

func messageTextOf(err error) string {
	var re *responseError
	if errors.As(err, &re) && re.msg != "" {
		return re.msg
	}
	return messageText(ResponseCode(err))
}

// serverVersionHeader is the ServerVersionInfo element of the response
// header, as the other operations write it.
func (r *request) serverVersionHeader() string {
	v := r.s.opts.Version
	s := fmt.Sprintf(`<h:ServerVersionInfo MajorVersion="%d" MinorVersion="%d" MajorBuildNumber="%d" MinorBuildNumber="%d"`,
		v.MajorVersion, v.MinorVersion, v.MajorBuildNumber, v.MinorBuildNumber)
	if v.Version != "" {
		s += ` Version="` + escapeAttr(v.Version) + `"`
	}
	return s + ` xmlns:h="` + nsT + `" xmlns="` + nsT + `"/>`
}

package ews

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"iter"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/beevik/etree"

	"github.com/mailsync/mailsync/ews/internal/ewsxml"
)

// SubscriptionKind is the delivery mode of a subscription.
type SubscriptionKind int

// The three kinds of EWS subscriptions.
const (
	// Streaming subscriptions deliver over a hanging GetStreamingEvents
	// request (see StreamingConnection). Exchange 2010 SP1 and later.
	Streaming SubscriptionKind = iota + 1
	// Pull subscriptions are polled with GetEvents.
	Pull
	// Push subscriptions make the server POST SendNotification to a URL
	// (see PushListener).
	Push
)

// String returns the kind's name.
func (k SubscriptionKind) String() string {
	switch k {
	case Streaming:
		return "streaming"
	case Pull:
		return "pull"
	case Push:
		return "push"
	}
	return "SubscriptionKind(" + strconv.Itoa(int(k)) + ")"
}

// Limits of Subscribe parameters (EWS-PROTOCOL.md §2).
const (
	// MaxPullTimeout is the longest pull subscription Timeout.
	MaxPullTimeout = 1440 * time.Minute
	// MaxStatusFrequency is the longest push StatusFrequency.
	MaxStatusFrequency = 1440 * time.Minute
	// DefaultStatusFrequency is the push StatusFrequency sent when none is
	// given (Exchange's documented default).
	DefaultStatusFrequency = 30 * time.Minute
	// maxPushURL is the longest push URL Exchange accepts.
	maxPushURL = 2082
)

// AffinityGroup keeps a group of subscriptions on one mailbox server, as
// Microsoft's affinity procedure describes (EWS-PROTOCOL.md §10): every
// Subscribe of the group is sent with X-AnchorMailbox: Anchor and
// X-PreferServerAffinity: true, and the X-BackEndOverrideCookie the server
// sets on the first one is cached in the Client under Name and sent with
// every later request of the group (Subscribe, GetEvents,
// GetStreamingEvents, Unsubscribe). A group holds at most
// MaxStreamingSubscriptions mailboxes; see GroupMailboxes.
type AffinityGroup struct {
	// Name keys the group's cookie in the Client. Groups of one Client
	// must have distinct names.
	Name string
	// Anchor is the mailbox sent as X-AnchorMailbox: by convention the
	// member whose address sorts first.
	Anchor string
	// Members are the group's mailboxes (informational; at most
	// MaxStreamingSubscriptions).
	Members []string
	// EwsURL and GroupingInformation are what the members share, when
	// the group came from GroupByAffinity; the group's Client must use
	// EwsURL.
	EwsURL              string
	GroupingInformation string
}

// GroupMailboxes splits mailboxes that share an EWS URL and
// GroupingInformation into affinity groups of at most
// MaxStreamingSubscriptions, named prefix-0, prefix-1, ... Addresses are
// sorted and deduplicated; each group's anchor is its first member.
func GroupMailboxes(prefix string, mailboxes []string) []AffinityGroup {
	sorted := slices.Clone(mailboxes)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	var out []AffinityGroup
	for chunk := range slices.Chunk(sorted, MaxStreamingSubscriptions) {
		out = append(out, AffinityGroup{
			Name:    prefix + "-" + strconv.Itoa(len(out)),
			Anchor:  chunk[0],
			Members: slices.Clip(chunk),
		})
	}
	return out
}

// validate checks the group's size.
func (g *AffinityGroup) validate() error {
	if g == nil {
		return nil
	}
	if g.Anchor == "" {
		return fmt.Errorf("%w: affinity group %q without Anchor", ErrInvalidRequest, g.Name)
	}
	if len(g.Members) > MaxStreamingSubscriptions {
		return fmt.Errorf("%w: affinity group %q has %d members", ErrTooManySubscriptions, g.Name, len(g.Members))
	}
	return nil
}

// apply sets the group's routing on a call.
func (g *AffinityGroup) apply(r *callRequest) {
	if g == nil {
		return
	}
	r.Anchor, r.PreferAffinity, r.Group = g.Anchor, true, g.Name
}

// SubscribeRequest describes a subscription to create.
type SubscribeRequest struct {
	// Kind is Streaming, Pull or Push. Required.
	Kind SubscriptionKind
	// AllFolders subscribes to every folder of the mailbox
	// (SubscribeToAllFolders, Exchange 2010+). It excludes FolderIDs and
	// DistinguishedFolders.
	AllFolders bool
	// FolderIDs are folder ids (t:FolderId) to watch.
	FolderIDs []string
	// DistinguishedFolders are well-known folder names (t:DistinguishedFolderId),
	// e.g. "inbox".
	DistinguishedFolders []string
	// Mailbox, when set, is added to each DistinguishedFolderId to name
	// another mailbox.
	Mailbox string
	// EventTypes are the events to receive; empty means AllEventTypes().
	// StatusEvent cannot be requested.
	EventTypes []EventType
	// Watermark resumes a pull or push subscription from a bookmark.
	// Streaming subscriptions take none.
	Watermark string
	// Timeout is a pull subscription's idle lifetime between GetEvents
	// calls: whole minutes, 1–1440. Required for Pull.
	Timeout time.Duration
	// StatusFrequency is how often a push subscription sends a
	// StatusEvent when idle: whole minutes, 1–1440. Default
	// DefaultStatusFrequency.
	StatusFrequency time.Duration
	// URL is where the server POSTs push notifications (http or https,
	// at most 2082 characters). Required for Push.
	URL string
	// CallerData is an opaque string for push subscriptions (Exchange
	// 2013+).
	CallerData string
	// Group routes the request to the group's mailbox server. Nil uses
	// the client's own routing.
	Group *AffinityGroup
	// Impersonation overrides Options.Impersonation for this call (to
	// subscribe a member mailbox of a group).
	Impersonation *Impersonation
}

// Validate reports whether the request can be sent.
func (r *SubscribeRequest) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidSubscribeRequest, fmt.Sprintf(format, args...))
	}
	if r == nil {
		return bad("nil request")
	}
	switch r.Kind {
	case Streaming, Pull, Push:
	default:
		return bad("unknown kind %d", r.Kind)
	}
	hasFolders := len(r.FolderIDs)+len(r.DistinguishedFolders) > 0
	if r.AllFolders == hasFolders {
		return bad("exactly one of AllFolders and folder ids is needed")
	}
	if slices.Contains(r.FolderIDs, "") || slices.Contains(r.DistinguishedFolders, "") {
		return bad("empty folder id")
	}
	for _, t := range r.EventTypes {
		if !t.valid() {
			return bad("event type %q cannot be requested", t)
		}
	}
	wholeMinutes := func(d time.Duration, max time.Duration) bool {
		return d%time.Minute == 0 && d >= time.Minute && d <= max
	}
	switch r.Kind {
	case Streaming:
		if r.Watermark != "" {
			return bad("streaming subscriptions take no watermark")
		}
		if r.Timeout != 0 || r.StatusFrequency != 0 || r.URL != "" || r.CallerData != "" {
			return bad("Timeout, StatusFrequency, URL and CallerData do not apply to streaming subscriptions")
		}
	case Pull:
		if !wholeMinutes(r.Timeout, MaxPullTimeout) {
			return bad("pull Timeout %v: whole minutes from 1 to 1440", r.Timeout)
		}
		if r.StatusFrequency != 0 || r.URL != "" || r.CallerData != "" {
			return bad("StatusFrequency, URL and CallerData do not apply to pull subscriptions")
		}
	case Push:
		if r.StatusFrequency != 0 && !wholeMinutes(r.StatusFrequency, MaxStatusFrequency) {
			return bad("push StatusFrequency %v: whole minutes from 1 to 1440", r.StatusFrequency)
		}
		if r.Timeout != 0 {
			return bad("Timeout does not apply to push subscriptions")
		}
		if len(r.URL) == 0 || len(r.URL) > maxPushURL {
			return bad("push URL length %d: 1 to %d", len(r.URL), maxPushURL)
		}
		u, err := url.Parse(r.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad("push URL is not an absolute http(s) URL")
		}
	}
	if err := r.Group.validate(); err != nil {
		return err
	}
	return nil
}

// Subscription is a subscription the server created.
type Subscription struct {
	// ID is the opaque SubscriptionId.
	ID string
	// Watermark is the starting watermark of a pull or push subscription
	// ("" for streaming).
	Watermark string
	// Kind is the subscription's kind.
	Kind SubscriptionKind
	// Group is the affinity group it was created in, or nil.
	Group *AffinityGroup
}

// Subscribe creates a subscription (EWS-PROTOCOL.md §2). With a Group, the
// request carries the group's affinity headers and cookie, and a cookie the
// server sets is cached for the group. Server errors are *ResponseError
// values (ErrInvalidWatermark, ErrExceededSubscriptionCount,
// ErrInvalidPushSubscriptionURL, ...).
func (c *Client) Subscribe(ctx context.Context, req *SubscribeRequest) (*Subscription, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	// Retries (Options.Retry) happen only after ErrorServerBusy, 503 or
	// 429, when the server did not create anything, so they cannot
	// leave a duplicate subscription behind.
	cr := &callRequest{Op: "Subscribe", Body: buildSubscribe(req), Impersonation: req.Impersonation}
	req.Group.apply(cr)
	resp, err := c.call(ctx, cr)
	if err != nil {
		return nil, err
	}
	m, err := subSingleMessage("Subscribe", resp)
	if err != nil {
		return nil, err
	}
	sub := &Subscription{Kind: req.Kind, Group: req.Group}
	if el := ewsxml.FirstChild(m.Elem, nsM, "SubscriptionId"); el != nil {
		sub.ID = ewsxml.Text(el)
	}
	if el := ewsxml.FirstChild(m.Elem, nsM, "Watermark"); el != nil {
		sub.Watermark = ewsxml.Text(el)
	}
	if sub.ID == "" {
		return nil, malformedf("Subscribe", "SubscribeResponseMessage without SubscriptionId")
	}
	if req.Kind != Streaming && sub.Watermark == "" {
		return nil, malformedf("Subscribe", "%s SubscribeResponseMessage without Watermark", req.Kind)
	}
	return sub, nil
}

// buildSubscribe builds the m:Subscribe element (EWS-PROTOCOL.md S1–S3).
func buildSubscribe(req *SubscribeRequest) *etree.Element {
	op := newOp("Subscribe")
	var kind string
	switch req.Kind {
	case Pull:
		kind = "m:PullSubscriptionRequest"
	case Push:
		kind = "m:PushSubscriptionRequest"
	default:
		kind = "m:StreamingSubscriptionRequest"
	}
	sr := op.CreateElement(kind)
	if req.AllFolders {
		sr.CreateAttr("SubscribeToAllFolders", "true")
	} else {
		fids := sr.CreateElement("t:FolderIds")
		for _, id := range req.FolderIDs {
			fids.CreateElement("t:FolderId").CreateAttr("Id", id)
		}
		for _, id := range req.DistinguishedFolders {
			d := fids.CreateElement("t:DistinguishedFolderId")
			d.CreateAttr("Id", id)
			if req.Mailbox != "" {
				d.CreateElement("t:Mailbox").CreateElement("t:EmailAddress").SetText(req.Mailbox)
			}
		}
	}
	types := req.EventTypes
	if len(types) == 0 {
		types = AllEventTypes()
	}
	ets := sr.CreateElement("t:EventTypes")
	for _, t := range types {
		ets.CreateElement("t:EventType").SetText(string(t))
	}
	if req.Watermark != "" {
		sr.CreateElement("t:Watermark").SetText(req.Watermark)
	}
	switch req.Kind {
	case Pull:
		sr.CreateElement("t:Timeout").SetText(strconv.Itoa(int(req.Timeout / time.Minute)))
	case Push:
		freq := cmp.Or(req.StatusFrequency, DefaultStatusFrequency)
		sr.CreateElement("t:StatusFrequency").SetText(strconv.Itoa(int(freq / time.Minute)))
		sr.CreateElement("t:URL").SetText(req.URL)
		if req.CallerData != "" {
			sr.CreateElement("t:CallerData").SetText(req.CallerData)
		}
	}
	return op
}

// subSingleMessage returns the one response message of a single-id call, or
// its error.
func subSingleMessage(op string, resp *soapResponse) (*responseMessage, error) {
	if len(resp.Messages) != 1 {
		return nil, malformedf(op, "%d response messages, want 1", len(resp.Messages))
	}
	m := &resp.Messages[0]
	if m.Err != nil {
		return nil, m.Err
	}
	return m, nil
}

// GetEventsOptions are the optional parameters of GetEvents.
type GetEventsOptions struct {
	// Group routes the call to the subscription's affinity group.
	Group *AffinityGroup
	// Impersonation overrides Options.Impersonation for this call.
	Impersonation *Impersonation
}

// UnsubscribeOptions are the optional parameters of Unsubscribe.
type UnsubscribeOptions struct {
	// Group routes the call to the subscription's affinity group.
	Group *AffinityGroup
	// Impersonation overrides Options.Impersonation for this call.
	Impersonation *Impersonation
}

// GetEvents fetches the next events of a pull subscription (EWS-PROTOCOL.md
// §3): at most 50, or a single StatusEvent when nothing happened. Pass the
// Subscribe watermark first, then the returned notification's
// LastWatermark. When MoreEvents is true, call again at once (or use
// AllEvents). Server errors are *ResponseError values
// (ErrSubscriptionNotFound, ErrExpiredSubscription, ErrInvalidWatermark,
// ...); a malformed notification matches both ErrMalformedResponse and
// ErrMalformedNotification.
func (c *Client) GetEvents(ctx context.Context, subscriptionID, watermark string, opts *GetEventsOptions) (*Notification, error) {
	if subscriptionID == "" || watermark == "" {
		return nil, invalidf("GetEvents", "subscription id and watermark are required")
	}
	op := newOp("GetEvents")
	op.CreateElement("m:SubscriptionId").SetText(subscriptionID)
	op.CreateElement("m:Watermark").SetText(watermark)
	cr := &callRequest{Op: "GetEvents", Body: op}
	if opts != nil {
		opts.Group.apply(cr)
		cr.Impersonation = opts.Impersonation
	}
	resp, err := c.call(ctx, cr)
	if err != nil {
		return nil, err
	}
	m, err := subSingleMessage("GetEvents", resp)
	if err != nil {
		return nil, err
	}
	el := ewsxml.FirstChild(m.Elem, nsM, "Notification")
	if el == nil {
		el = ewsxml.FirstChild(m.Elem, nsT, "Notification")
	}
	if el == nil {
		return nil, malformedf("GetEvents", "GetEventsResponseMessage without Notification")
	}
	n, err := decodeNotification(el)
	if err != nil {
		return nil, malformed("GetEvents", err)
	}
	return &n, nil
}

// AllEvents drains a pull subscription: it calls GetEvents from watermark
// and yields each notification, calling again at once while MoreEvents is
// true, and stops after the first notification with MoreEvents false (or
// at the first error, which it yields). Each notification is checked to
// continue the previous one: a PreviousWatermark other than the watermark
// asked for is yielded as an error matching ErrWatermarkGap (with the
// notification) and ends the iteration.
//
// Notifications are yielded as they arrive, so memory stays at one page.
func (c *Client) AllEvents(ctx context.Context, subscriptionID, watermark string, opts *GetEventsOptions) iter.Seq2[*Notification, error] {
	return func(yield func(*Notification, error) bool) {
		for {
			n, err := c.GetEvents(ctx, subscriptionID, watermark, opts)
			if err != nil {
				yield(nil, err)
				return
			}
			if n.PreviousWatermark != "" && n.PreviousWatermark != watermark {
				yield(n, fmt.Errorf("%w: %s continued from %q, asked %q", ErrWatermarkGap, subscriptionID, n.PreviousWatermark, watermark))
				return
			}
			if !yield(n, nil) || !n.MoreEvents {
				return
			}
			next := n.LastWatermark()
			if next == "" {
				yield(nil, malformedf("GetEvents", "MoreEvents without any watermark to continue from"))
				return
			}
			watermark = next
		}
	}
}

// Unsubscribe ends a pull or streaming subscription (push subscriptions end
// by answering Unsubscribe to a notification; see PushListener). With a
// group, the group's affinity headers and cookie are sent, as Exchange
// otherwise may not find the subscription. Remove a streaming subscription
// from its StreamingConnection first; otherwise the connection reports the
// server's ErrorSubscriptionUnsubscribed for it.
func (c *Client) Unsubscribe(ctx context.Context, subscriptionID string, opts *UnsubscribeOptions) error {
	if subscriptionID == "" {
		return invalidf("Unsubscribe", "subscription id is required")
	}
	op := newOp("Unsubscribe")
	op.CreateElement("m:SubscriptionId").SetText(subscriptionID)
	cr := &callRequest{Op: "Unsubscribe", Body: op}
	if opts != nil {
		opts.Group.apply(cr)
		cr.Impersonation = opts.Impersonation
	}
	resp, err := c.call(ctx, cr)
	if err != nil {
		return err
	}
	_, err = subSingleMessage("Unsubscribe", resp)
	return err
}

// NewStreamingConnection returns a connection for c's streaming
// subscriptions. It does no I/O; call Add and Start. Every hanging request
// goes over an HTTP connection of its own, authenticated afresh (NTLM
// authenticates each TCP connection), so it never holds up c's other
// calls. With opts.Group, each request carries the group's affinity
// headers and X-BackEndOverrideCookie.
func (c *Client) NewStreamingConnection(opts *StreamingOptions) (*StreamingConnection, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	var group *AffinityGroup
	var im *Impersonation
	if opts != nil {
		group, im = opts.Group, opts.Impersonation
	}
	if err := group.validate(); err != nil {
		return nil, err
	}
	open := func(ctx context.Context, ids []string, minutes int) (io.ReadCloser, error) {
		op := newOp("GetStreamingEvents")
		sids := op.CreateElement("m:SubscriptionIds")
		for _, id := range ids {
			sids.CreateElement("t:SubscriptionId").SetText(id)
		}
		op.CreateElement("m:ConnectionTimeout").SetText(strconv.Itoa(minutes))
		cr := &callRequest{Op: "GetStreamingEvents", Body: op, Impersonation: im, NoRetry: true}
		group.apply(cr)
		resp, err := c.openStream(ctx, cr)
		if err != nil {
			return nil, err
		}
		return resp.Body, nil
	}
	o := StreamingOptions{}
	if opts != nil {
		o = *opts
	}
	if o.Logger == nil {
		o.Logger = c.log
	}
	return newStreamingConnection(open, &o), nil
}

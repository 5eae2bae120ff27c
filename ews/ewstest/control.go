package ewstest

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// ControlPath is where the control endpoint is mounted.
const ControlPath = "/ewstest/control/"

// Control is the HTTP control endpoint of a Server: it makes the fault
// injection, the activity generator and a mailbox dump reachable from
// outside the process, so that tests in any language can drive the fake
// ("syncdemo serve -control" mounts it at ControlPath, with the token from $MAILSYNC_CONTROL_TOKEN or -control-token-file).
//
// Every call must carry the token, as "Authorization: Bearer TOKEN" or
// "X-Control-Token: TOKEN"; a missing or wrong token gets 401 and does
// nothing. Requests and responses are JSON. Endpoints (relative to
// ControlPath):
//
//	GET  ""                       the list of endpoints
//	POST restart                  drop all subscriptions, as a Client Access server restart does
//	POST move-mailbox             {"mailbox":A,"database":D} move a mailbox to another database
//	POST busy                     {"count":N,"backoffMs":B} the next N requests get ErrorServerBusy
//	POST drop-connections         {"count":N} the next N requests have their connection closed
//	POST invalid-sync-state       {"count":N} the next N sync calls get ErrorInvalidSyncStateData
//	POST throttle                 {"maxConcurrent":N,"latencyMs":L,"backoffMs":B} (fields optional)
//	POST drop-streaming           {"mailbox":A} close open GetStreamingEvents connections ("" = all)
//	POST watermarks/expire        {"mailbox":A} make the mailbox's watermarks too old
//	POST watermarks/overrun       {"mailbox":A} push the mailbox's event log past its size limit
//	POST activity/start           {"rate":R,"seed":S} start the activity generator (R changes/s)
//	POST activity/stop            stop it
//	POST activity/step            {"count":N,"seed":S} make N (≤ 10000) changes now (a stopped generator is made if none)
//	GET  activity                 {"running":b,"total":n,"counts":{kind:n}}
//	GET  mailbox?address=A[&items=false]  the mailbox's folders (and items) as JSON
//	GET  stats                    {"requests":{"GetFolder":n,...},"bytes":n} (Server.RequestStats)
type Control struct {
	srv   *Server
	token []byte

	mu  sync.Mutex
	act *Activity
}

// ErrNoControlToken is returned by NewControl for an empty token.
var ErrNoControlToken = errors.New("ewstest: the control endpoint needs a token")

// NewControl returns the control endpoint of s, protected by token.
func NewControl(s *Server, token string) (*Control, error) {
	if s == nil {
		return nil, fmt.Errorf("%w: nil server", ErrInvalidArgument)
	}
	if strings.TrimSpace(token) == "" {
		return nil, ErrNoControlToken
	}
	return &Control{srv: s, token: []byte(token)}, nil
}

// StartActivity starts (or restarts with new options) the endpoint's
// activity generator.
func (c *Control) StartActivity(opts ActivityOptions) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	a, err := c.srv.StartActivity(opts)
	if err != nil {
		return err
	}
	if c.act != nil {
		c.act.Stop()
	}
	c.act = a
	return nil
}

// StopActivity stops the endpoint's activity generator, if running.
func (c *Control) StopActivity() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.act != nil {
		c.act.Stop()
	}
}

// Activity returns the endpoint's current activity generator, or nil.
func (c *Control) Activity() *Activity {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.act
}

// controlError is an error with the HTTP status to answer it with.
type controlError struct {
	status int
	msg    string
}

func (e *controlError) Error() string { return e.msg }

func ctlErr(status int, format string, args ...any) error {
	return &controlError{status: status, msg: fmt.Sprintf(format, args...)}
}

var errNotImplemented = ctlErr(http.StatusNotImplemented, "not available on this server (no throttling configured)")

// controlRequest holds every field any endpoint takes.
type controlRequest struct {
	Mailbox       string   `json:"mailbox"`
	Database      string   `json:"database"`
	Count         *int     `json:"count"`
	BackoffMs     *int64   `json:"backoffMs"`
	LatencyMs     *int64   `json:"latencyMs"`
	MaxConcurrent *int     `json:"maxConcurrent"`
	Rate          *float64 `json:"rate"`
	Seed          int64    `json:"seed"`
}

type endpoint struct {
	method string
	doc    string
	fn     func(c *Control, r *http.Request, req *controlRequest) (any, error)
}

var controlEndpoints = map[string]endpoint{
	"restart":            {"POST", "drop all subscriptions (Client Access server restart)", (*Control).restart},
	"move-mailbox":       {"POST", `{"mailbox","database"}: move a mailbox to another database`, (*Control).moveMailbox},
	"busy":               {"POST", `{"count","backoffMs"}: the next count requests get ErrorServerBusy`, (*Control).busy},
	"drop-connections":   {"POST", `{"count"}: close the connection of the next count requests`, (*Control).dropConnections},
	"invalid-sync-state": {"POST", `{"count"}: the next count sync calls get ErrorInvalidSyncStateData`, (*Control).invalidSyncState},
	"throttle":           {"POST", `{"maxConcurrent","latencyMs","backoffMs"}: change the throttling knobs`, (*Control).throttle},
	"drop-streaming":     {"POST", `{"mailbox"}: close open GetStreamingEvents connections ("" = all)`, (*Control).dropStreaming},
	"watermarks/expire":  {"POST", `{"mailbox"}: make the mailbox's watermarks too old`, (*Control).expireWatermarks},
	"watermarks/overrun": {"POST", `{"mailbox"}: overrun the mailbox's event log`, (*Control).overrunWatermarks},
	"activity/start":     {"POST", `{"rate","seed"}: start the activity generator`, (*Control).activityStart},
	"activity/stop":      {"POST", "stop the activity generator", (*Control).activityStop},
	"activity/step":      {"POST", `{"count","seed"}: make count changes now`, (*Control).activityStep},
	"activity":           {"GET", "the activity generator's state", (*Control).activityState},
	"mailbox":            {"GET", "?address=A[&items=false]: dump a mailbox as JSON", (*Control).dumpMailbox},
	"stats":              {"GET", "the SOAP requests served, by operation, and the response bytes", (*Control).stats},
}

// maxControlBody bounds a control request body.
const maxControlBody = 64 << 10

// ServeHTTP serves the control endpoint (mounted at ControlPath).
func (c *Control) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !c.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ewstest-control"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing or wrong control token"})
		return
	}
	name := strings.Trim(strings.TrimPrefix(r.URL.Path, strings.TrimSuffix(ControlPath, "/")), "/")
	if name == "" {
		c.index(w)
		return
	}
	ep, ok := controlEndpoints[name]
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no control endpoint " + name})
		return
	}
	if r.Method != ep.method {
		w.Header().Set("Allow", ep.method)
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "use " + ep.method})
		return
	}
	var req controlRequest
	if r.Method == http.MethodPost {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxControlBody+1))
		if err != nil || len(body) > maxControlBody {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unreadable or oversized body"})
			return
		}
		if len(strings.TrimSpace(string(body))) > 0 {
			dec := json.NewDecoder(strings.NewReader(string(body)))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&req); err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad JSON: " + err.Error()})
				return
			}
		}
	}
	out, err := ep.fn(c, r, &req)
	if err != nil {
		status := http.StatusInternalServerError
		var ce *controlError
		switch {
		case errors.As(err, &ce):
			status = ce.status
		case errors.Is(err, ErrUnknownMailbox), errors.Is(err, ErrFolderNotFound), errors.Is(err, ErrItemNotFound):
			status = http.StatusNotFound
		case errors.Is(err, ErrInvalidArgument):
			status = http.StatusBadRequest
		}
		c.srv.log.Warn("ewstest: control call failed", "endpoint", name, "err", err)
		writeJSON(w, status, map[string]string{"error": err.Error()})
		return
	}
	c.srv.log.Info("ewstest: control call", "endpoint", name)
	if out == nil {
		out = map[string]bool{"ok": true}
	}
	writeJSON(w, http.StatusOK, out)
}

func (c *Control) authorized(r *http.Request) bool {
	tok := r.Header.Get("X-Control-Token")
	if tok == "" {
		if scheme, rest, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
			tok = strings.TrimSpace(rest)
		}
	}
	return tok != "" && subtle.ConstantTimeCompare([]byte(tok), c.token) == 1
}

func (c *Control) index(w http.ResponseWriter) {
	names := make([]string, 0, len(controlEndpoints))
	for n := range controlEndpoints {
		names = append(names, n)
	}
	sort.Strings(names)
	type entry struct {
		Method string `json:"method"`
		Path   string `json:"path"`
		Doc    string `json:"doc"`
	}
	out := make([]entry, 0, len(names))
	for _, n := range names {
		ep := controlEndpoints[n]
		out = append(out, entry{ep.method, ControlPath + n, ep.doc})
	}
	writeJSON(w, http.StatusOK, map[string]any{"endpoints": out})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func (c *Control) mailbox(addr string) (*Mailbox, error) {
	if addr == "" {
		return nil, ctlErr(http.StatusBadRequest, "mailbox address required")
	}
	m := c.srv.Mailbox(addr)
	if m == nil {
		return nil, fmt.Errorf("%w: %s", ErrUnknownMailbox, addr)
	}
	return m, nil
}

func count(req *controlRequest) (int, error) {
	if req.Count == nil || *req.Count < 0 || *req.Count > 1_000_000 {
		return 0, ctlErr(http.StatusBadRequest, "count between 0 and 1000000 required")
	}
	return *req.Count, nil
}

func (c *Control) restart(*http.Request, *controlRequest) (any, error) {
	c.srv.Restart()
	return nil, nil
}

func (c *Control) moveMailbox(_ *http.Request, req *controlRequest) (any, error) {
	if _, err := c.mailbox(req.Mailbox); err != nil {
		return nil, err
	}
	if req.Database == "" {
		return nil, ctlErr(http.StatusBadRequest, "database required")
	}
	return nil, c.srv.MoveMailbox(req.Mailbox, req.Database)
}

func (c *Control) busy(_ *http.Request, req *controlRequest) (any, error) {
	n, err := count(req)
	if err != nil {
		return nil, err
	}
	backoff := 5 * time.Second
	if req.BackoffMs != nil {
		if *req.BackoffMs < 0 {
			return nil, ctlErr(http.StatusBadRequest, "negative backoffMs")
		}
		backoff = time.Duration(*req.BackoffMs) * time.Millisecond
	}
	c.srv.Faults().ServerBusy(n, backoff)
	return nil, nil
}

func (c *Control) dropConnections(_ *http.Request, req *controlRequest) (any, error) {
	n, err := count(req)
	if err != nil {
		return nil, err
	}
	c.srv.Faults().DropConnections(n)
	return nil, nil
}

func (c *Control) invalidSyncState(_ *http.Request, req *controlRequest) (any, error) {
	n, err := count(req)
	if err != nil {
		return nil, err
	}
	c.srv.Faults().InvalidSyncState(n)
	return nil, nil
}

func (c *Control) throttle(_ *http.Request, req *controlRequest) (any, error) {
	t := c.srv.Throttle()
	if t == nil {
		return nil, errNotImplemented
	}
	if (req.MaxConcurrent != nil && *req.MaxConcurrent < 0) || (req.LatencyMs != nil && *req.LatencyMs < 0) ||
		(req.BackoffMs != nil && *req.BackoffMs < 0) {
		return nil, ctlErr(http.StatusBadRequest, "negative throttle value")
	}
	if req.MaxConcurrent != nil {
		t.SetMaxConcurrentRequests(*req.MaxConcurrent)
	}
	if req.LatencyMs != nil {
		t.SetLatency(time.Duration(*req.LatencyMs) * time.Millisecond)
	}
	if req.BackoffMs != nil {
		t.SetBackOff(time.Duration(*req.BackoffMs) * time.Millisecond)
	}
	return nil, nil
}

func (c *Control) dropStreaming(_ *http.Request, req *controlRequest) (any, error) {
	if req.Mailbox != "" {
		if _, err := c.mailbox(req.Mailbox); err != nil {
			return nil, err
		}
	}
	return map[string]int{"dropped": c.srv.DropStreamingConnections(req.Mailbox)}, nil
}

func (c *Control) expireWatermarks(_ *http.Request, req *controlRequest) (any, error) {
	if _, err := c.mailbox(req.Mailbox); err != nil {
		return nil, err
	}
	return nil, c.srv.ExpireWatermarks(req.Mailbox)
}

func (c *Control) overrunWatermarks(_ *http.Request, req *controlRequest) (any, error) {
	if _, err := c.mailbox(req.Mailbox); err != nil {
		return nil, err
	}
	return nil, c.srv.OverrunWatermarks(req.Mailbox)
}

func (c *Control) activityStart(_ *http.Request, req *controlRequest) (any, error) {
	if req.Rate == nil || *req.Rate <= 0 {
		return nil, ctlErr(http.StatusBadRequest, "rate > 0 required")
	}
	if err := c.StartActivity(ActivityOptions{Rate: *req.Rate, Seed: req.Seed}); err != nil {
		return nil, err
	}
	return c.activityState(nil, nil)
}

func (c *Control) activityStop(*http.Request, *controlRequest) (any, error) {
	c.StopActivity()
	return c.activityState(nil, nil)
}

// maxSteps bounds one activity/step call.
const maxSteps = 10_000

func (c *Control) activityStep(_ *http.Request, req *controlRequest) (any, error) {
	n, err := count(req)
	if err != nil {
		return nil, err
	}
	if n > maxSteps {
		return nil, ctlErr(http.StatusBadRequest, "count above %d", maxSteps)
	}
	c.mu.Lock()
	if c.act == nil {
		a, err := c.srv.NewActivity(ActivityOptions{Seed: req.Seed})
		if err != nil {
			c.mu.Unlock()
			return nil, err
		}
		c.act = a
	}
	a := c.act
	c.mu.Unlock()
	changes := make([]ActivityChange, 0, n)
	for range n {
		ch, err := a.Step()
		if err != nil {
			return nil, err
		}
		changes = append(changes, ch)
	}
	return map[string]any{"changes": changes}, nil
}

func (c *Control) activityState(*http.Request, *controlRequest) (any, error) {
	c.mu.Lock()
	a := c.act
	c.mu.Unlock()
	st := struct {
		Running bool                   `json:"running"`
		Total   int64                  `json:"total"`
		Counts  map[ActivityKind]int64 `json:"counts"`
	}{Counts: map[ActivityKind]int64{}}
	if a != nil {
		st.Running, st.Total, st.Counts = a.Running(), a.Total(), a.Counts()
	}
	return st, nil
}

// MailboxDump is the JSON form of a mailbox given by the control
// endpoint's "mailbox" call.
type MailboxDump struct {
	Address  string       `json:"address"`
	Database string       `json:"database"`
	Folders  []FolderDump `json:"folders"`
}

// FolderDump is one folder of a MailboxDump, parents before children.
type FolderDump struct {
	ID                 string     `json:"id"`
	ChangeKey          string     `json:"changeKey"`
	ParentID           string     `json:"parentId,omitempty"`
	DisplayName        string     `json:"displayName"`
	FolderClass        string     `json:"folderClass,omitempty"`
	DistinguishedID    string     `json:"distinguishedId,omitempty"`
	TotalCount         int        `json:"totalCount"`
	UnreadCount        int        `json:"unreadCount"`
	ChildFolderCount   int        `json:"childFolderCount"`
	LocalCommitTimeMax time.Time  `json:"localCommitTimeMax"`
	DeletedCountTotal  int64      `json:"deletedCountTotal"`
	ChangeNumber       uint64     `json:"changeNumber"`
	Items              []ItemDump `json:"items,omitempty"`
}

// ItemDump is one item of a FolderDump, newest arrival first.
type ItemDump struct {
	ID               string    `json:"id"`
	ChangeKey        string    `json:"changeKey"`
	Subject          string    `json:"subject"`
	From             string    `json:"from"`
	DateTimeReceived time.Time `json:"dateTimeReceived"`
	IsRead           bool      `json:"isRead"`
	FlagStatus       string    `json:"flagStatus"`
	Categories       []string  `json:"categories,omitempty"`
	Size             int       `json:"size"`
}

// Dump returns the mailbox's folders and, when items is true, their items.
func (m *Mailbox) Dump(items bool) (MailboxDump, error) {
	d := MailboxDump{Address: m.Address(), Database: m.Database()}
	for _, f := range m.Folders() {
		fd := FolderDump{ID: f.ID, ChangeKey: f.ChangeKey, ParentID: f.ParentID, DisplayName: f.DisplayName,
			FolderClass: f.FolderClass, DistinguishedID: f.DistinguishedID, TotalCount: f.TotalCount,
			UnreadCount: f.UnreadCount, ChildFolderCount: f.ChildFolderCount, LocalCommitTimeMax: f.LocalCommitTimeMax,
			DeletedCountTotal: f.DeletedCountTotal, ChangeNumber: f.ChangeNumber}
		if items && f.TotalCount > 0 {
			its, err := m.Items(f.ID)
			if err != nil {
				return d, err
			}
			for _, it := range its {
				fd.Items = append(fd.Items, ItemDump{ID: it.ID, ChangeKey: it.ChangeKey, Subject: it.Message.Subject,
					From: it.Message.From.Email, DateTimeReceived: it.Message.DateTimeReceived, IsRead: it.Message.IsRead,
					FlagStatus: it.Message.FlagStatus, Categories: it.Message.Categories, Size: it.Size})
			}
		}
		d.Folders = append(d.Folders, fd)
	}
	return d, nil
}

func (c *Control) dumpMailbox(r *http.Request, _ *controlRequest) (any, error) {
	m, err := c.mailbox(r.URL.Query().Get("address"))
	if err != nil {
		return nil, err
	}
	return m.Dump(r.URL.Query().Get("items") != "false")
}

func (c *Control) stats(*http.Request, *controlRequest) (any, error) {
	return c.srv.RequestStats(), nil
}

package ewstest

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

type controlHarness struct {
	t     *testing.T
	s     *Server
	ctl   *Control
	http  *httptest.Server
	token string
}

func newControlHarness(t *testing.T) *controlHarness {
	t.Helper()
	s, clock := newActivityServer(t)
	_ = clock
	ctl, err := NewControl(s, "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(ControlPath, ctl)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	t.Cleanup(ctl.StopActivity)
	return &controlHarness{t: t, s: s, ctl: ctl, http: hs, token: "s3cret"}
}

func (h *controlHarness) call(method, path, token, body string) (int, map[string]any) {
	h.t.Helper()
	req, _ := http.NewRequest(method, h.http.URL+ControlPath+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := h.http.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		h.t.Fatalf("%s %s: not JSON: %v\n%s", method, path, err, b)
	}
	return resp.StatusCode, out
}

func (h *controlHarness) busyArmed() int {
	f := h.s.Faults()
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.busy
}

func TestControl_Token(t *testing.T) {
	h := newControlHarness(t)
	for _, tok := range []string{"", "wrong", "s3cre", "s3cret2"} {
		code, _ := h.call("POST", "busy", tok, `{"count":3}`)
		if code != http.StatusUnauthorized {
			t.Fatalf("token %q: status %d", tok, code)
		}
	}
	if n := h.busyArmed(); n != 0 {
		t.Fatalf("an unauthorized call armed %d busy faults", n)
	}
	// The token also works as X-Control-Token.
	req, _ := http.NewRequest("POST", h.http.URL+ControlPath+"busy", strings.NewReader(`{"count":1}`))
	req.Header.Set("X-Control-Token", "s3cret")
	resp, err := h.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || h.busyArmed() != 1 {
		t.Fatalf("X-Control-Token: %d, busy %d", resp.StatusCode, h.busyArmed())
	}
	if _, err := NewControl(h.s, " "); !errors.Is(err, ErrNoControlToken) {
		t.Fatalf("NewControl with a blank token: %v", err)
	}
}

func TestControl_Faults(t *testing.T) {
	h := newControlHarness(t)
	if code, out := h.call("GET", "", h.token, ""); code != 200 || len(out["endpoints"].([]any)) != len(controlEndpoints) {
		t.Fatalf("index: %d %v", code, out)
	}
	if code, _ := h.call("POST", "busy", h.token, `{"count":2,"backoffMs":1500}`); code != 200 {
		t.Fatalf("busy: %d", code)
	}
	f := h.s.Faults()
	f.mu.Lock()
	busy, backoff := f.busy, f.busyBackOff
	f.mu.Unlock()
	if busy != 2 || backoff != 1500*time.Millisecond {
		t.Fatalf("busy %d backoff %v", busy, backoff)
	}
	for path, check := range map[string]func() int{
		"drop-connections":   func() int { f.mu.Lock(); defer f.mu.Unlock(); return f.drop },
		"invalid-sync-state": func() int { f.mu.Lock(); defer f.mu.Unlock(); return f.invalidSync },
	} {
		if code, _ := h.call("POST", path, h.token, `{"count":4}`); code != 200 || check() != 4 {
			t.Fatalf("%s: %d, armed %d", path, code, check())
		}
	}
	if code, _ := h.call("POST", "throttle", h.token, `{"maxConcurrent":3,"latencyMs":0,"backoffMs":100}`); code != 200 {
		t.Fatalf("throttle: %d", code)
	}
	bad := []struct{ method, path, body string }{
		{"POST", "busy", `{"count":-1}`},
		{"POST", "busy", `{}`},
		{"POST", "busy", `{"count":1,"backoffMs":-5}`},
		{"POST", "busy", `{"count":1,"bogus":true}`},
		{"POST", "busy", `{not json`},
		{"POST", "throttle", `{"maxConcurrent":-1}`},
		{"POST", "activity/start", `{"rate":0}`},
		{"POST", "move-mailbox", `{"mailbox":"alice@example.com"}`},
		{"GET", "mailbox", ``},
	}
	for _, b := range bad {
		if code, out := h.call(b.method, b.path, h.token, b.body); code != http.StatusBadRequest || out["error"] == "" {
			t.Errorf("%s %s %s: %d %v", b.method, b.path, b.body, code, out)
		}
	}
	if code, _ := h.call("GET", "busy", h.token, ""); code != http.StatusMethodNotAllowed {
		t.Errorf("GET busy: %d", code)
	}
	if code, _ := h.call("POST", "explode", h.token, ""); code != http.StatusNotFound {
		t.Errorf("unknown endpoint: %d", code)
	}
	if code, _ := h.call("GET", "mailbox?address=nobody@example.com", h.token, ""); code != http.StatusNotFound {
		t.Errorf("unknown mailbox: %d", code)
	}
}

func TestControl_NotificationHooks(t *testing.T) {
	h := newControlHarness(t)
	for _, c := range []struct{ path, body string }{
		{"restart", ""},
		{"move-mailbox", `{"mailbox":"alice@example.com","database":"DB02"}`},
		{"drop-streaming", `{}`},
		{"watermarks/expire", `{"mailbox":"alice@example.com"}`},
		{"watermarks/overrun", `{"mailbox":"alice@example.com"}`},
	} {
		if code, out := h.call("POST", c.path, h.token, c.body); code != http.StatusOK {
			t.Errorf("%s: %d %v, want 200", c.path, code, out)
		}
	}
	if db := h.s.Mailbox("alice@example.com").Database(); db != "DB02" {
		t.Errorf("after move-mailbox the database is %q, want DB02", db)
	}
}

func TestControl_Activity(t *testing.T) {
	h := newControlHarness(t)
	code, out := h.call("POST", "activity/step", h.token, `{"count":5,"seed":9}`)
	if code != 200 || len(out["changes"].([]any)) != 5 {
		t.Fatalf("step: %d %v", code, out)
	}
	if _, out := h.call("GET", "activity", h.token, ""); out["total"].(float64) != 5 || out["running"].(bool) {
		t.Fatalf("state after step: %v", out)
	}
	if code, out := h.call("POST", "activity/start", h.token, `{"rate":10,"seed":1}`); code != 200 || !out["running"].(bool) {
		t.Fatalf("start: %d %v", code, out)
	}
	h.s.Clock().(interface{ Advance(time.Duration) }).Advance(time.Second)
	if _, out := h.call("GET", "activity", h.token, ""); out["total"].(float64) != 10 {
		t.Fatalf("after 1 s at 10/s: %v", out)
	}
	if _, out := h.call("POST", "activity/stop", h.token, ""); out["running"].(bool) {
		t.Fatalf("stop: %v", out)
	}
}

func TestControl_DumpMailbox(t *testing.T) {
	h := newControlHarness(t)
	req, _ := http.NewRequest("GET", h.http.URL+ControlPath+"mailbox?address=Alice@example.com", nil)
	req.Header.Set("Authorization", "Bearer "+h.token)
	resp, err := h.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d MailboxDump
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		t.Fatal(err)
	}
	m := h.s.Mailbox("alice@example.com")
	fs := m.Folders()
	if d.Address != "alice@example.com" || len(d.Folders) != len(fs) {
		t.Fatalf("dump %s with %d folders, mailbox has %d", d.Address, len(d.Folders), len(fs))
	}
	items := 0
	for i, f := range d.Folders {
		if f.ID != fs[i].ID || f.TotalCount != fs[i].TotalCount || len(f.Items) != f.TotalCount {
			t.Fatalf("folder %d: %+v vs %+v (%d items dumped)", i, f, fs[i], len(f.Items))
		}
		items += len(f.Items)
	}
	if items != 300 {
		t.Fatalf("%d items dumped, want 300", items)
	}
	code, out := h.call("GET", "mailbox?address=alice@example.com&items=false", h.token, "")
	if code != 200 {
		t.Fatalf("%d", code)
	}
	for _, f := range out["folders"].([]any) {
		if _, ok := f.(map[string]any)["items"]; ok {
			t.Fatal("items=false still dumped items")
		}
	}
}

func FuzzControl(f *testing.F) {
	s := NewUnstartedServer(Options{Logger: slog.New(slog.DiscardHandler),
		Users: []User{{Name: "alice", Password: "x", Address: "alice@example.com"}}})
	ctl, err := NewControl(s, "t")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(ctl.StopActivity)
	f.Add("POST", "busy", `{"count":1}`)
	f.Add("POST", "activity/step", `{"count":3,"seed":2}`)
	f.Add("GET", "mailbox?address=alice@example.com&items=false", "")
	f.Add("POST", "throttle", `{"maxConcurrent":1e99}`)
	f.Fuzz(func(t *testing.T, method, path, body string) {
		if len(body) > 4096 {
			return
		}
		switch method {
		case "GET", "POST", "PUT":
		default:
			return
		}
		req, err := http.NewRequest(method, "http://x"+ControlPath+path, strings.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Authorization", "Bearer t")
		rec := httptest.NewRecorder()
		ctl.ServeHTTP(rec, req)
		ctl.StopActivity()
		switch rec.Code {
		case 200, 400, 404, 405, 501:
		default:
			t.Fatalf("%s %s %q: status %d %s", method, path, body, rec.Code, rec.Body)
		}
		var v any
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
			t.Fatalf("non-JSON answer %q", rec.Body)
		}
	})
}

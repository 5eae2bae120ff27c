package ewstest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	ntlmssp "github.com/Azure/go-ntlmssp"
)

const getInboxRequest = `<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"
 xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
<soap:Header><t:RequestServerVersion Version="Exchange2013"/></soap:Header>
<soap:Body><m:GetFolder><m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape>
<m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:GetFolder></soap:Body></soap:Envelope>`

var authUsers = []User{
	{Name: "alice", Password: "secret", Address: "alice@example.com"},
	{Name: "bob", Password: "hunter2", Address: "bob@example.com"},
}

func postEWS(t *testing.T, c *http.Client, url string, setup func(*http.Request)) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", url, strings.NewReader(getInboxRequest))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	if setup != nil {
		setup(req)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServer_AuthModes(t *testing.T) {
	basic := func(u, p string) func(*http.Request) { return func(r *http.Request) { r.SetBasicAuth(u, p) } }
	bearer := func(tok string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	}
	tests := []struct {
		name   string
		auth   AuthOptions
		ntlm   bool
		setup  func(*http.Request)
		status int
		who    string
	}{
		{"basic ok", AuthOptions{Mode: AuthBasic}, false, basic("alice", "secret"), 200, "alice alice@example.com"},
		{"basic upn", AuthOptions{Mode: AuthBasic}, false, basic("bob@example.com", "hunter2"), 200, "bob bob@example.com"},
		{"basic wrong", AuthOptions{Mode: AuthBasic}, false, basic("alice", "hunter2"), 401, ""},
		{"basic missing", AuthOptions{Mode: AuthBasic}, false, nil, 401, ""},
		{"bearer ok", AuthOptions{Mode: AuthBearer, Tokens: map[string]string{"tok1": "alice"}}, false, bearer("tok1"), 200, "alice alice@example.com"},
		{"bearer wrong", AuthOptions{Mode: AuthBearer, Tokens: map[string]string{"tok1": "alice"}}, false, bearer("tok2"), 401, ""},
		{"ntlm ok", AuthOptions{Mode: AuthNTLM}, true, basic(`EXAMPLE\alice`, "secret"), 200, "alice alice@example.com"},
		{"ntlm wrong", AuthOptions{Mode: AuthNTLM}, true, basic("alice", "nope"), 401, ""},
		{"none with anchor", AuthOptions{}, false, func(r *http.Request) { r.Header.Set("X-AnchorMailbox", "bob@example.com") }, 200, " bob@example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newWhoAmIServer(Options{Users: authUsers, Auth: tt.auth})
			defer s.Close()
			c := s.Client()
			if tt.ntlm {
				c = &http.Client{Transport: ntlmssp.Negotiator{RoundTripper: &http.Transport{}}}
			}
			before := s.Mailbox("alice@example.com").Folders()
			code, body := postEWS(t, c, s.URL, tt.setup)
			if code != tt.status {
				t.Fatalf("status %d, want %d\n%s", code, tt.status, body)
			}
			if code == 200 && body != tt.who {
				t.Fatalf("served as %q, want %q", body, tt.who)
			}
			if code == 401 && len(s.Mailbox("alice@example.com").Folders()) != len(before) {
				t.Fatal("a rejected request changed the mailbox")
			}
		})
	}
}

// newWhoAmIServer starts a server whose GetFolder answers with the caller
// and the mailbox the request acts on, so that these tests see what the
// authentication layer hands to the SOAP layer.
func newWhoAmIServer(opts Options) *Server {
	s := NewUnstartedServer(opts)
	s.replaceOp("GetFolder", func(r *request) error {
		r.handled = true
		io.WriteString(r.rw, r.caller+" "+r.mb.Address())
		return nil
	})
	s.Start()
	return s
}

func TestServer_AuthMisconfigured(t *testing.T) {
	s := NewServer(Options{Users: authUsers, Auth: AuthOptions{Mode: "kerberos"}})
	defer s.Close()
	code, _ := postEWS(t, s.Client(), s.URL, func(r *http.Request) { r.SetBasicAuth("alice", "secret") })
	if code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500 for an unknown auth mode", code)
	}
}

func TestServer_ThrottleConcurrentRequests(t *testing.T) {
	s := NewUnstartedServer(Options{Users: authUsers, Auth: AuthOptions{Mode: AuthBasic},
		Throttle: ThrottleOptions{MaxConcurrentRequests: 1, BackOff: 2 * time.Second}})
	entered, release := make(chan string, 4), make(chan struct{})
	s.replaceOp("GetFolder", func(r *request) error {
		entered <- r.caller
		<-release
		r.handled = true
		return nil
	})
	s.Start()
	defer s.Close()
	as := func(u, p string) func(*http.Request) { return func(r *http.Request) { r.SetBasicAuth(u, p) } }
	done := make(chan int)
	go func() {
		code, _ := postEWS(t, s.Client(), s.URL, as("alice", "secret"))
		done <- code
	}()
	<-entered
	code, body := postEWS(t, s.Client(), s.URL, as("alice", "secret"))
	if code != 500 || !strings.Contains(body, "a:ErrorServerBusy") || !strings.Contains(body, `<t:Value Name="BackOffMilliseconds">2000</t:Value>`) {
		t.Fatalf("second concurrent request of alice: %d\n%s", code, body)
	}
	go func() {
		code, _ := postEWS(t, s.Client(), s.URL, as("bob", "hunter2"))
		done <- code
	}()
	if who := <-entered; who != "bob" {
		t.Fatalf("entered as %q", who)
	}
	close(release)
	for range 2 {
		if code := <-done; code != 200 {
			t.Fatalf("admitted request: %d", code)
		}
	}
	if s.Throttle().Refused() != 1 || s.Throttle().InFlight("alice") != 0 {
		t.Fatalf("refused %d, in flight %d", s.Throttle().Refused(), s.Throttle().InFlight("alice"))
	}
}

func TestServer_ThrottleLatency(t *testing.T) {
	var slept []time.Duration
	s := newWhoAmIServer(Options{Users: authUsers, Auth: AuthOptions{Mode: AuthBasic}, Throttle: ThrottleOptions{
		Latency: 150 * time.Millisecond,
		Sleep:   func(ctx context.Context, d time.Duration) error { slept = append(slept, d); return nil },
	}})
	defer s.Close()
	basic := func(r *http.Request) { r.SetBasicAuth("alice", "secret") }
	postEWS(t, s.Client(), s.URL, basic)
	s.Throttle().SetLatency(0)
	postEWS(t, s.Client(), s.URL, basic)
	if len(slept) != 1 || slept[0] != 150*time.Millisecond {
		t.Fatalf("slept %v", slept)
	}
}

const subscribeStreamingRequest = `<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"
 xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
<soap:Header><t:RequestServerVersion Version="Exchange2013"/></soap:Header>
<soap:Body><m:Subscribe><m:StreamingSubscriptionRequest SubscribeToAllFolders="true">
<t:EventTypes><t:EventType>CreatedEvent</t:EventType></t:EventTypes>
</m:StreamingSubscriptionRequest></m:Subscribe></soap:Body></soap:Envelope>`

const getStreamingEventsRequest = `<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"
 xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
<soap:Header><t:RequestServerVersion Version="Exchange2013"/></soap:Header>
<soap:Body><m:GetStreamingEvents><m:SubscriptionIds><t:SubscriptionId>%s</t:SubscriptionId></m:SubscriptionIds>
<m:ConnectionTimeout>1</m:ConnectionTimeout></m:GetStreamingEvents></soap:Body></soap:Envelope>`

// TestServer_StreamingExemptFromConcurrencyLimit holds a GetStreamingEvents
// connection open while the user, limited to one request at a time, makes
// another request: the hanging connection does not count.
func TestServer_StreamingExemptFromConcurrencyLimit(t *testing.T) {
	s := NewServer(Options{Users: authUsers, Auth: AuthOptions{Mode: AuthBasic},
		Throttle: ThrottleOptions{MaxConcurrentRequests: 1}})
	defer s.Close()
	soap := func(ctx context.Context, body string) *http.Response {
		req, _ := http.NewRequestWithContext(ctx, "POST", s.URL, strings.NewReader(body))
		req.Header.Set("Content-Type", "text/xml; charset=utf-8")
		req.SetBasicAuth("alice", "secret")
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := soap(context.Background(), subscribeStreamingRequest)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`<m:SubscriptionId>([^<]+)</m:SubscriptionId>`).FindSubmatch(b)
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("Subscribe: %d\n%s", resp.StatusCode, b)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream := soap(ctx, fmt.Sprintf(getStreamingEventsRequest, m[1]))
	defer stream.Body.Close()
	if stream.StatusCode != 200 {
		t.Fatalf("GetStreamingEvents: %d", stream.StatusCode)
	}
	// The stream is open (its headers arrived); another request goes through.
	code, body := postEWS(t, s.Client(), s.URL, func(r *http.Request) { r.SetBasicAuth("alice", "secret") })
	if code != 200 || !strings.Contains(body, "NoError") {
		t.Fatalf("GetFolder while streaming: %d\n%s", code, body)
	}
	if s.Throttle().Refused() != 0 {
		t.Fatalf("%d requests refused", s.Throttle().Refused())
	}
}

package ewstest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// TestInterop_ExchangelibNotifications drives the notification operations
// with exchangelib: a pull subscription read with get_events, a streaming
// subscription read with get_streaming_events (twice, with an item created
// between the connections) and a push subscription to a Python listener
// that parses SendNotification with exchangelib — each must see the
// CreatedEvent of an item exchangelib creates after subscribing.
func TestInterop_ExchangelibNotifications(t *testing.T) {
	if testing.Short() {
		t.Skip("interop test skipped in -short mode")
	}
	if _, err := os.Stat(interopPython); err != nil {
		skipOrFailInterop(t, interopPython+" is missing")
	}
	if err := exec.Command(interopPython, "-c", "import exchangelib").Run(); err != nil {
		skipOrFailInterop(t, "python3-exchangelib is not installed")
	}
	for _, auth := range []string{AuthBasic, AuthNTLM} {
		t.Run("auth="+auth, func(t *testing.T) { runExchangelibNotifications(t, auth) })
	}
}

func runExchangelibNotifications(t *testing.T, auth string) {
	srv := NewServer(Options{
		Users: []User{{Name: "alice", Password: "secret", Address: "alice@example.com"}},
		Auth:  AuthOptions{Mode: auth},
	})
	defer srv.Close()
	defer closeNotifications(srv)

	// The script asks here how many streaming connections the server still
	// has open: a client's close reaches the server asynchronously, and
	// events raised before it does go to the old connection (as on
	// Exchange), so the script waits for it before testing the gap
	// between two connections.
	streams := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, srv.NotificationStats().OpenStreams)
	}))
	defer streams.Close()

	script := filepath.Join("testdata", "interop", "notifications.py")
	cmd := exec.Command(interopPython, script, srv.URL, "alice", "secret", "alice@example.com", auth, streams.URL)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("exchangelib script failed: %v\nstderr:\n%s\nstdout:\n%s", err, stderr.String(), stdout.String())
	}
	var out struct {
		PullItem          string   `json:"pull_item"`
		PullCreated       []string `json:"pull_created"`
		PullEvents        []string `json:"pull_events"`
		PullPreviousOK    bool     `json:"pull_previous_is_subscribe_wm"`
		PullIdle          []string `json:"pull_idle"`
		PullIdleChains    bool     `json:"pull_idle_chains"`
		StreamingItem     string   `json:"streaming_item"`
		StreamingCreated  []string `json:"streaming_created"`
		StreamingItem2    string   `json:"streaming_item2"`
		StreamingCreated2 []string `json:"streaming_created2"`
		StreamingSubOK    bool     `json:"streaming_subscription_ok"`
		PushFirst         []string `json:"push_first"`
		PushFirstSubOK    bool     `json:"push_first_sub_ok"`
		PushItem          string   `json:"push_item"`
		PushCreated       []string `json:"push_created"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("script output is not JSON: %v\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	t.Logf("exchangelib saw: %s", stdout.String())

	if out.PullItem == "" || !slices.Equal(out.PullCreated, []string{out.PullItem}) || !out.PullPreviousOK {
		t.Errorf("pull: item %q, created %v, PreviousWatermark ok %v", out.PullItem, out.PullCreated, out.PullPreviousOK)
	}
	if !slices.Equal(out.PullEvents, []string{"CreatedEvent", "ModifiedEvent"}) {
		t.Errorf("pull events %v, want CreatedEvent then the inbox's ModifiedEvent", out.PullEvents)
	}
	if !slices.Equal(out.PullIdle, []string{"StatusEvent"}) || !out.PullIdleChains {
		t.Errorf("idle get_events %v, chains %v", out.PullIdle, out.PullIdleChains)
	}
	if out.StreamingItem == "" || !slices.Contains(out.StreamingCreated, out.StreamingItem) || !out.StreamingSubOK {
		t.Errorf("streaming: item %q, created %v, ids ok %v", out.StreamingItem, out.StreamingCreated, out.StreamingSubOK)
	}
	if out.StreamingItem2 == "" || !slices.Equal(out.StreamingCreated2, []string{out.StreamingItem2}) {
		t.Errorf("streaming reconnect: item %q, created %v", out.StreamingItem2, out.StreamingCreated2)
	}
	if !slices.Equal(out.PushFirst, []string{"StatusEvent"}) || !out.PushFirstSubOK {
		t.Errorf("first push %v, subscription ok %v", out.PushFirst, out.PushFirstSubOK)
	}
	if out.PushItem == "" || !slices.Contains(out.PushCreated, out.PushItem) {
		t.Errorf("push: item %q, created %v", out.PushItem, out.PushCreated)
	}
}

package ewstest

import (
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestInterop_ExchangelibAutodiscover runs exchangelib's Autodiscover
// (both flavours) against the fake over loopback http: its discovery
// reaches the fake through its per-domain endpoint cache (see the
// script), reads the EWS URL, version and SMTP address, then uses the
// discovered endpoint; a batched GetUserSettings of its own reads each
// mailbox's GroupingInformation.
func TestInterop_ExchangelibAutodiscover(t *testing.T) {
	if testing.Short() {
		t.Skip("interop test skipped in -short mode")
	}
	if _, err := os.Stat(interopPython); err != nil {
		skipOrFailInterop(t, interopPython+" is missing")
	}
	if err := exec.Command(interopPython, "-c", "import exchangelib").Run(); err != nil {
		skipOrFailInterop(t, "python3-exchangelib is not installed")
	}
	srv := NewServer(Options{Users: []User{
		{Name: "ada", Password: "pw", Address: "ada@adinterop.test", Database: "DB01"},
		{Name: "ben", Password: "pw", Address: "ben@adinterop.test", Database: "DB02"},
	}, Auth: AuthOptions{Mode: AuthBasic}, Logger: slog.New(slog.DiscardHandler)})
	defer srv.Close()
	mustDeliver(t, srv.Mailbox("ada@adinterop.test"), "inbox", testMessage("hello"))
	script := filepath.Join("testdata", "interop", "autodiscover_exchangelib.py")
	for _, tc := range []struct{ flavour, url string }{{"soap", srv.AutodiscoverURL()}, {"pox", srv.AutodiscoverPOXURL()}} {
		t.Run(tc.flavour, func(t *testing.T) {
			cmd := exec.Command(interopPython, script, tc.url, tc.flavour, "ada", "pw", "ada@adinterop.test", "ben@adinterop.test")
			cmd.Stderr = os.Stderr
			b, err := cmd.Output()
			if err != nil {
				t.Fatalf("script: %v", err)
			}
			var out struct {
				Errors             []string `json:"errors"`
				EwsURL             string   `json:"ews_url"`
				PrimarySMTPAddress string   `json:"primary_smtp_address"`
				APIVersion         string   `json:"api_version"`
				InboxTotal         int      `json:"inbox_total"`
				Users              map[string]struct {
					ErrorCode           string `json:"error_code"`
					ExternalEwsURL      string `json:"external_ews_url"`
					GroupingInformation string `json:"grouping_information"`
				} `json:"users"`
			}
			if err := json.Unmarshal(b, &out); err != nil {
				t.Fatalf("script output %q: %v", b, err)
			}
			for _, e := range out.Errors {
				t.Errorf("exchangelib: %s", e)
			}
			if out.EwsURL != srv.URL || out.PrimarySMTPAddress != "ada@adinterop.test" || out.InboxTotal != 1 || out.APIVersion == "" {
				t.Fatalf("exchangelib found %+v, want EWS %s", out, srv.URL)
			}
			if tc.flavour != "soap" {
				return
			}
			for addr, db := range map[string]string{"ada@adinterop.test": "DB01", "ben@adinterop.test": "DB02"} {
				u := out.Users[addr]
				if u.ExternalEwsURL != srv.URL || u.GroupingInformation != GroupingInformationOf(BackendOf(db)) {
					t.Errorf("%s: %+v", addr, u)
				}
			}
			if u := out.Users["InvalidUser"]; u.ErrorCode != "InvalidUser" {
				t.Errorf("unknown mailbox: %+v (users %+v)", u, out.Users)
			}
		})
	}
}

// TestInterop_EwsJavascriptAPIAutodiscover asks the fake's SOAP
// Autodiscover for three mailboxes in one request with
// ews-javascript-api's AutodiscoverService, whose reader is the Managed
// API's (settings typed by i:type, errors per user).
func TestInterop_EwsJavascriptAPIAutodiscover(t *testing.T) {
	if testing.Short() {
		t.Skip("interop test skipped in -short mode")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		skipOrFailEwsjs(t, "node is not on PATH")
	}
	if _, err := os.Stat(filepath.Join(ewsjsDir, "node_modules", "ews-javascript-api", "package.json")); err != nil {
		skipOrFailEwsjs(t, "ews-javascript-api is not installed")
	}
	srv := NewServer(Options{Users: []User{
		{Name: "ada", Password: "pw", Address: "ada@example.com", Database: "DB01"},
		{Name: "ben", Password: "pw", Address: "ben@example.com", Database: "DB02"},
	}, Auth: AuthOptions{Mode: AuthBasic}, Logger: slog.New(slog.DiscardHandler)})
	defer srv.Close()
	before := srv.RequestStats().Requests["GetUserSettings"]
	cmd := exec.Command(node, "autodiscover.js", srv.AutodiscoverURL(), "ada", "pw", "ada@example.com", "ben@example.com", "nobody@example.com")
	cmd.Dir = ewsjsDir
	cmd.Stderr = os.Stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("script: %v", err)
	}
	var out struct {
		Errors []string                     `json:"errors"`
		Users  map[string]map[string]string `json:"users"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("script output %q: %v", b, err)
	}
	for _, e := range out.Errors {
		t.Errorf("ews-javascript-api: %s", e)
	}
	for addr, db := range map[string]string{"ada@example.com": "DB01", "ben@example.com": "DB02"} {
		u := out.Users[addr]
		if u["errorCode"] != "NoError" || u["ExternalEwsUrl"] != srv.URL || u["InternalEwsUrl"] != srv.URL ||
			u["GroupingInformation"] != GroupingInformationOf(BackendOf(db)) || u["AutoDiscoverSMTPAddress"] != addr {
			t.Errorf("%s: %v", addr, u)
		}
	}
	if u := out.Users["nobody@example.com"]; u["errorCode"] != "InvalidUser" {
		t.Errorf("unknown mailbox: %v", u)
	}
	if n := srv.RequestStats().Requests["GetUserSettings"] - before; n != 1 {
		t.Errorf("%d GetUserSettings requests for three mailboxes, want 1", n)
	}
}

package ews

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Credentials go over plain http only to a loopback host, or with
// Options.AllowInsecureAuth.
func TestNew_RefusesCredentialsOverPlainHTTP(t *testing.T) {
	auths := map[string]Auth{
		"NTLM":   NTLM(`CONTOSO\mara`, "hunter2-secret"),
		"Basic":  Basic("mara", "hunter2-secret"),
		"Bearer": Bearer(TokenSourceFunc(func(context.Context) (string, error) { return "hunter2-secret", nil })),
	}
	refused := []string{
		"http://mail.example.com/EWS/Exchange.asmx",
		"http://10.0.0.5:8080/EWS/Exchange.asmx",
		"http://[2001:db8::1]/EWS/Exchange.asmx",
		"http://127.0.0.1.example.com/EWS/Exchange.asmx",
		"http://localhost.example.com/EWS/Exchange.asmx",
		"HTTP://Mail.Example.com/EWS/Exchange.asmx",
	}
	allowed := []string{
		"https://mail.example.com/EWS/Exchange.asmx",
		"http://127.0.0.1:8080/EWS/Exchange.asmx",
		"http://127.31.4.5/EWS/Exchange.asmx",
		"http://[::1]:8080/EWS/Exchange.asmx",
		"http://[::ffff:127.0.0.1]/EWS/Exchange.asmx",
		"http://localhost/EWS/Exchange.asmx",
		"http://LOCALHOST.:80/EWS/Exchange.asmx",
		"http://ews.localhost/EWS/Exchange.asmx",
	}
	for name, a := range auths {
		for _, ep := range refused {
			_, err := New(ep, &Options{Auth: a})
			if !errors.Is(err, ErrInsecureAuth) || !errors.Is(err, ErrInvalidOptions) {
				t.Errorf("%s %s: %v, want ErrInsecureAuth", name, ep, err)
			} else if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "mara") {
				t.Errorf("%s %s: credentials in %q", name, ep, err)
			}
			if _, err := New(ep, &Options{Auth: a, AllowInsecureAuth: true}); err != nil {
				t.Errorf("%s %s with AllowInsecureAuth: %v", name, ep, err)
			}
		}
		for _, ep := range allowed {
			if _, err := New(ep, &Options{Auth: a}); err != nil {
				t.Errorf("%s %s: %v", name, ep, err)
			}
		}
	}
	// Without credentials, plain http is the caller's business.
	if _, err := New(refused[0], nil); err != nil {
		t.Errorf("no Auth: %v", err)
	}
	// Autodiscover's explicit URL follows the same rule.
	_, err := NewAutodiscoverer(&AutodiscoverOptions{URL: "http://autodiscover.example.com/autodiscover/autodiscover.svc", Client: &Options{Auth: auths["Basic"]}})
	if !errors.Is(err, ErrInsecureAuth) {
		t.Errorf("Autodiscover over plain http: %v", err)
	}
	if _, err := NewAutodiscoverer(&AutodiscoverOptions{URL: "http://127.0.0.1:1/autodiscover/autodiscover.svc", Client: &Options{Auth: auths["Basic"]}}); err != nil {
		t.Errorf("Autodiscover on loopback: %v", err)
	}
}

// Failing NTLM, Basic and Bearer exchanges, with a DebugWriter and a
// logger taking everything at debug level: the secret appears in no dump,
// log record, error, or printed form of the client and its options.
func TestAuth_CredentialsNeverLeak(t *testing.T) {
	const secret = "Zq8-unguessable-Pa55"
	ntlmSrv, _ := newNTLMFake(t, false, nil)
	challenge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Basic realm="ews"`)
		http.Error(w, "no", http.StatusUnauthorized)
	}))
	defer challenge.Close()
	cases := []struct {
		name string
		url  string
		auth Auth
	}{
		{"NTLM", ntlmSrv.URL, NTLM(`CONTOSO\mara`, secret)},
		{"Basic", challenge.URL, Basic("mara", secret)},
		{"Bearer", challenge.URL, Bearer(TokenSourceFunc(func(context.Context) (string, error) { return secret, nil }))},
	}
	forbidden := []string{secret, base64.StdEncoding.EncodeToString([]byte("mara:" + secret)), "TlRMTVNTUAAD"}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var dbg, text, js bytes.Buffer
			lvl := &slog.HandlerOptions{Level: slog.LevelDebug}
			log := slog.New(teeHandler{slog.NewTextHandler(&text, lvl), slog.NewJSONHandler(&js, lvl)})
			opts := &Options{Auth: tc.auth, DebugWriter: &dbg, Logger: log, Retry: RetryPolicy{MaxAttempts: 2}}
			c, err := New(tc.url, opts)
			if err != nil {
				t.Fatal(err)
			}
			callErr := getTwoFolders(context.Background(), c)
			if !errors.Is(callErr, ErrUnauthorized) {
				t.Fatalf("call: %v, want ErrUnauthorized", callErr)
			}
			_, subErr := c.Subscribe(context.Background(), &SubscribeRequest{Kind: Pull, DistinguishedFolders: []string{"inbox"}, Timeout: 10 * time.Minute})
			log.Info("client", "auth", tc.auth, "options", opts, "client", c, "err", callErr)
			outputs := map[string]string{
				"debug dump": dbg.String(), "text log": text.String(), "JSON log": js.String(),
				"error": fmt.Sprintf("%v %+v %#v", callErr, callErr, callErr), "subscribe error": fmt.Sprint(subErr),
				"auth":    fmt.Sprintf("%v %+v %#v %s", tc.auth, tc.auth, tc.auth, tc.auth),
				"options": fmt.Sprintf("%v %+v %#v", opts, *opts, *opts), "client": fmt.Sprintf("%v %+v %#v", c, c, c),
			}
			for where, out := range outputs {
				for _, f := range forbidden {
					if strings.Contains(out, f) {
						t.Errorf("%s holds %q:\n%s", where, f, out)
					}
				}
			}
			if !strings.Contains(dbg.String(), "GetFolder") || text.Len() == 0 {
				t.Fatalf("nothing captured: dump %d bytes, log %d bytes", dbg.Len(), text.Len())
			}
		})
	}
}

// teeHandler sends every record to each of its handlers.
type teeHandler []slog.Handler

func (h teeHandler) Enabled(ctx context.Context, l slog.Level) bool { return true }

func (h teeHandler) Handle(ctx context.Context, r slog.Record) error {
	for _, x := range h {
		_ = x.Handle(ctx, r.Clone())
	}
	return nil
}

func (h teeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	out := make(teeHandler, len(h))
	for i, x := range h {
		out[i] = x.WithAttrs(as)
	}
	return out
}

func (h teeHandler) WithGroup(g string) slog.Handler {
	out := make(teeHandler, len(h))
	for i, x := range h {
		out[i] = x.WithGroup(g)
	}
	return out
}

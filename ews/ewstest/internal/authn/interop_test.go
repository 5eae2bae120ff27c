package authn

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// python returns the interpreter to run interop checks with, skipping the
// test when the module is missing (unless MAILSYNC_REQUIRE_INTEROP=1).
func python(t *testing.T, module string) string {
	t.Helper()
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import "+module).Run(); err != nil {
		if os.Getenv("MAILSYNC_REQUIRE_INTEROP") == "1" {
			t.Fatalf("python module %s unavailable (%v) and MAILSYNC_REQUIRE_INTEROP=1", module, err)
		}
		t.Skipf("python module %s unavailable (%v); install python3-exchangelib", module, err)
	}
	return py
}

// legacyOpenSSL is an OpenSSL configuration that enables the legacy
// provider: Python's hashlib takes MD4 (needed by NTLM's NTOWF) from it,
// and OpenSSL 3 leaves it off by default.
const legacyOpenSSL = `openssl_conf = openssl_init
[openssl_init]
providers = provider_sect
[provider_sect]
default = default_sect
legacy = legacy_sect
[default_sect]
activate = 1
[legacy_sect]
activate = 1
`

// opensslEnv returns the environment for a Python process that needs MD4.
func opensslEnv(t *testing.T) []string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "openssl.cnf")
	if err := os.WriteFile(p, []byte(legacyOpenSSL), 0o600); err != nil {
		t.Fatal(err)
	}
	return append(os.Environ(), "OPENSSL_CONF="+p)
}

const requestsNTLMScript = `
import sys, requests
from requests_ntlm import HttpNtlmAuth
url, user, pw = sys.argv[1], sys.argv[2], sys.argv[3]
s = requests.Session()
s.auth = HttpNtlmAuth(user, pw)
for body in ("<one/>", "<two/>"):
    r = s.post(url, data=body, headers={"Content-Type": "text/xml; charset=utf-8"})
    print(r.status_code, r.text)
`

// TestMiddleware_NTLMInteropRequestsNTLM authenticates with Python's
// requests_ntlm (the NTLM stack exchangelib uses), an implementation
// nobody here wrote.
func TestMiddleware_NTLMInteropRequestsNTLM(t *testing.T) {
	py := python(t, "requests_ntlm")
	srv, e := newServer(t, Config{Mode: ModeNTLM, Users: users})
	env := opensslEnv(t)
	tests := []struct {
		user, pass string
		want       string
	}{
		{`EXAMPLE\alice`, "secret", "200 alice\n200 alice\n"},
		{`bob@example.com`, "hunter2", "200 Bob\n200 Bob\n"},
		{`EXAMPLE\alice`, "wrong", "401 \n401 \n"},
	}
	for _, tt := range tests {
		t.Run(tt.user+"/"+tt.pass, func(t *testing.T) {
			before := e.calls.Load()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, py, "-c", requestsNTLMScript, srv.URL+"/EWS/Exchange.asmx", tt.user, tt.pass)
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("python: %v\n%s", err, out)
			}
			if string(out) != tt.want {
				t.Fatalf("python printed %q, want %q", out, tt.want)
			}
			if strings.HasPrefix(tt.want, "401") && e.calls.Load() != before {
				t.Fatal("handler ran for a rejected request")
			}
		})
	}
}

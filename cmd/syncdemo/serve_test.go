package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestServe_DefaultUsersAndPassword(t *testing.T) {
	url, out, _ := startServe(t, "-messages", "5", "-folders", "0", "-auth", "basic")
	for _, want := range []string{"mailbox alice@example.com user=alice ", "mailbox bob@example.com user=bob "} {
		if l := out.next(t); !strings.HasPrefix(l, want) {
			t.Fatalf("line %q, want %q…", l, want)
		}
	}
	for _, user := range []string{"alice", "bob"} {
		code, body := getInboxAs(t, http.DefaultClient, url, func(r *http.Request) { r.SetBasicAuth(user, serveDefaultPassword) })
		if code != 200 || !strings.Contains(body, "NoError") {
			t.Fatalf("%s with the default password: %d\n%s", user, code, body)
		}
	}
}

func TestServe_PasswordFromEnvironment(t *testing.T) {
	t.Setenv(envServePassword, "env-pass")
	url, out, _ := startServe(t, "-users", "dave", "-messages", "5", "-folders", "0", "-auth", "basic")
	out.next(t)
	if code, _ := getInboxAs(t, http.DefaultClient, url, func(r *http.Request) { r.SetBasicAuth("dave", "env-pass") }); code != 200 {
		t.Fatalf("password from $%s: %d", envServePassword, code)
	}
	if code, _ := getInboxAs(t, http.DefaultClient, url, func(r *http.Request) { r.SetBasicAuth("dave", serveDefaultPassword) }); code != 401 {
		t.Fatalf("the default password still works with $%s set: %d", envServePassword, code)
	}
}

func controlStatus(t *testing.T, base, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/ewstest/control/activity", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestServe_ControlTokenFileAndGenerated(t *testing.T) {
	t.Run("file", func(t *testing.T) {
		tokFile := writeSecretFile(t, "token", "file-token-123\nignored\n")
		url, out, _ := startServe(t, "-users", "erin", "-messages", "0", "-folders", "0", "-control-token-file", tokFile)
		out.next(t) // mailbox
		base := strings.TrimSuffix(url, "/EWS/Exchange.asmx")
		if l := out.next(t); l != "control "+base+"/ewstest/control/" {
			t.Fatalf("control line %q", l)
		}
		if code := controlStatus(t, base, "file-token-123"); code != 200 {
			t.Fatalf("token from the file: %d", code)
		}
		if code := controlStatus(t, base, "ignored"); code != 401 {
			t.Fatalf("second line of the token file accepted: %d", code)
		}
	})
	t.Run("generated", func(t *testing.T) {
		t.Setenv(envControlToken, "")
		url, out, _ := startServe(t, "-users", "erin", "-messages", "0", "-folders", "0", "-control")
		out.next(t)
		base := strings.TrimSuffix(url, "/EWS/Exchange.asmx")
		out.next(t) // control URL
		f := strings.Fields(out.next(t))
		if len(f) != 2 || f[0] != "control-token" || len(f[1]) < 32 {
			t.Fatalf("generated token line %q", f)
		}
		if code := controlStatus(t, base, f[1]); code != 200 {
			t.Fatalf("generated token: %d", code)
		}
	})
}

// TestServe_BadFlags checks that mistakes are usage errors and that no
// error message (nor the flag package's own output) repeats a secret.
func TestServe_BadFlags(t *testing.T) {
	const secret = "hunter2-SECRET"
	badUsers := writeSecretFile(t, "users", "alice:ok\nbob "+secret+"\n")
	emptyUsers := writeSecretFile(t, "empty", "# nobody\n")
	emptyToken := writeSecretFile(t, "token", "\n"+secret+"\n")
	for _, args := range [][]string{
		{"-auth", "kerberos"},
		{"-users", "alice:" + secret},
		{"-users", "bob,alice:" + secret},
		{"-users", "alice,ALICE"},
		{"-users", `dom\alice`},
		{"-users", ""},
		{"-users-file", badUsers},
		{"-users-file", emptyUsers},
		{"-users-file", emptyUsers + ".missing"},
		{"-users", "alice", "-users-file", badUsers},
		{"-control", secret},
		{"-control=" + secret},
		{"-control-token-file", emptyToken},
		{"-messages", "-1"},
		{"-domain", "a@b"},
		{"-activity", "-2"},
		{"extra"},
		{"-nosuchflag"},
	} {
		var stderr bytes.Buffer
		_, err := parseServe(args, func(string) string { return "" }, &stderr)
		if !errors.Is(err, errUsage) {
			t.Errorf("serve %q: %v, want a usage error", args, err)
			continue
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(stderr.String(), secret) {
			t.Errorf("serve %q: the secret is echoed: %v\n%s", args, err, stderr.String())
		}
	}
	if err := run(context.Background(), []string{"serve", "-addr", "256.0.0.1:99999", "-messages", "0"}, io.Discard, io.Discard); err == nil {
		t.Error("serve on a bad address succeeded")
	}
}

func TestServe_ParseSecrets(t *testing.T) {
	env := map[string]string{envServePassword: "pw-from-env", envControlToken: " tok-from-env \n"}
	c, err := parseServe([]string{"-users", "alice, bob", "-control"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.users) != 2 || c.users[1].Name != "bob" || c.users[1].Password != "pw-from-env" || c.users[1].Address != "bob@example.com" {
		t.Fatalf("users %+v", c.users)
	}
	if !c.control || c.controlToken != "tok-from-env" {
		t.Fatalf("control %v token %q", c.control, c.controlToken)
	}
	c, err = parseServe(nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.users) != 2 || c.users[0].Password != serveDefaultPassword || c.control {
		t.Fatalf("defaults: %+v control=%v", c.users, c.control)
	}
	c, err = parseServe([]string{"-control=false"}, func(string) string { return "" }, io.Discard)
	if err != nil || c.control {
		t.Fatalf("-control=false: %v %v", err, c)
	}
}

package authn_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/mailsync/mailsync/ews/ewstest/internal/authn"
)

func ExampleNew() {
	who := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, _ := authn.UserFromContext(r.Context())
		io.WriteString(w, user)
	})
	m, err := authn.New(authn.Config{Mode: authn.ModeBasic, Users: map[string]string{"alice": "secret"}}, who)
	if err != nil {
		panic(err)
	}
	srv := httptest.NewUnstartedServer(m)
	srv.Config.ConnContext = authn.ConnContext // needed for ModeNTLM, harmless otherwise
	srv.Start()
	defer srv.Close()

	for _, pass := range []string{"secret", "wrong"} {
		req, _ := http.NewRequest("POST", srv.URL, nil)
		req.SetBasicAuth(`EXAMPLE\alice`, pass)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("%d %q %q\n", resp.StatusCode, body, resp.Header.Get("WWW-Authenticate"))
	}
	// Output:
	// 200 "alice" ""
	// 401 "" "Basic realm=\"example.com\""
}

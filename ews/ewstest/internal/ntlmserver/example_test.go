package ntlmserver_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	ntlmssp "github.com/Azure/go-ntlmssp"

	"github.com/mailsync/mailsync/ews/ewstest/internal/ntlmserver"
)

func ExampleServer_Authenticate() {
	s, err := ntlmserver.New(ntlmserver.Config{
		Domain: "EXAMPLE", Computer: "EXCH01", DNSDomain: "example.com", DNSComputer: "exch01.example.com",
		Lookup: func(user, domain string) (string, string, bool) {
			return "alice", "secret", user == "alice"
		},
	})
	if err != nil {
		panic(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if user, ok := s.Authenticate(w, r); ok {
			io.WriteString(w, "hello "+user)
		}
	}))
	srv.Config.ConnContext = ntlmserver.ConnContext
	srv.Start()
	defer srv.Close()

	client := &http.Client{Transport: ntlmssp.Negotiator{RoundTripper: &http.Transport{}}}
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.SetBasicAuth(`EXAMPLE\alice`, "secret") // the Negotiator turns these into NTLM
	resp, err := client.Do(req)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body))
	// Output:
	// 200 hello alice
}

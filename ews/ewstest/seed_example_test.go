package ewstest_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/mailsync/mailsync/debounce/debouncetest"
	"github.com/mailsync/mailsync/ews/ewstest"
)

func ExampleSeed() {
	srv := ewstest.NewServer(ewstest.Options{
		Clock: debouncetest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
		Users: []ewstest.User{{Name: "alice", Password: "secret", Address: "alice@example.com"}},
	})
	defer srv.Close()
	mb := srv.Mailbox("alice@example.com")
	res, err := ewstest.Seed(mb, ewstest.SeedOptions{Messages: 10_000, Folders: 20, Seed: 1})
	if err != nil {
		panic(err)
	}
	inbox, _ := mb.Folder("inbox")
	fmt.Println(res.Messages, "messages,", len(res.Folders), "user folders")
	fmt.Println("inbox holds", inbox.TotalCount)
	// Output:
	// 10000 messages, 20 user folders
	// inbox holds 3509
}

func ExampleServer_StartActivity() {
	clock := debouncetest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	srv := ewstest.NewServer(ewstest.Options{
		Clock: clock,
		Users: []ewstest.User{{Name: "alice", Password: "secret", Address: "alice@example.com"}},
	})
	defer srv.Close()
	if _, err := ewstest.Seed(srv.Mailbox("alice@example.com"), ewstest.SeedOptions{Messages: 500, Folders: 5, Seed: 1}); err != nil {
		panic(err)
	}
	act, err := srv.StartActivity(ewstest.ActivityOptions{Rate: 10, Seed: 1})
	if err != nil {
		panic(err)
	}
	defer act.Stop()
	clock.Advance(30 * time.Second) // the generator runs on the server's clock
	fmt.Println(act.Total(), "changes")
	// Output:
	// 300 changes
}

func ExampleNewControl() {
	srv := ewstest.NewServer(ewstest.Options{
		Logger: slog.New(slog.DiscardHandler),
		Users:  []ewstest.User{{Name: "alice", Password: "secret", Address: "alice@example.com"}},
	})
	defer srv.Close()
	ctl, err := ewstest.NewControl(srv, "token")
	if err != nil {
		panic(err)
	}
	hs := httptest.NewServer(ctl)
	defer hs.Close()

	// The next two EWS requests get ErrorServerBusy with a 2 s back-off.
	req, _ := http.NewRequest("POST", hs.URL+ewstest.ControlPath+"busy", strings.NewReader(`{"count":2,"backoffMs":2000}`))
	req.Header.Set("Authorization", "Bearer token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Print(resp.Status, " ", string(body))
	// Output:
	// 200 OK {
	//   "ok": true
	// }
}

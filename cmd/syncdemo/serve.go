package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/mailsync/mailsync/ews/ewstest"
)

// serveConfig is the parsed command line of "syncdemo serve".
type serveConfig struct {
	addr          string
	users         []ewstest.User
	messages      int
	folders       int
	auth          string
	seed          int64
	activity      float64
	domain        string
	control       string
	maxConcurrent int
	latency       time.Duration
	verbose       bool
}

func parseServe(args []string, stderr io.Writer) (*serveConfig, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &serveConfig{}
	var users string
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "`host:port` to listen on (port 0 picks a free port)")
	fs.StringVar(&users, "users", "alice:secret,bob:secret", "comma-separated `name:password` pairs; user NAME owns NAME@DOMAIN")
	fs.IntVar(&c.messages, "messages", 10000, "messages seeded in each mailbox")
	fs.IntVar(&c.folders, "folders", 20, "user folders seeded in each mailbox")
	fs.StringVar(&c.auth, "auth", "ntlm", "authentication: ntlm, basic, bearer or none")
	fs.Int64Var(&c.seed, "seed", 1, "seed of the generated content and activity")
	fs.Float64Var(&c.activity, "activity", 0, "changes per second made by the activity generator (0: none)")
	fs.StringVar(&c.domain, "domain", "example.com", "mail domain of the users' addresses")
	fs.StringVar(&c.control, "control", "", "enable the control endpoint at /ewstest/control/ with this `token`")
	fs.IntVar(&c.maxConcurrent, "max-concurrent", 0, "per-user concurrent-request limit answered with ErrorServerBusy (0: none)")
	fs.DurationVar(&c.latency, "latency", 0, "delay added to every request")
	fs.BoolVar(&c.verbose, "v", false, "log every request")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if c.messages < 0 || c.folders < 0 || c.activity < 0 || c.maxConcurrent < 0 || c.latency < 0 {
		return nil, fmt.Errorf("%w: -messages, -folders, -activity, -max-concurrent and -latency must not be negative", errUsage)
	}
	if c.domain == "" || strings.ContainsAny(c.domain, "@ ,") {
		return nil, fmt.Errorf("%w: bad -domain %q", errUsage, c.domain)
	}
	switch c.auth {
	case ewstest.AuthNone, ewstest.AuthBasic, ewstest.AuthBearer, ewstest.AuthNTLM:
	default:
		return nil, fmt.Errorf("%w: -auth must be ntlm, basic, bearer or none, not %q", errUsage, c.auth)
	}
	seen := map[string]bool{}
	for _, pair := range strings.Split(users, ",") {
		name, pass, ok := strings.Cut(strings.TrimSpace(pair), ":")
		if !ok || name == "" || pass == "" || strings.ContainsAny(name, `@\ `) {
			return nil, fmt.Errorf("%w: -users entry %q is not name:password", errUsage, pair)
		}
		if seen[strings.ToLower(name)] {
			return nil, fmt.Errorf("%w: user %q given twice", errUsage, name)
		}
		seen[strings.ToLower(name)] = true
		c.users = append(c.users, ewstest.User{Name: name, Password: pass, Address: strings.ToLower(name) + "@" + c.domain})
	}
	return c, nil
}

// runServe implements "syncdemo serve": it serves the fake at
// http://ADDR/EWS/Exchange.asmx until ctx is cancelled, printing the URL as
// the first line of stdout once the listener accepts connections.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseServe(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if c.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	opts := ewstest.Options{
		Users:  c.users,
		Logger: log,
		Auth:   ewstest.AuthOptions{Mode: c.auth, DNSDomain: c.domain},
		Throttle: ewstest.ThrottleOptions{
			MaxConcurrentRequests: c.maxConcurrent,
			Latency:               c.latency,
		},
	}
	var tokens []string
	if c.auth == ewstest.AuthBearer {
		opts.Auth.Tokens = map[string]string{}
		for _, u := range c.users {
			tok, err := newToken()
			if err != nil {
				return err
			}
			opts.Auth.Tokens[tok] = u.Name
			tokens = append(tokens, u.Name+" "+tok)
		}
	}
	srv := ewstest.NewUnstartedServer(opts)
	defer srv.Close()

	var report []string
	for i, u := range c.users {
		mb := srv.Mailbox(u.Address)
		res, err := ewstest.Seed(mb, ewstest.SeedOptions{Messages: c.messages, Folders: c.folders, Seed: c.seed + int64(i)})
		if err != nil {
			return fmt.Errorf("seeding %s: %w", u.Address, err)
		}
		report = append(report, fmt.Sprintf("mailbox %s user=%s folders=%d messages=%d", u.Address, u.Name, len(mb.Folders()), res.Messages))
	}

	mux := http.NewServeMux()
	mux.Handle("/", srv.Handler())
	var ctl *ewstest.Control
	if c.control != "" {
		ctl, err = ewstest.NewControl(srv, c.control)
		if err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		mux.Handle(ewstest.ControlPath, ctl)
	}
	if c.activity > 0 {
		aopts := ewstest.ActivityOptions{Rate: c.activity, Seed: c.seed}
		if ctl != nil {
			err = ctl.StartActivity(aopts)
		} else {
			var a *ewstest.Activity
			a, err = srv.StartActivity(aopts)
			if a != nil {
				defer a.Stop()
			}
		}
		if err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
	}
	if ctl != nil {
		defer ctl.StopActivity()
	}

	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: mux, ConnContext: srv.ConnContext, ReadHeaderTimeout: 30 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	base := "http://" + ln.Addr().String()
	fmt.Fprintln(stdout, base+ewstest.Path)
	for _, line := range report {
		fmt.Fprintln(stdout, line)
	}
	sort.Strings(tokens)
	for _, t := range tokens {
		fmt.Fprintln(stdout, "token "+t)
	}
	if ctl != nil {
		fmt.Fprintln(stdout, "control "+base+ewstest.ControlPath)
	}
	log.Info("serving", "url", base+ewstest.Path, "auth", c.auth, "users", len(c.users), "activity", c.activity)

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Streaming requests hang: give them a moment, then cut them.
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
	}
	<-errc
	log.Info("stopped")
	return nil
}

func newToken() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

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
	"os"
	"sort"
	"strconv"
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
	control       bool
	controlToken  string // set when the token came from the file or the environment
	maxConcurrent int
	latency       time.Duration
	verbose       bool
}

// The environment variables serve reads secrets from, so that they never
// appear on a command line (and so in the process list).
const (
	envServePassword = "MAILSYNC_SERVE_PASSWORD"
	envControlToken  = "MAILSYNC_CONTROL_TOKEN"
)

// serveDefaultPassword is every user's password when neither -users-file
// nor $MAILSYNC_SERVE_PASSWORD gives one: serve is a fake for tests and
// demos, and works without configuration.
const serveDefaultPassword = "secret"

// controlFlag is -control: a boolean that enables the control endpoint.
// A value that is not a boolean (the old "-control=TOKEN" form) is
// remembered as misuse and reported after parsing without echoing it:
// the flag package would print it in its error.
type controlFlag struct {
	on, misused bool
}

func (c *controlFlag) String() string { return strconv.FormatBool(c != nil && c.on) }

func (c *controlFlag) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		c.on, c.misused = true, true
		return nil
	}
	c.on = b
	return nil
}

// IsBoolFlag lets "-control" stand alone.
func (c *controlFlag) IsBoolFlag() bool { return true }

// errSecretOnCommandLine answers a secret given as a flag value.
var errSecretOnCommandLine = errors.New("secrets are not taken from the command line, where the process list shows them")

func parseServe(args []string, getenv func(string) string, stderr io.Writer) (*serveConfig, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &serveConfig{}
	var users, usersFile, tokenFile string
	var ctl controlFlag
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "`host:port` to listen on (port 0 picks a free port)")
	fs.StringVar(&users, "users", "alice,bob", "comma-separated user `names`; user NAME owns NAME@DOMAIN; the password is $"+envServePassword+", or \""+serveDefaultPassword+"\" when unset")
	fs.StringVar(&usersFile, "users-file", "", "read users from `file`: one name:password per line (# comments); replaces -users")
	fs.IntVar(&c.messages, "messages", 10000, "messages seeded in each mailbox")
	fs.IntVar(&c.folders, "folders", 20, "user folders seeded in each mailbox")
	fs.StringVar(&c.auth, "auth", "ntlm", "authentication: ntlm, basic, bearer or none")
	fs.Int64Var(&c.seed, "seed", 1, "seed of the generated content and activity")
	fs.Float64Var(&c.activity, "activity", 0, "changes per second made by the activity generator (0: none)")
	fs.StringVar(&c.domain, "domain", "example.com", "mail domain of the users' addresses")
	fs.Var(&ctl, "control", "enable the control endpoint at /ewstest/control/; its token is $"+envControlToken+", the -control-token-file, or a random one printed on stdout")
	fs.StringVar(&tokenFile, "control-token-file", "", "read the control endpoint's token from the first line of `file` (implies -control)")
	fs.IntVar(&c.maxConcurrent, "max-concurrent", 0, "per-user concurrent-request limit answered with ErrorServerBusy (0: none)")
	fs.DurationVar(&c.latency, "latency", 0, "delay added to every request")
	fs.BoolVar(&c.verbose, "v", false, "log every request")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	if ctl.misused {
		return nil, fmt.Errorf("%w: -control takes no token (%v): set $%s or use -control-token-file", errUsage, errSecretOnCommandLine, envControlToken)
	}
	if fs.NArg() > 0 {
		// Not echoed: it may be a token meant for the old "-control TOKEN".
		return nil, fmt.Errorf("%w: unexpected argument after the flags (-control takes no value: the token comes from $%s or -control-token-file)", errUsage, envControlToken)
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
	var creds []credential
	var err error
	setFlags := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { setFlags[f.Name] = true })
	switch {
	case usersFile != "" && setFlags["users"]:
		return nil, fmt.Errorf("%w: give -users or -users-file, not both", errUsage)
	case usersFile != "":
		creds, err = readUsersFile(usersFile)
	default:
		creds, err = parseUserNames(users, getenv(envServePassword))
	}
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, u := range creds {
		if seen[strings.ToLower(u.name)] {
			return nil, fmt.Errorf("%w: user %q given twice", errUsage, u.name)
		}
		seen[strings.ToLower(u.name)] = true
		c.users = append(c.users, ewstest.User{Name: u.name, Password: u.password, Address: strings.ToLower(u.name) + "@" + c.domain})
	}
	c.control = ctl.on || tokenFile != ""
	if c.control {
		if tokenFile != "" {
			tok, err := readTokenFile(tokenFile)
			if err != nil {
				return nil, err
			}
			c.controlToken = tok
		} else {
			c.controlToken = strings.TrimSpace(getenv(envControlToken))
		}
	}
	return c, nil
}

// credential is one user of -users or -users-file.
type credential struct{ name, password string }

// validUserName reports whether a user name is usable: not empty, and
// without the characters that separate domains, addresses and entries.
func validUserName(name string) bool {
	return name != "" && !strings.ContainsAny(name, "@\\ \t:,")
}

// parseUserNames reads -users: names only, all with one password.
func parseUserNames(list, password string) ([]credential, error) {
	if password == "" {
		password = serveDefaultPassword
	}
	var out []credential
	for i, entry := range strings.Split(list, ",") {
		name := strings.TrimSpace(entry)
		if n, _, ok := strings.Cut(name, ":"); ok {
			// The part after ":" is a password: never repeat it.
			return nil, fmt.Errorf("%w: -users entry %d (%q) carries a password: %v; "+
				"-users takes names only, with the password in $%s or name:password lines in -users-file", errUsage, i+1, n, errSecretOnCommandLine, envServePassword)
		}
		if !validUserName(name) {
			return nil, fmt.Errorf("%w: -users entry %d (%q) is not a user name", errUsage, i+1, name)
		}
		out = append(out, credential{name, password})
	}
	return out, nil
}

// readUsersFile reads name:password lines; blank lines and lines starting
// with # are skipped. Errors name the line, never its password.
func readUsersFile(path string) ([]credential, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: -users-file: %v", errUsage, err)
	}
	var out []credential
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, pass, ok := strings.Cut(line, ":")
		name = strings.TrimSpace(name)
		if !ok || pass == "" || !validUserName(name) {
			return nil, fmt.Errorf("%w: %s line %d is not name:password", errUsage, path, i+1)
		}
		out = append(out, credential{name, pass})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %s names no user", errUsage, path)
	}
	return out, nil
}

// readTokenFile reads a token from the first line of a file.
func readTokenFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%w: -control-token-file: %v", errUsage, err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	tok := strings.TrimSpace(line)
	if tok == "" {
		return "", fmt.Errorf("%w: %s holds no token on its first line", errUsage, path)
	}
	return tok, nil
}

// runServe implements "syncdemo serve": it serves the fake at
// http://ADDR/EWS/Exchange.asmx until ctx is cancelled, printing the URL as
// the first line of stdout once the listener accepts connections.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseServe(args, os.Getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log := newLogger(stderr, slog.LevelInfo, c.verbose)

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
	generatedToken := ""
	if c.control {
		tok := c.controlToken
		if tok == "" {
			if tok, err = newToken(); err != nil {
				return err
			}
			generatedToken = tok
		}
		ctl, err = ewstest.NewControl(srv, tok)
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
		if generatedToken != "" {
			fmt.Fprintln(stdout, "control-token "+generatedToken)
		}
	}
	// Last, so that the lines above keep their places: the SOAP
	// Autodiscover endpoint ("sync -email ADDRESS -autodiscover-url URL"),
	// which names the EWS URL above for every mailbox.
	fmt.Fprintln(stdout, "autodiscover "+base+ewstest.AutodiscoverSOAPPath)
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

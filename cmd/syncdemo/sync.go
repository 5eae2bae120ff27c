package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mailsync/mailsync/ews"
	"github.com/mailsync/mailsync/localstore"
	"github.com/mailsync/mailsync/syncengine"
)

// Errors of "syncdemo sync" with exit statuses of their own (see
// exitStatuses in main.go).
var (
	errCredentials = errors.New("the server refused the credentials")
	errUnreachable = errors.New("the server is unreachable")
	errTLS         = errors.New("TLS failure")
)

// syncConfig is the parsed command line of "syncdemo sync".
type syncConfig struct {
	url, user, email, mailbox, auth string
	autodiscoverURL                 string
	allowInsecureAuth               bool
	passwordFile, tokenFile         string
	db                              string
	mode                            syncengine.Mode
	pushListen, pushURL             string
	pushCert, pushKey               string
	include, exclude                []string
	allFolders, mime, once          bool
	fetch                           syncengine.Fetch
	caFile                          string
	status, snapshot                time.Duration
	resetDamaged                    bool
	quiet, maxDelay                 time.Duration
	verbose                         bool
	profile                         profileFlags
}

type listFlag struct{ v *[]string }

func (l listFlag) String() string {
	if l.v == nil {
		return ""
	}
	return strings.Join(*l.v, ",")
}

func (l listFlag) Set(s string) error {
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l.v = append(*l.v, p)
		}
	}
	return nil
}

func parseSync(args []string, stderr io.Writer) (*syncConfig, error) {
	fs := flag.NewFlagSet("sync", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &syncConfig{}
	var mode, fetch string
	fs.StringVar(&c.url, "url", "", "EWS endpoint `URL`, e.g. https://mail.example.com/EWS/Exchange.asmx (default: found by Autodiscover for the mailbox's address)")
	fs.StringVar(&c.autodiscoverURL, "autodiscover-url", "", "without -url: ask this Autodiscover endpoint (`URL` ending in .svc for SOAP, .xml for POX) instead of the usual ones of the address's domain")
	fs.BoolVar(&c.allowInsecureAuth, "allow-insecure-auth", false, "send credentials over plain http to a host that is not loopback (readable by anyone on the path; only on a network you trust)")
	fs.StringVar(&c.user, "user", "", "account to log on as: `name`, DOMAIN\\name or a UPN")
	fs.StringVar(&c.email, "email", "", "SMTP `address` of the account's own mailbox (default: -user when it is an address, else what the directory resolves -user to)")
	fs.StringVar(&c.mailbox, "mailbox", "", "mirror another mailbox (`address`) by impersonation")
	fs.StringVar(&c.auth, "auth", "ntlm", "authentication: ntlm, basic or bearer")
	fs.StringVar(&c.passwordFile, "password-file", "", "read the password from `file` (else $MAILSYNC_PASSWORD, else a prompt)")
	fs.StringVar(&c.tokenFile, "token-file", "", "bearer: read the access token from `file` (else $MAILSYNC_TOKEN)")
	fs.StringVar(&c.db, "db", "", "mirror `file` (default: mailsync/mirror.db under the user cache directory)")
	fs.StringVar(&mode, "mode", "streaming", "notifications: streaming, pull or push")
	fs.StringVar(&c.pushListen, "push-listen", "", "push mode: `host:port` to receive notifications on")
	fs.StringVar(&c.pushURL, "push-url", "", "push mode: base `URL` Exchange posts to (default http://PUSH-LISTEN, https:// with -push-cert)")
	fs.StringVar(&c.pushCert, "push-cert", "", "push mode: serve the listener over TLS with this PEM certificate `file` (with -push-key)")
	fs.StringVar(&c.pushKey, "push-key", "", "push mode: the PEM private key `file` of -push-cert")
	fs.Var(listFlag{&c.include}, "include", "mirror only these folders and their subfolders: distinguished names or paths, comma-separated, repeatable")
	fs.Var(listFlag{&c.exclude}, "exclude", "do not mirror these folders and their subfolders")
	fs.BoolVar(&c.allFolders, "all-folders", false, "mirror every folder, not only mail folders")
	fs.BoolVar(&c.mime, "mime", false, "also mirror each message's MIME content")
	fs.StringVar(&fetch, "fetch", "summary", "item properties from SyncFolderItems (summary) or batched GetItem (idonly)")
	fs.BoolVar(&c.once, "once", false, "bring the mirror up to date with the server, then exit")
	fs.StringVar(&c.caFile, "ca-file", "", "trust the CA certificates in this PEM `file` (TLS verification is always on)")
	fs.DurationVar(&c.status, "status-interval", 10*time.Second, "how often to print a status line (0: never)")
	fs.DurationVar(&c.snapshot, "snapshot-interval", 10*time.Second, "publish a read-only snapshot beside the store at most this often, for \"syncdemo query\" and \"export\" while the sync runs (0: never)")
	fs.BoolVar(&c.resetDamaged, "reset-damaged", false, "if the store file is damaged, move it aside (to FILE.corrupt-TIME) and mirror from scratch")
	fs.DurationVar(&c.quiet, "quiet", syncengine.DefaultQuiet, "debounce quiet window")
	fs.DurationVar(&c.maxDelay, "max-delay", syncengine.DefaultMaxDelay, "debounce maximum delay")
	fs.BoolVar(&c.verbose, "v", false, "log the engine's work")
	c.profile.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	switch {
	case c.url == "" && !strings.Contains(c.address(), "@"):
		return nil, fmt.Errorf("%w: -url is required, or -email ADDRESS to find it by Autodiscover", errUsage)
	case c.url != "" && c.autodiscoverURL != "":
		return nil, fmt.Errorf("%w: give -url or -autodiscover-url, not both", errUsage)
	case c.url != "":
		if u, err := url.Parse(c.url); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("%w: -url %q is not an http(s) URL", errUsage, c.url)
		}
	}
	var err error
	if c.mode, err = syncengine.ParseMode(mode); err != nil {
		return nil, fmt.Errorf("%w: -mode must be streaming, pull or push, not %q", errUsage, mode)
	}
	switch strings.ToLower(fetch) {
	case "summary":
		c.fetch = syncengine.FetchSummary
	case "idonly":
		c.fetch = syncengine.FetchIDOnly
	default:
		return nil, fmt.Errorf("%w: -fetch must be summary or idonly, not %q", errUsage, fetch)
	}
	switch c.auth {
	case "ntlm", "basic", "bearer":
	default:
		return nil, fmt.Errorf("%w: -auth must be ntlm, basic or bearer, not %q", errUsage, c.auth)
	}
	if c.auth != "bearer" && c.user == "" {
		return nil, fmt.Errorf("%w: -user is required with -auth %s", errUsage, c.auth)
	}
	if c.mode == syncengine.Push && c.pushListen == "" {
		return nil, fmt.Errorf("%w: -mode push needs -push-listen HOST:PORT", errUsage)
	}
	if (c.pushCert == "") != (c.pushKey == "") {
		return nil, fmt.Errorf("%w: -push-cert and -push-key go together", errUsage)
	}
	if c.pushCert != "" && c.mode != syncengine.Push {
		return nil, fmt.Errorf("%w: -push-cert needs -mode push", errUsage)
	}
	return c, nil
}

// address is the mailbox the mirror is keyed by.
func (c *syncConfig) address() string {
	switch {
	case c.mailbox != "":
		return strings.ToLower(c.mailbox)
	case c.email != "":
		return strings.ToLower(c.email)
	case strings.Contains(c.user, "@"):
		return strings.ToLower(c.user)
	}
	return strings.ToLower(c.user)
}

// runSync implements "syncdemo sync": mirror a real server's mailbox.
func runSync(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	c, err := parseSync(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log := newLogger(stderr, slog.LevelWarn, c.verbose)
	stopProfile, err := c.profile.start()
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, stopProfile()) }()

	opts, err := c.clientOptions(log)
	if err != nil {
		return err
	}
	pushTLS, err := c.pushTLS()
	if err != nil {
		return err
	}
	var client *ews.Client
	var locator syncengine.Locator
	endpoint := c.url
	if c.url == "" {
		client, locator, endpoint, err = c.discover(ctx, opts, c.address(), stdout)
	} else {
		client, err = ews.New(c.url, opts)
		if err != nil {
			err = optionsError("-url", err)
		}
	}
	if err != nil {
		return err
	}
	defer client.CloseIdleConnections()
	// Fail fast, with a clear message, on credentials, reachability and TLS.
	if err := preflight(ctx, client); err != nil {
		return err
	}
	// The mirror is keyed by the mailbox's address: a logon name is
	// resolved to it in the directory (before the store is opened, so a
	// failure creates nothing).
	addr := c.address()
	if !strings.Contains(addr, "@") {
		if addr, err = resolveAddress(ctx, client, c.user); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "syncdemo: %s is the mailbox of %q (give -email to choose another)\n", addr, c.user)
	}

	path := c.db
	if path == "" {
		if path, err = defaultStorePath("mirror.db"); err != nil {
			return err
		}
	}
	store, err := localstore.Open(path, &localstore.Options{Logger: log})
	if errors.Is(err, localstore.ErrCorrupt) && c.resetDamaged {
		// The mirror is a cache of the server: keep the damaged file for
		// inspection and start over.
		aside, merr := localstore.MoveAside(path)
		if merr != nil {
			return fmt.Errorf("moving the damaged store aside: %w", merr)
		}
		fmt.Fprintf(stderr, "syncdemo: %s was damaged (%v); moved it to %s and mirroring from scratch\n", path, err, aside)
		store, err = localstore.Open(path, &localstore.Options{Logger: log})
	}
	if err != nil {
		return storeOpenError(path, err)
	}
	defer store.Close()
	if c.snapshot > 0 && !c.once {
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			if err := store.PublishSnapshots(sctx, "", c.snapshot); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, localstore.ErrClosed) {
				log.Warn("publishing snapshots stopped", "err", err)
			}
		}()
	}

	pr := newPrinter(stdout)
	cfg := syncengine.Config{
		Logger: log, Quiet: c.quiet, MaxDelay: c.maxDelay,
		Push:    syncengine.PushConfig{Listen: c.pushListen, URL: c.pushURL, TLSConfig: pushTLS},
		OnEvent: pr.event,
	}
	eng, err := syncengine.New(store, cfg)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	mb := syncengine.Mailbox{
		Address: addr, Client: client, Mode: c.mode, MIME: c.mime, Fetch: c.fetch,
		Folders: syncengine.FolderFilter{All: c.allFolders, Include: c.include, Exclude: c.exclude},
	}
	if locator != nil {
		mb.Client, mb.Locator = nil, locator // the engine follows the mailbox when it moves
	}
	if err := eng.AddMailbox(ctx, mb); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "mirror %s → %s (%s)\n", addr, path, endpoint)
	if c.once {
		start := time.Now()
		err := eng.SyncOnce(ctx)
		cerr := eng.Close(context.WithoutCancel(ctx))
		if err != nil {
			return classifyRemote(err)
		}
		st, _ := store.Stats(ctx, localstore.Mailbox(addr))
		m := eng.Metrics()
		fmt.Fprintf(stdout, "up to date: %d folders, %d items, %d unread; %d item changes in %v, %d requests\n",
			st.Folders, st.Items, st.Unread, m.Items, time.Since(start).Round(time.Millisecond), m.Requests)
		return cerr
	}
	if err := eng.Start(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "following %s notifications; Ctrl-C to stop\n", c.mode)
	var tick <-chan time.Time
	if c.status > 0 {
		t := time.NewTicker(c.status)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			err := eng.Close(cctx)
			fmt.Fprintln(stdout, "stopped")
			return err
		case <-tick:
			pr.status(eng)
		}
	}
}

// clientOptions are the ews.Options of the EWS and Autodiscover clients:
// transport, credentials, impersonation.
func (c *syncConfig) clientOptions(log *slog.Logger) (*ews.Options, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if c.caFile != "" {
		pem, err := os.ReadFile(c.caFile)
		if err != nil {
			return nil, fmt.Errorf("%w: -ca-file: %v", errUsage, err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: -ca-file %s holds no PEM certificate", errUsage, c.caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	opts := &ews.Options{HTTPClient: &http.Client{Transport: tr}, Logger: log, AllowInsecureAuth: c.allowInsecureAuth}
	switch c.auth {
	case "bearer":
		tok, err := secret(c.tokenFile, "MAILSYNC_TOKEN", "")
		if err != nil {
			return nil, err
		}
		opts.Auth = ews.Bearer(ews.TokenSourceFunc(func(context.Context) (string, error) { return tok, nil }))
	default:
		pw, err := secret(c.passwordFile, "MAILSYNC_PASSWORD", "password for "+c.user+": ")
		if err != nil {
			return nil, err
		}
		if c.auth == "ntlm" {
			opts.Auth = ews.NTLM(c.user, pw)
		} else {
			opts.Auth = ews.Basic(c.user, pw)
		}
	}
	if c.mailbox != "" {
		opts.Impersonation = &ews.Impersonation{SMTPAddress: c.mailbox}
	}
	return opts, nil
}

// secret reads a secret from file, else from the environment variable,
// else (when prompt is set and stdin is a terminal) from a no-echo prompt.
func secret(file, env, prompt string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("%w: %v", errUsage, err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	if v, ok := os.LookupEnv(env); ok {
		return v, nil
	}
	if prompt != "" {
		if pw, err := readPassword(prompt); err == nil {
			return pw, nil
		}
	}
	what := "-password-file"
	if env == "MAILSYNC_TOKEN" {
		what = "-token-file"
	}
	return "", fmt.Errorf("%w: no secret: set $%s, give %s, or run on a terminal to be prompted", errUsage, env, what)
}

// preflight makes one cheap call so that wrong credentials, an unreachable
// server and TLS failures end the command at once with their own status.
func preflight(ctx context.Context, c *ews.Client) error {
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err := c.GetFolder(pctx, ews.GetFolderRequest{Folders: []ews.FolderRef{ews.DistinguishedFolder("msgfolderroot")}})
	if err != nil {
		return classifyRemote(err)
	}
	return nil
}

// classifyRemote wraps err with the sentinel its exit status is keyed by.
func classifyRemote(err error) error {
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var rh tls.RecordHeaderError
	var op *net.OpError
	var dns *net.DNSError
	switch {
	case errors.Is(err, ews.ErrUnauthorized):
		return fmt.Errorf("%w (HTTP 401): check -user, the password and -auth: %v", errCredentials, err)
	case errors.As(err, &cv), errors.As(err, &ua), errors.As(err, &hn), errors.As(err, &rh):
		return fmt.Errorf("%w: %v (use -ca-file for a private CA)", errTLS, err)
	case strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"): // net/http's untyped error
		return fmt.Errorf("%w: the server does not speak TLS on that port (use http:// or the TLS port): %v", errTLS, err)
	case errors.As(err, &dns), errors.As(err, &op) && op.Op == "dial":
		return fmt.Errorf("%w: %v", errUnreachable, err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w: no answer in time: %v", errUnreachable, err)
	}
	return err
}

// storeOpenError gives an actionable message for a store that cannot be
// opened for writing.
func storeOpenError(path string, err error) error {
	switch {
	case errors.Is(err, localstore.ErrLocked):
		return fmt.Errorf("%s is in use by another process (a running sync?): %w", path, err)
	case errors.Is(err, localstore.ErrSchemaTooNew):
		return fmt.Errorf("%s was written by a newer mailsync; upgrade syncdemo: %w", path, err)
	case errors.Is(err, localstore.ErrCorrupt):
		return fmt.Errorf("%s is damaged: %w; the mirror is a cache of the server: run again with -reset-damaged to move it aside and mirror from scratch", path, err)
	case errors.Is(err, localstore.ErrNotStore):
		return fmt.Errorf("%s is not a mailsync store (%w); give another -db", path, err)
	}
	return fmt.Errorf("open %s: %w", path, err)
}

// defaultStorePath is name under the user's cache directory.
func defaultStorePath(name string) (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	dir = filepath.Join(dir, "mailsync")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	return filepath.Join(dir, name), nil
}

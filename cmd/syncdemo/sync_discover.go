package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/mailsync/mailsync/ews"
	"github.com/mailsync/mailsync/syncengine"
)

// discoverTimeout bounds the Autodiscover lookup of "sync -email" without
// -url (every candidate endpoint of the domain in turn).
const discoverTimeout = 2 * time.Minute

// discover finds the EWS endpoint of addr by Autodiscover (-autodiscover-url,
// else the usual candidates of the address's domain), prints it, and
// returns a client for it and the Locator through which the engine looks
// the mailbox up again when it moves or the answer expires. The locator
// reuses the client for the URL found here. It returns that URL too.
func (c *syncConfig) discover(ctx context.Context, opts *ews.Options, addr string, stdout io.Writer) (*ews.Client, syncengine.Locator, string, error) {
	a, err := ews.NewAutodiscoverer(&ews.AutodiscoverOptions{Client: opts, URL: c.autodiscoverURL})
	if err != nil {
		return nil, nil, "", optionsError("-autodiscover-url", err)
	}
	dctx, cancel := context.WithTimeout(ctx, discoverTimeout)
	defer cancel()
	s, err := a.Discover(dctx, addr)
	if err != nil {
		return nil, nil, "", discoverError(addr, c.autodiscoverURL, err)
	}
	fmt.Fprintf(stdout, "autodiscover: %s is served by %s (answered by %s)\n", addr, s.EwsURL(), s.AutodiscoverURL)
	client, err := s.NewClient(opts)
	if err != nil {
		return nil, nil, "", optionsError("the discovered EWS URL", err)
	}
	first := s.EwsURL()
	loc, err := syncengine.NewAutodiscoverLocator(a, &syncengine.AutodiscoverLocatorOptions{
		NewClient: func(us *ews.UserSettings) (syncengine.Remote, error) {
			if us.EwsURL() == first {
				return client, nil
			}
			return us.NewClient(opts)
		},
	})
	if err != nil {
		return nil, nil, "", err
	}
	return client, loc, first, nil
}

// discoverError says why Autodiscover found no endpoint, keyed by the
// exit statuses of credentials, reachability and TLS where they apply.
func discoverError(addr, explicit string, err error) error {
	hint := "give -autodiscover-url URL, or -url with the EWS URL"
	if explicit != "" {
		hint = "check -autodiscover-url, or give -url with the EWS URL"
	}
	switch {
	case errors.Is(err, ews.AutodiscoverInvalidUser):
		return fmt.Errorf("autodiscover: the server knows no mailbox %s (check -email or -mailbox): %w", addr, err)
	case errors.Is(err, ews.ErrRedirectRefused), errors.Is(err, ews.ErrTooManyRedirects):
		return fmt.Errorf("autodiscover for %s: %w (%s)", addr, err, hint)
	}
	return fmt.Errorf("autodiscover for %s found no EWS endpoint (%s): %w", addr, hint, classifyRemote(err))
}

// optionsError reports a client the flags do not allow, with the way on
// for credentials over plain http.
func optionsError(what string, err error) error {
	if errors.Is(err, ews.ErrInsecureAuth) {
		return fmt.Errorf("%w: %s: %v; -allow-insecure-auth sends them anyway", errUsage, what, err)
	}
	return fmt.Errorf("%w: %s: %v", errUsage, what, err)
}

// pushTLS loads -push-cert and -push-key; nil without them.
func (c *syncConfig) pushTLS() (*tls.Config, error) {
	if c.pushCert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(c.pushCert, c.pushKey)
	if err != nil {
		return nil, fmt.Errorf("%w: -push-cert/-push-key: %v", errUsage, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

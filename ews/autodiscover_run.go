package ews

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// adUser is one mailbox being discovered: where it stands in its redirect
// chain and what the endpoints tried so far said.
type adUser struct {
	key      string // the address asked for, normalized (cache key)
	addr     string // the address asked now (after address redirects)
	idx      []int  // result slots waiting for it
	hops     int
	seenAddr map[string]bool
	seenURL  map[string]bool // for the current address
	attempts []error         // request-wide failures of candidates

	done     bool
	settings *UserSettings
	err      error
}

func (u *adUser) finish(err error) { u.done, u.err = true, err }

// adJob asks one endpoint (ep set) or a domain's candidates (ep nil) about
// some mailboxes.
type adJob struct {
	domain  string
	ep      *adEndpoint
	users   []*adUser
	started bool
}

// adQueue collects the jobs that redirects create, merging mailboxes sent
// to the same domain or URL into one job.
type adQueue struct {
	jobs []*adJob
	byID map[string]*adJob
}

func (q *adQueue) add(id string, mk func() *adJob, u *adUser) {
	if q.byID == nil {
		q.byID = map[string]*adJob{}
	}
	j := q.byID[id]
	if j == nil || j.started {
		j = mk()
		q.byID[id] = j
		q.jobs = append(q.jobs, j)
	}
	j.users = append(j.users, u)
}

func (q *adQueue) domain(d string, u *adUser) {
	q.add("d:"+d, func() *adJob { return &adJob{domain: d} }, u)
}

func (q *adQueue) endpoint(ep adEndpoint, u *adUser) {
	q.add("u:"+ep.url, func() *adJob { return &adJob{ep: &ep} }, u)
}

// run discovers users until each is done or ctx ends.
func (a *Autodiscoverer) run(ctx context.Context, users []*adUser) {
	var q adQueue
	for _, u := range users {
		q.domain(domainOf(u.addr), u)
	}
	for len(q.jobs) > 0 && ctx.Err() == nil {
		j := q.jobs[0]
		q.jobs = q.jobs[1:]
		j.started = true
		if j.ep != nil {
			rest, _ := a.tryEndpoint(ctx, *j.ep, j.users, &q)
			a.failAll(rest)
		} else {
			a.tryDomain(ctx, j.domain, j.users, &q)
		}
	}
	for _, u := range users {
		if !u.done {
			u.finish(fmt.Errorf("ews: autodiscover %s: %w", u.key, ctx.Err()))
		}
	}
}

// failAll finishes users no endpoint answered for.
func (a *Autodiscoverer) failAll(users []*adUser) {
	for _, u := range users {
		u.finish(fmt.Errorf("ews: autodiscover %s: %w: %w", u.key, ErrAutodiscoverFailed, joinAttempts(u.attempts)))
	}
}

// candidates lists the endpoints to try for a domain: the explicit URL
// alone, or the one that answered last and then the standard list.
func (a *Autodiscoverer) candidates(domain string) []adEndpoint {
	if a.explicit != nil {
		return []adEndpoint{*a.explicit}
	}
	std := []adEndpoint{
		{url: "https://" + domain + "/autodiscover/autodiscover.svc"},
		{url: "https://autodiscover." + domain + "/autodiscover/autodiscover.svc"},
		{url: "https://" + domain + "/autodiscover/autodiscover.xml", pox: true},
		{url: "https://autodiscover." + domain + "/autodiscover/autodiscover.xml", pox: true},
		{url: "http://autodiscover." + domain + "/autodiscover/autodiscover.xml", httpGet: true},
	}
	a.mu.Lock()
	last, ok := a.endpoints[domain]
	if ok && !a.clock.Now().Before(last.expires) {
		delete(a.endpoints, domain)
		ok = false
	}
	a.mu.Unlock()
	if !ok {
		return std
	}
	out := []adEndpoint{last}
	for _, ep := range std {
		if ep.url != last.url {
			out = append(out, ep)
		}
	}
	return out
}

// remember records the endpoint that answered for a domain, or (ok false)
// forgets it.
func (a *Autodiscoverer) remember(domain string, ep adEndpoint, ok bool) {
	if a.explicit != nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if !ok {
		if a.endpoints[domain].url == ep.url {
			delete(a.endpoints, domain)
		}
		return
	}
	ep.expires = a.clock.Now().Add(a.opts.TTL)
	a.endpoints[domain] = ep
}

// tryDomain asks the domain's candidates in order until every user got an
// answer (settings, a final error or a redirect).
func (a *Autodiscoverer) tryDomain(ctx context.Context, domain string, users []*adUser, q *adQueue) {
	remaining := users
	for _, ep := range a.candidates(domain) {
		if len(remaining) == 0 || ctx.Err() != nil {
			break
		}
		if ep.httpGet {
			loc, err := a.httpRedirect(ctx, ep.url)
			if err != nil {
				for _, u := range remaining {
					u.attempts = append(u.attempts, err)
				}
				continue
			}
			for _, u := range remaining {
				a.followURL(u, ep.url, loc, q)
			}
			remaining = nil
			break
		}
		rest, answered := a.tryEndpoint(ctx, ep, remaining, q)
		a.remember(domain, ep, answered)
		remaining = rest
	}
	if ctx.Err() == nil {
		a.failAll(remaining)
	}
}

// httpRedirect runs the HTTP redirect method: an unauthenticated GET whose
// 301/302 carries the Autodiscover URL to use.
func (a *Autodiscoverer) httpRedirect(ctx context.Context, target string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, a.opts.RequestTimeout)
	defer cancel()
	resp, err := a.c.adRoundTrip(ctx, "Autodiscover", target, nil)
	if err != nil {
		return "", fmt.Errorf("%s: %w", redactURL(target), err)
	}
	if (resp.status == http.StatusMovedPermanently || resp.status == http.StatusFound) && resp.location != "" {
		return resp.location, nil
	}
	if resp.httpErr != nil {
		return "", fmt.Errorf("%s: %w", redactURL(target), resp.httpErr)
	}
	return "", fmt.Errorf("%s: no redirect (HTTP %d)", redactURL(target), resp.status)
}

// tryEndpoint asks ep about users, SOAP in batches, POX one by one. It
// returns the users whose request failed as a whole (for the next
// candidate), and whether the endpoint answered any request.
func (a *Autodiscoverer) tryEndpoint(ctx context.Context, ep adEndpoint, users []*adUser, q *adQueue) (rest []*adUser, answered bool) {
	size := MaxAutodiscoverUsers
	if ep.pox {
		size = 1
	}
	for chunk := range slices.Chunk(users, size) {
		if ctx.Err() != nil {
			return append(rest, chunk...), answered
		}
		outs, loc, err := a.ask(ctx, ep, chunk)
		a.log.LogAttrs(ctx, slog.LevelDebug, "ews autodiscover", slog.String(LogKeyEndpoint, redactURL(ep.url)),
			slog.Int("mailboxes", len(chunk)), slog.Any(LogKeyError, err))
		switch {
		case err != nil:
			for _, u := range chunk {
				u.attempts = append(u.attempts, err)
			}
			rest = append(rest, chunk...)
		case loc != "":
			answered = true
			for _, u := range chunk {
				a.followURL(u, ep.url, loc, q)
			}
		default:
			answered = true
			for i, u := range chunk {
				a.apply(u, ep, outs[i], q)
			}
		}
	}
	return rest, answered
}

// ask sends one request. A 301/302 comes back as its Location; a
// request-wide failure as the error (prefixed with the URL).
func (a *Autodiscoverer) ask(ctx context.Context, ep adEndpoint, users []*adUser) ([]userOutcome, string, error) {
	ctx, cancel := context.WithTimeout(ctx, a.opts.RequestTimeout)
	defer cancel()
	addrs := make([]string, len(users))
	for i, u := range users {
		addrs[i] = u.addr
	}
	op, body, err := "GetUserSettings", []byte(nil), error(nil)
	if ep.pox {
		op = "Autodiscover"
		body, err = poxRequest(addrs[0])
	} else {
		body, err = soapGetUserSettings(ep.url, a.opts.RequestedServerVersion, addrs, a.settings)
	}
	if err != nil {
		return nil, "", err
	}
	wrap := func(err error) error { return fmt.Errorf("%s: %w", redactURL(ep.url), err) }
	resp, err := a.c.adRoundTrip(ctx, op, ep.url, body)
	if err != nil {
		return nil, "", wrap(err)
	}
	switch {
	case (resp.status == http.StatusMovedPermanently || resp.status == http.StatusFound) && resp.location != "":
		return nil, resp.location, nil
	case resp.status == http.StatusOK, resp.status == http.StatusInternalServerError && !ep.pox && looksLikeXML(resp.body):
	default:
		return nil, "", wrap(resp.httpErr)
	}
	maxTags := a.c.opts.MaxResponseTags
	if ep.pox {
		o, err := decodePOX(ep.url, resp.body, maxTags, addrs[0])
		if err != nil {
			return nil, "", wrap(err)
		}
		return []userOutcome{o}, "", nil
	}
	outs, err := decodeGetUserSettings(ep.url, resp.body, maxTags, addrs)
	if err != nil {
		return nil, "", wrap(err)
	}
	return outs, "", nil
}

// apply acts on what an endpoint said about a user.
func (a *Autodiscoverer) apply(u *adUser, ep adEndpoint, o userOutcome, q *adQueue) {
	switch {
	case o.settings != nil:
		a.settle(u, ep, o.settings)
	case o.err != nil:
		u.finish(o.err)
	case o.redirectAddr != "":
		a.followAddress(u, ep.url, o.redirectAddr, q)
	case o.redirectURL != "":
		a.followURL(u, ep.url, o.redirectURL, q)
	default:
		u.finish(fmt.Errorf("ews: autodiscover %s: %w: redirect without a target", u.key, ErrMalformedResponse))
	}
}

// settle checks and caches a user's settings.
func (a *Autodiscoverer) settle(u *adUser, ep adEndpoint, s *UserSettings) {
	ews := s.EwsURL()
	p, err := url.Parse(ews)
	switch {
	case ews == "":
		u.finish(fmt.Errorf("ews: autodiscover %s: %w: the answer from %s names no EWS URL", u.key, ErrAutodiscoverFailed, redactURL(ep.url)))
		return
	case err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "":
		u.finish(fmt.Errorf("ews: autodiscover %s: %w: EWS URL %q is not an http(s) URL", u.key, ErrMalformedResponse, redactURL(ews)))
		return
	case p.Scheme == "http" && strings.HasPrefix(ep.url, "https:"):
		u.finish(redirectErr(ErrRedirectRefused, u.key, "plain-http EWS URL %s from %s", p.Redacted(), redactURL(ep.url)))
		return
	}
	if s.SMTPAddress == "" {
		s.SMTPAddress = u.addr
	}
	s.AutodiscoverURL, s.POX, s.Redirects = ep.url, ep.pox, u.hops
	s.Expires = a.clock.Now().Add(a.opts.TTL)
	a.mu.Lock()
	a.cache[u.key] = s.clone()
	a.mu.Unlock()
	u.done, u.settings = true, s
}

// followAddress restarts discovery of u with another address.
func (a *Autodiscoverer) followAddress(u *adUser, from, to string, q *adQueue) {
	key, err := normalizeAddress(to)
	switch {
	case err != nil:
		u.finish(redirectErr(ErrRedirectRefused, u.key, "redirect to %q, which is not an address", to))
		return
	case key == u.addr:
		u.finish(redirectErr(ErrRedirectRefused, u.key, "%s redirects %s to itself", redactURL(from), key))
		return
	case u.seenAddr[key]:
		u.finish(redirectErr(ErrTooManyRedirects, u.key, "redirect loop back to %s", key))
		return
	case u.hops >= a.opts.MaxRedirects:
		u.finish(redirectErr(ErrTooManyRedirects, u.key, "more than %d redirects", a.opts.MaxRedirects))
		return
	}
	if d := domainOf(key); !inDomain(d, domainOf(u.addr)) &&
		!a.consent(Redirect{Kind: RedirectToAddress, Mailbox: u.addr, From: from, To: key}) {
		u.finish(redirectErr(ErrRedirectRefused, u.key, "redirect from %s to %s in another domain", u.addr, key))
		return
	}
	u.hops++
	u.seenAddr[key] = true
	u.addr = key
	u.seenURL = map[string]bool{}
	u.attempts = nil
	q.domain(domainOf(key), u)
}

// followURL sends u to another Autodiscover URL.
func (a *Autodiscoverer) followURL(u *adUser, from, to string, q *adQueue) {
	p, err := url.Parse(strings.TrimSpace(to))
	switch {
	case err != nil || !p.IsAbs() || p.Host == "":
		u.finish(redirectErr(ErrRedirectRefused, u.key, "redirect to %q, which is not an absolute URL", redactURL(to)))
		return
	case p.Scheme != "https":
		u.finish(redirectErr(ErrRedirectRefused, u.key, "%s redirects to plain-http %s", redactURL(from), p.Redacted()))
		return
	case p.User != nil:
		u.finish(redirectErr(ErrRedirectRefused, u.key, "redirect URL carries credentials"))
		return
	}
	target := p.String()
	switch {
	case u.seenURL[strings.ToLower(target)]:
		u.finish(redirectErr(ErrTooManyRedirects, u.key, "redirect loop back to %s", p.Redacted()))
		return
	case u.hops >= a.opts.MaxRedirects:
		u.finish(redirectErr(ErrTooManyRedirects, u.key, "more than %d redirects", a.opts.MaxRedirects))
		return
	}
	if !inDomain(p.Hostname(), domainOf(u.addr)) &&
		!a.consent(Redirect{Kind: RedirectToURL, Mailbox: u.addr, From: from, To: target}) {
		u.finish(redirectErr(ErrRedirectRefused, u.key, "redirect to %s outside %s", p.Redacted(), domainOf(u.addr)))
		return
	}
	u.hops++
	u.seenURL[strings.ToLower(from)] = true
	u.seenURL[strings.ToLower(target)] = true
	ep := adEndpoint{url: target, pox: strings.HasSuffix(strings.ToLower(p.Path), ".xml")}
	q.endpoint(ep, u)
}

// consent asks AllowRedirect; nil refuses.
func (a *Autodiscoverer) consent(r Redirect) bool {
	return a.opts.AllowRedirect != nil && a.opts.AllowRedirect(r)
}

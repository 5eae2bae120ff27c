package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mailsync/mailsync/ews"
)

// resolveAddress finds the primary SMTP address of the mailbox that user
// (a logon name: name, DOMAIN\name) owns, by ResolveNames, so that a
// mirror is keyed by the mailbox's address even when only a logon name
// was given. Of several matches it takes the one whose alias or display
// name is the logon name; otherwise the user must say with -email.
func resolveAddress(ctx context.Context, c *ews.Client, user string) (string, error) {
	name := user
	if i := strings.LastIndexByte(name, '\\'); i >= 0 {
		name = name[i+1:]
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	found, err := c.ResolveNames(rctx, name)
	if errors.Is(err, ews.ErrNameResolutionNoResults) {
		return "", fmt.Errorf("%w: the directory knows no mailbox named %q; give -email ADDRESS", errUsage, name)
	}
	if err != nil {
		return "", fmt.Errorf("finding the mailbox address of %q (give -email ADDRESS to skip this): %w", name, classifyRemote(err))
	}
	var smtp []ews.Mailbox
	for _, m := range found {
		if strings.Contains(m.EmailAddress, "@") && (m.RoutingType == "" || strings.EqualFold(m.RoutingType, "SMTP")) {
			smtp = append(smtp, m)
		}
	}
	if len(smtp) == 1 {
		return strings.ToLower(smtp[0].EmailAddress), nil
	}
	var exact []ews.Mailbox
	for _, m := range smtp {
		local, _, _ := strings.Cut(m.EmailAddress, "@")
		if strings.EqualFold(local, name) || strings.EqualFold(m.Name, name) {
			exact = append(exact, m)
		}
	}
	if len(exact) == 1 {
		return strings.ToLower(exact[0].EmailAddress), nil
	}
	addrs := make([]string, len(smtp))
	for i, m := range smtp {
		addrs[i] = m.EmailAddress
	}
	if len(addrs) == 0 {
		return "", fmt.Errorf("%w: %q resolves to no SMTP mailbox; give -email ADDRESS", errUsage, name)
	}
	return "", fmt.Errorf("%w: %q resolves to %d mailboxes (%s); give -email ADDRESS", errUsage, name, len(addrs), strings.Join(addrs, ", "))
}

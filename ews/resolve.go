package ews

import (
	"context"
	"errors"
	"strings"

	"github.com/beevik/etree"

	"github.com/mailsync/mailsync/ews/internal/ewsxml"
)

// Name resolution codes (ResolveNames). Match with errors.Is.
const (
	// ErrNameResolutionNoResults: nothing in the directory matches the name.
	ErrNameResolutionNoResults Code = "ErrorNameResolutionNoResults"
	// ErrNameResolutionMultipleResults: several entries match; ResolveNames
	// returns them all and no error.
	ErrNameResolutionMultipleResults Code = "ErrorNameResolutionMultipleResults"
)

// ResolveNames looks name up in the directory (SearchScope ActiveDirectory,
// so the caller's contacts do not match) and returns the mailboxes it
// resolves to. Exchange matches aliases, display names, SMTP addresses
// ("SMTP:" prefix optional) and logon names, so it is the way from the
// name a user logs on with to the primary SMTP address of that mailbox.
//
// Several matches are returned together with a nil error (Exchange answers
// them with the warning ErrorNameResolutionMultipleResults); no match is
// ErrNameResolutionNoResults.
func (c *Client) ResolveNames(ctx context.Context, name string) ([]Mailbox, error) {
	const op = "ResolveNames"
	name = strings.TrimSpace(name)
	if name == "" {
		return nil, invalidf(op, "name is required")
	}
	el := newOp(op)
	el.CreateAttr("ReturnFullContactData", "false")
	el.CreateAttr("SearchScope", "ActiveDirectory")
	el.CreateElement("m:UnresolvedEntry").SetText(name)
	resp, err := c.call(ctx, &callRequest{Op: op, Body: el, Idempotent: true})
	if err != nil {
		return nil, err
	}
	// Several matches are a Warning that still carries them.
	m, err := singleMessage(op, resp)
	if err != nil && !errors.Is(err, ErrNameResolutionMultipleResults) {
		return nil, err
	}
	var out []Mailbox
	perr := payloadChildren(m.Elem, func(set *etree.Element) error {
		if !ewsxml.Is(set, nsM, "ResolutionSet") {
			return nil
		}
		for _, tok := range set.Child {
			res, ok := tok.(*etree.Element)
			if !ok || !ewsxml.Is(res, nsT, "Resolution") {
				continue
			}
			out = append(out, decodeMailboxes(res)...)
		}
		return nil
	})
	if perr != nil {
		return nil, malformed(op, perr)
	}
	if len(out) == 0 {
		return nil, malformedf(op, "a successful resolution without a mailbox")
	}
	return out, nil
}

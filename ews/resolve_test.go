package ews_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/mailsync/mailsync/ews"
	"github.com/mailsync/mailsync/ews/ewstest"
)

func TestResolveNames(t *testing.T) {
	srv, _ := e2eServer(t, ewstest.AuthBasic, func(o *ewstest.Options) {
		o.Users = append(o.Users,
			ewstest.User{Name: "bob", Password: "x", Address: "bob@example.com"},
			ewstest.User{Name: "Bobby Tables", Password: "x", Address: "bobby@example.com"})
	})
	c := e2eClient(t, srv, e2eAuth(ewstest.AuthBasic, false), nil)
	ctx := context.Background()

	got, err := c.ResolveNames(ctx, e2eUser)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].EmailAddress != e2eAddress || got[0].RoutingType != "SMTP" {
		t.Errorf("alice resolves to %+v", got)
	}

	got, err = c.ResolveNames(ctx, "bob")
	if err != nil {
		t.Fatalf("several matches: %v", err)
	}
	var addrs []string
	for _, m := range got {
		addrs = append(addrs, m.EmailAddress)
	}
	if !slices.Equal(addrs, []string{"bob@example.com", "bobby@example.com"}) {
		t.Errorf("bob resolves to %v", addrs)
	}

	if _, err := c.ResolveNames(ctx, "zed"); !errors.Is(err, ews.ErrNameResolutionNoResults) {
		t.Errorf("no match: %v", err)
	}
	if _, err := c.ResolveNames(ctx, "  "); !errors.Is(err, ews.ErrInvalidRequest) {
		t.Errorf("empty name: %v", err)
	}
}

package ews

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/mailsync/mailsync/ews/ewstest"
)

// autodiscoverSeeds returns what the fake answers to a GetUserSettings
// request for known and unknown users and to POX requests, shaped as
// Microsoft documents them.
func autodiscoverSeeds(f *testing.F) (soap, pox [][]byte) {
	srv := ewstest.NewServer(ewstest.Options{Users: []ewstest.User{
		{Name: "alice", Password: "pw", Address: "alice@example.com"},
		{Name: "bob", Password: "pw", Address: "bob@example.com"},
	}})
	defer srv.Close()
	do := func(url, ct, soapAction string, body []byte) []byte {
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			f.Fatal(err)
		}
		req.Header.Set("Content-Type", ct)
		if soapAction != "" {
			req.Header.Set("SOAPAction", soapAction)
		}
		req.SetBasicAuth("alice", "pw")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			f.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return b
	}
	settings := []string{SettingExternalEwsURL, SettingInternalEwsURL, SettingGroupingInformation, SettingUserDisplayName, "NoSuchSetting"}
	for _, users := range [][]string{{"alice@example.com"}, {"alice@example.com", "nobody@example.com", "bob@example.com"}} {
		body, err := soapGetUserSettings(srv.AutodiscoverURL(), "Exchange2013", users, settings)
		if err != nil {
			f.Fatal(err)
		}
		soap = append(soap, do(srv.AutodiscoverURL(), "text/xml; charset=utf-8", getUserSettingsA, body))
	}
	for _, addr := range []string{"alice@example.com", "nobody@example.com"} {
		body, err := poxRequest(addr)
		if err != nil {
			f.Fatal(err)
		}
		pox = append(pox, do(srv.AutodiscoverPOXURL(), "text/xml; charset=utf-8", "", body))
	}
	return soap, pox
}

// checkOutcome fails unless o is one of the outcomes the decoders give:
// settings, a redirect, or a typed per-user error.
func checkOutcome(t *testing.T, o userOutcome) {
	t.Helper()
	var ae *AutodiscoverError
	switch {
	case o.err != nil:
		if !errors.As(o.err, &ae) || o.settings != nil {
			t.Fatalf("per-user outcome %+v", o)
		}
	case o.settings != nil:
		if o.redirectAddr != "" || o.redirectURL != "" || o.settings.Settings == nil {
			t.Fatalf("settings outcome %+v", o)
		}
	case o.redirectAddr == "" && o.redirectURL == "":
		// A redirect with an empty target: the caller refuses it.
	}
}

// checkAutodiscoverErr fails unless err is a typed error of the
// Autodiscover decoders.
func checkAutodiscoverErr(t *testing.T, err error) {
	t.Helper()
	var ae *AutodiscoverError
	var fe *FaultError
	if err != nil && !errors.Is(err, ErrMalformedResponse) && !errors.As(err, &ae) && !errors.As(err, &fe) {
		t.Fatalf("untyped error: %v", err)
	}
}

// FuzzDecodeGetUserSettings: the SOAP Autodiscover decoder, on any body,
// for one and for three users, returns one typed outcome per user or a
// typed error.
func FuzzDecodeGetUserSettings(f *testing.F) {
	soap, _ := autodiscoverSeeds(f)
	for _, b := range soap {
		f.Add(b)
	}
	addSeeds(f, "fault")
	users := [][]string{{"alice@example.com"}, {"alice@example.com", "nobody@example.com", "bob@example.com"}}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, us := range users {
			out, err := decodeGetUserSettings("https://autodiscover.example.com/autodiscover/autodiscover.svc", body, DefaultMaxResponseTags, us)
			checkAutodiscoverErr(t, err)
			if err != nil {
				continue
			}
			if len(out) != len(us) {
				t.Fatalf("%d outcomes for %d users", len(out), len(us))
			}
			for _, o := range out {
				checkOutcome(t, o)
			}
		}
	})
}

// FuzzDecodePOX: the POX Autodiscover decoder, on any body, returns a
// typed outcome or a typed error.
func FuzzDecodePOX(f *testing.F) {
	_, pox := autodiscoverSeeds(f)
	for _, b := range pox {
		f.Add(b)
		f.Add(bytes.Replace(b, []byte("<Action>settings</Action>"), []byte("<Action>redirectAddr</Action><RedirectAddr>a@b.c</RedirectAddr>"), 1))
	}
	f.Add([]byte(strings.Repeat("<Autodiscover>", 3)))
	f.Fuzz(func(t *testing.T, body []byte) {
		o, err := decodePOX("https://autodiscover.example.com/autodiscover/autodiscover.xml", body, DefaultMaxResponseTags, "alice@example.com")
		checkAutodiscoverErr(t, err)
		if err == nil {
			checkOutcome(t, o)
		}
	})
}

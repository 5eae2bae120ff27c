package ews

// The two Autodiscover flavours on the wire (EWS-PROTOCOL.md §11):
// SOAP GetUserSettings ([REF] getusersettings-operation-soap) and the POX
// request/response ([REF] pox-autodiscover-request-for-exchange,
// pox-autodiscover-response-for-exchange), and the small hook that POSTs
// them to an arbitrary URL with the client's transport and credentials.

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/beevik/etree"

	"github.com/mailsync/mailsync/ews/internal/ewsxml"
)

// Namespaces of Autodiscover. As everywhere in EWS they are http://.
const (
	nsAutodiscover   = "http://schemas.microsoft.com/exchange/2010/Autodiscover"
	nsAddressing     = "http://www.w3.org/2005/08/addressing"
	nsXSI            = "http://www.w3.org/2001/XMLSchema-instance"
	nsPOXRequest     = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
	nsPOXResponse    = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
	nsPOXOutlook     = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
	getUserSettingsA = "http://schemas.microsoft.com/exchange/2010/Autodiscover/Autodiscover/GetUserSettings"
)

// Names of the SOAP Autodiscover user settings the client decodes into
// UserSettings fields ([REF] setting-soap).
const (
	SettingExternalEwsURL          = "ExternalEwsUrl"
	SettingInternalEwsURL          = "InternalEwsUrl"
	SettingGroupingInformation     = "GroupingInformation"
	SettingUserDisplayName         = "UserDisplayName"
	SettingAutoDiscoverSMTPAddress = "AutoDiscoverSMTPAddress"
	SettingCasVersion              = "CasVersion"
	SettingEwsSupportedSchemas     = "EwsSupportedSchemas"
	SettingExternalEwsVersion      = "ExternalEwsVersion"
	SettingUserDN                  = "UserDN"
	SettingMailboxDN               = "MailboxDN"
	SettingInternalMailboxServer   = "InternalMailboxServer"
	SettingExternalMailboxServer   = "ExternalMailboxServer"
)

// defaultSettings are requested in every GetUserSettings.
var defaultSettings = []string{
	SettingExternalEwsURL, SettingInternalEwsURL, SettingGroupingInformation, SettingUserDisplayName,
	SettingAutoDiscoverSMTPAddress, SettingCasVersion, SettingEwsSupportedSchemas, SettingExternalEwsVersion,
	SettingUserDN, SettingMailboxDN, SettingInternalMailboxServer, SettingExternalMailboxServer,
}

// userOutcome is what one endpoint said about one mailbox: settings, a
// redirect, or a final error.
type userOutcome struct {
	settings     *UserSettings
	redirectAddr string
	redirectURL  string
	err          error
}

// soapGetUserSettings builds the GetUserSettings envelope for users.
func soapGetUserSettings(to, version string, users, settings []string) ([]byte, error) {
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="utf-8"`)
	env := doc.CreateElement("soap:Envelope")
	env.CreateAttr("xmlns:soap", ewsxml.NSSoap)
	env.CreateAttr("xmlns:a", nsAutodiscover)
	env.CreateAttr("xmlns:wsa", nsAddressing)
	env.CreateAttr("xmlns:xsi", nsXSI)
	h := env.CreateElement("soap:Header")
	ewsxml.AddText(h, "a:RequestedServerVersion", version)
	ewsxml.AddText(h, "wsa:Action", getUserSettingsA)
	ewsxml.AddText(h, "wsa:To", to)
	req := env.CreateElement("soap:Body").CreateElement("a:GetUserSettingsRequestMessage").CreateElement("a:Request")
	us := req.CreateElement("a:Users")
	for _, u := range users {
		ewsxml.AddText(us.CreateElement("a:User"), "a:Mailbox", u)
	}
	rs := req.CreateElement("a:RequestedSettings")
	for _, s := range settings {
		ewsxml.AddText(rs, "a:Setting", s)
	}
	var buf bytes.Buffer
	if err := ewsxml.Write(&buf, doc); err != nil {
		return nil, fmt.Errorf("ews: GetUserSettings: encoding request: %w", err)
	}
	return buf.Bytes(), nil
}

// decodeGetUserSettings reads a GetUserSettings response for users (in
// request order). A request-wide error (SOAP fault, ErrorCode other than
// NoError, malformed body) is returned as the error.
func decodeGetUserSettings(endpoint string, body []byte, maxTags int, users []string) ([]userOutcome, error) {
	const op = "GetUserSettings"
	env, err := parseEnvelope(op, body, maxTags)
	if err != nil {
		return nil, err
	}
	msg, err := bodyPayload(op, ewsxml.FirstChild(env, nsS, "Body"))
	if err != nil {
		return nil, err
	}
	if !ewsxml.Is(msg, nsAutodiscover, "GetUserSettingsResponseMessage") {
		return nil, malformedf(op, "body holds {%s}%s, want GetUserSettingsResponseMessage", msg.Space, msg.Tag)
	}
	resp := ewsxml.FirstChild(msg, nsAutodiscover, "Response")
	if resp == nil {
		return nil, malformedf(op, "GetUserSettingsResponseMessage has no Response")
	}
	if code := AutodiscoverCode(ewsxml.Text(ewsxml.FirstChild(resp, nsAutodiscover, "ErrorCode"))); code != autodiscoverNoError {
		if code == "" {
			return nil, malformedf(op, "Response has no ErrorCode")
		}
		return nil, &AutodiscoverError{URL: endpoint, Code: code,
			Message: ewsxml.Text(ewsxml.FirstChild(resp, nsAutodiscover, "ErrorMessage"))}
	}
	var urs []*etree.Element
	for c := range ewsxml.Children(ewsxml.FirstChild(resp, nsAutodiscover, "UserResponses")) {
		if ewsxml.Is(c, nsAutodiscover, "UserResponse") {
			urs = append(urs, c)
		}
	}
	if len(urs) != len(users) {
		return nil, malformedf(op, "%d UserResponse elements for %d users", len(urs), len(users))
	}
	out := make([]userOutcome, len(users))
	for i, ur := range urs {
		out[i] = decodeUserResponse(endpoint, users[i], ur)
	}
	return out, nil
}

// decodeUserResponse reads one UserResponse.
func decodeUserResponse(endpoint, user string, ur *etree.Element) userOutcome {
	code := AutodiscoverCode(ewsxml.Text(ewsxml.FirstChild(ur, nsAutodiscover, "ErrorCode")))
	target := ewsxml.Text(ewsxml.FirstChild(ur, nsAutodiscover, "RedirectTarget"))
	switch code {
	case autodiscoverNoError, "":
	case autodiscoverRedirectAddress:
		return userOutcome{redirectAddr: target}
	case autodiscoverRedirectURL:
		return userOutcome{redirectURL: target}
	default:
		return userOutcome{err: &AutodiscoverError{Address: user, URL: endpoint, Code: code,
			Message: ewsxml.Text(ewsxml.FirstChild(ur, nsAutodiscover, "ErrorMessage"))}}
	}
	s := &UserSettings{Settings: map[string]string{}}
	for us := range ewsxml.Children(ewsxml.FirstChild(ur, nsAutodiscover, "UserSettings")) {
		if !ewsxml.Is(us, nsAutodiscover, "UserSetting") {
			continue
		}
		name := ewsxml.Text(ewsxml.FirstChild(us, nsAutodiscover, "Name"))
		if name == "" {
			continue
		}
		// StringSetting carries Value; collection settings (WebClientUrls,
		// AlternateMailboxes, ProtocolConnections) are kept as their text.
		s.Settings[name] = ewsxml.Text(ewsxml.FirstChild(us, nsAutodiscover, "Value"))
	}
	for ue := range ewsxml.Children(ewsxml.FirstChild(ur, nsAutodiscover, "UserSettingErrors")) {
		if !ewsxml.Is(ue, nsAutodiscover, "UserSettingError") {
			continue
		}
		s.SettingErrors = append(s.SettingErrors, SettingError{
			Setting: ewsxml.Text(ewsxml.FirstChild(ue, nsAutodiscover, "SettingName")),
			Code:    AutodiscoverCode(ewsxml.Text(ewsxml.FirstChild(ue, nsAutodiscover, "ErrorCode"))),
			Message: ewsxml.Text(ewsxml.FirstChild(ue, nsAutodiscover, "ErrorMessage")),
		})
	}
	s.fromSettings()
	return userOutcome{settings: s}
}

// poxRequest builds the POX Autodiscover request for address.
func poxRequest(address string) ([]byte, error) {
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="utf-8"`)
	root := doc.CreateElement("Autodiscover")
	root.CreateAttr("xmlns", nsPOXRequest)
	req := root.CreateElement("Request")
	ewsxml.AddText(req, "EMailAddress", address)
	ewsxml.AddText(req, "AcceptableResponseSchema", nsPOXOutlook)
	var buf bytes.Buffer
	if err := ewsxml.Write(&buf, doc); err != nil {
		return nil, fmt.Errorf("ews: Autodiscover: encoding request: %w", err)
	}
	return buf.Bytes(), nil
}

// decodePOX reads a POX response for address. A body that is not a POX
// Autodiscover response is returned as the error; an Error element is a
// per-mailbox *AutodiscoverError in the outcome.
func decodePOX(endpoint string, body []byte, maxTags int, address string) (userOutcome, error) {
	const op = "Autodiscover"
	doc, err := ewsxml.ParseBytes(body, ewsxml.ParseOptions{MaxTags: maxTags})
	if err != nil {
		return userOutcome{}, malformed(op, err)
	}
	root := doc.Root()
	if !ewsxml.Is(root, nsPOXResponse, "Autodiscover") {
		return userOutcome{}, malformedf(op, "root element is {%s}%s, not a POX Autodiscover response", root.Space, root.Tag)
	}
	var resp *etree.Element
	for c := range ewsxml.Children(root) {
		if c.Tag == "Response" {
			resp = c
			break
		}
	}
	if resp == nil {
		return userOutcome{}, malformedf(op, "Autodiscover has no Response")
	}
	if e := ewsxml.FirstChild(resp, nsPOXResponse, "Error"); e != nil {
		code := ewsxml.Text(ewsxml.FirstChild(e, nsPOXResponse, "ErrorCode"))
		msg := ewsxml.Text(ewsxml.FirstChild(e, nsPOXResponse, "Message"))
		c := AutodiscoverInvalidRequest
		if code == "500" {
			c = AutodiscoverInvalidUser
		}
		return userOutcome{err: &AutodiscoverError{Address: address, URL: endpoint, Code: c,
			Message: strings.TrimSpace("POX error " + code + ": " + msg)}}, nil
	}
	if resp.Space != nsPOXOutlook {
		return userOutcome{}, malformedf(op, "Response in {%s}, want the outlook 2006a schema", resp.Space)
	}
	acct := ewsxml.FirstChild(resp, nsPOXOutlook, "Account")
	if acct == nil {
		return userOutcome{}, malformedf(op, "Response has no Account")
	}
	child := func(e *etree.Element, name string) string {
		return ewsxml.Text(ewsxml.FirstChild(e, nsPOXOutlook, name))
	}
	switch action := child(acct, "Action"); action {
	case "settings":
	case "redirectAddr":
		return userOutcome{redirectAddr: child(acct, "RedirectAddr")}, nil
	case "redirectUrl":
		u := child(acct, "RedirectUrl")
		if u == "" {
			u = child(acct, "RedirectURL") // as exchangelib reads it
		}
		return userOutcome{redirectURL: u}, nil
	default:
		return userOutcome{}, malformedf(op, "Account Action %q", action)
	}
	s := &UserSettings{Settings: map[string]string{}}
	set := func(name, v string) { // a setting the response leaves empty stays absent
		if v != "" {
			s.Settings[name] = v
		}
	}
	if u := ewsxml.FirstChild(resp, nsPOXOutlook, "User"); u != nil {
		set(SettingUserDisplayName, child(u, "DisplayName"))
		set(SettingAutoDiscoverSMTPAddress, child(u, "AutoDiscoverSMTPAddress"))
		set(SettingUserDN, child(u, "LegacyDN"))
	}
	for p := range ewsxml.Children(acct) {
		if !ewsxml.Is(p, nsPOXOutlook, "Protocol") {
			continue
		}
		ews := child(p, "EwsUrl")
		if ews == "" {
			ews = child(p, "ASUrl")
		}
		switch child(p, "Type") {
		case "EXCH": // internal
			set(SettingInternalEwsURL, ews)
			set(SettingInternalMailboxServer, child(p, "Server"))
			set(SettingMailboxDN, child(p, "MdbDN"))
		case "EXPR": // external
			set(SettingExternalEwsURL, ews)
			set(SettingGroupingInformation, child(p, "GroupingInformation"))
			set(SettingExternalMailboxServer, child(p, "Server"))
		}
	}
	s.fromSettings()
	return userOutcome{settings: s}, nil
}

// adResponse is an Autodiscover HTTP response read in full.
type adResponse struct {
	status   int
	location string
	body     []byte
	// httpErr describes a status other than 200.
	httpErr *HTTPError
}

// adRoundTrip sends one Autodiscover request (POST body, or GET when body
// is nil) to target with the client's transport. POSTs carry the client's
// credentials; the GET of the HTTP redirect method goes unauthenticated,
// as Microsoft describes it. Redirects are not followed: a 3xx comes back
// with its Location; any status is returned with its body (a SOAP fault
// may come with 500), httpErr describing a status other than 200.
func (c *Client) adRoundTrip(ctx context.Context, op, target string, body []byte) (*adResponse, error) {
	method := http.MethodPost
	var rd *bytes.Reader
	if body == nil {
		method = http.MethodGet
		rd = bytes.NewReader(nil)
	} else {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return nil, fmt.Errorf("ews: %s: %w", op, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	}
	req.Header.Set("Accept", "text/xml")
	req.Header.Set("User-Agent", c.opts.UserAgent)
	hc := c.httpc
	if body == nil {
		hc = &http.Client{Transport: c.base, CheckRedirect: noRedirect}
	}
	c.dumpRequest(req, body)
	resp, err := hc.Do(req)
	if err != nil {
		if isNetworkError(err) {
			return nil, &NetworkError{Op: op, Err: err}
		}
		return nil, fmt.Errorf("ews: %s: %w", op, err)
	}
	defer resp.Body.Close()
	b, rerr := readLimited(resp.Body, resp.ContentLength, c.opts.MaxResponseBytes)
	c.dumpResponse(resp, b)
	if rerr != nil {
		return nil, &NetworkError{Op: op, Err: fmt.Errorf("reading response: %w", rerr)}
	}
	out := &adResponse{status: resp.StatusCode, body: b}
	if loc := resp.Header.Get("Location"); loc != "" {
		if u, err := resp.Request.URL.Parse(loc); err == nil {
			out.location = u.String()
		}
	}
	if resp.StatusCode != http.StatusOK {
		out.httpErr = c.httpError(op, resp)
	}
	return out, nil
}

// redactURL returns u without credentials, for errors and logs.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(invalid URL)"
	}
	return p.Redacted()
}

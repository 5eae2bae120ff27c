package ewstest

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

// The fake's Autodiscover read over raw HTTP with the request bodies of
// Microsoft's examples ([REF] getusersettings-operation-soap,
// pox-autodiscover-request-for-exchange), so that it is checked apart from
// our own client.

const msSOAPRequest = `<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:a="http://schemas.microsoft.com/exchange/2010/Autodiscover"
               xmlns:wsa="http://www.w3.org/2005/08/addressing"
               xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
               xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
  <soap:Header>
    <a:RequestedServerVersion>Exchange2013</a:RequestedServerVersion>
    <wsa:Action>http://schemas.microsoft.com/exchange/2010/Autodiscover/Autodiscover/GetUserSettings</wsa:Action>
    <wsa:To>https://myserver.contoso.com/autodiscover/autodiscover.svc</wsa:To>
  </soap:Header>
  <soap:Body>
    <a:GetUserSettingsRequestMessage xmlns:a="http://schemas.microsoft.com/exchange/2010/Autodiscover">
      <a:Request>
        <a:Users>
          <a:User><a:Mailbox>alice@example.com</a:Mailbox></a:User>
          <a:User><a:Mailbox>nobody@example.com</a:Mailbox></a:User>
          <a:User><a:Mailbox>bob@example.com</a:Mailbox></a:User>
        </a:Users>
        <a:RequestedSettings>
          <a:Setting>UserDisplayName</a:Setting>
          <a:Setting>ExternalEwsUrl</a:Setting>
          <a:Setting>InternalEwsUrl</a:Setting>
          <a:Setting>GroupingInformation</a:Setting>
          <a:Setting>EwsSupportedSchemas</a:Setting>
          <a:Setting>NoSuchSetting</a:Setting>
        </a:RequestedSettings>
      </a:Request>
    </a:GetUserSettingsRequestMessage>
  </soap:Body>
</soap:Envelope>`

const msPOXRequest = `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
   <Request>
     <EMailAddress>ADDRESS</EMailAddress>
     <AcceptableResponseSchema>SCHEMA</AcceptableResponseSchema>
   </Request>
 </Autodiscover>`

func adTestServer(t *testing.T) *Server {
	t.Helper()
	srv := NewServer(Options{Users: []User{
		{Name: "alice", Password: "pw", Address: "alice@example.com", Database: "DB01"},
		{Name: "bob", Password: "pw", Address: "bob@example.com", Database: "DB02"},
	}, Auth: AuthOptions{Mode: AuthBasic}, Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(srv.Close)
	return srv
}

// adPost POSTs body to target as alice (no credentials when anon) and
// parses the answer.
func adPost(t *testing.T, target, body string, anon bool) (*http.Response, *etree.Element) {
	t.Helper()
	method := http.MethodPost
	if body == "" {
		method = http.MethodGet
	}
	req, _ := http.NewRequest(method, target, strings.NewReader(body))
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	if !anon {
		req.SetBasicAuth("alice", "pw")
	}
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(b); err != nil {
		return resp, nil
	}
	return resp, doc.Root()
}

// kid returns e's first child named local in namespace ns, failing the test
// when there is none.
func kid(t *testing.T, e *etree.Element, ns, local string) *etree.Element {
	t.Helper()
	for _, c := range e.ChildElements() {
		if c.Tag == local && c.NamespaceURI() == ns {
			return c
		}
	}
	t.Fatalf("no {%s}%s in <%s>", ns, local, e.Tag)
	return nil
}

func TestAutodiscover_SOAPGetUserSettings(t *testing.T) {
	srv := adTestServer(t)
	resp, env := adPost(t, srv.AutodiscoverURL(), msSOAPRequest, false)
	if resp.StatusCode != http.StatusOK || env == nil {
		t.Fatalf("HTTP %d", resp.StatusCode)
	}
	hdr := kid(t, env, nsSOAP11, "Header")
	if a := kid(t, hdr, nsWSA, "Action"); a.Text() != adActionBase+"GetUserSettingsResponse" {
		t.Fatalf("Action %q", a.Text())
	}
	if v := kid(t, kid(t, hdr, nsAD, "ServerVersionInfo"), nsAD, "MajorVersion"); v.Text() != "15" {
		t.Fatalf("MajorVersion %q", v.Text())
	}
	r := kid(t, kid(t, kid(t, env, nsSOAP11, "Body"), nsAD, "GetUserSettingsResponseMessage"), nsAD, "Response")
	if c := kid(t, r, nsAD, "ErrorCode").Text(); c != "NoError" {
		t.Fatalf("Response ErrorCode %q", c)
	}
	urs := kid(t, r, nsAD, "UserResponses").ChildElements()
	if len(urs) != 3 {
		t.Fatalf("%d UserResponses, want 3 (one per user, in order)", len(urs))
	}
	// alice: settings in request order, the unknown one as an error.
	if c := kid(t, urs[0], nsAD, "ErrorCode").Text(); c != "NoError" {
		t.Fatalf("alice ErrorCode %q", c)
	}
	if rt := kid(t, urs[0], nsAD, "RedirectTarget"); rt.SelectAttrValue("i:nil", "") != "true" {
		t.Fatalf("RedirectTarget not nil")
	}
	var names []string
	vals := map[string]string{}
	for _, us := range kid(t, urs[0], nsAD, "UserSettings").ChildElements() {
		if us.SelectAttrValue("i:type", "") != "StringSetting" {
			t.Fatalf("UserSetting without i:type StringSetting")
		}
		n := kid(t, us, nsAD, "Name").Text()
		names = append(names, n)
		vals[n] = kid(t, us, nsAD, "Value").Text()
	}
	if strings.Join(names, ",") != "UserDisplayName,ExternalEwsUrl,InternalEwsUrl,GroupingInformation,EwsSupportedSchemas" {
		t.Fatalf("settings %v", names)
	}
	if vals["ExternalEwsUrl"] != srv.URL || vals["GroupingInformation"] != "MBX-DB01" || !strings.Contains(vals["EwsSupportedSchemas"], "Exchange2013") {
		t.Fatalf("values %v", vals)
	}
	se := kid(t, kid(t, urs[0], nsAD, "UserSettingErrors"), nsAD, "UserSettingError")
	if kid(t, se, nsAD, "ErrorCode").Text() != "InvalidSetting" || kid(t, se, nsAD, "SettingName").Text() != "NoSuchSetting" {
		t.Fatalf("setting error %v", se.ChildElements())
	}
	if c := kid(t, urs[1], nsAD, "ErrorCode").Text(); c != "InvalidUser" {
		t.Fatalf("unknown user ErrorCode %q", c)
	}
	bobGI := ""
	for _, us := range kid(t, urs[2], nsAD, "UserSettings").ChildElements() {
		if kid(t, us, nsAD, "Name").Text() == "GroupingInformation" {
			bobGI = kid(t, us, nsAD, "Value").Text()
		}
	}
	if bobGI != GroupingInformationOf(BackendOf("DB02")) {
		t.Fatalf("bob's grouping %q", bobGI)
	}
	if n := srv.RequestStats().Requests["GetUserSettings"]; n != 1 {
		t.Fatalf("GetUserSettings counted %d times", n)
	}
}

// userResponse returns the ErrorCode and RedirectTarget of the first
// UserResponse for a one-user request for address.
func userResponse(t *testing.T, srv *Server, address string) (string, string, map[string]string) {
	t.Helper()
	body := strings.Replace(msSOAPRequest, `<a:User><a:Mailbox>nobody@example.com</a:Mailbox></a:User>
          <a:User><a:Mailbox>bob@example.com</a:Mailbox></a:User>`, "", 1)
	body = strings.Replace(body, "alice@example.com", address, 1)
	_, env := adPost(t, srv.AutodiscoverURL(), body, false)
	r := kid(t, kid(t, kid(t, env, nsSOAP11, "Body"), nsAD, "GetUserSettingsResponseMessage"), nsAD, "Response")
	if c := kid(t, r, nsAD, "ErrorCode").Text(); c != "NoError" {
		return "request:" + c, "", nil
	}
	ur := kid(t, kid(t, r, nsAD, "UserResponses"), nsAD, "UserResponse")
	vals := map[string]string{}
	for _, us := range kid(t, ur, nsAD, "UserSettings").ChildElements() {
		vals[kid(t, us, nsAD, "Name").Text()] = kid(t, us, nsAD, "Value").Text()
	}
	return kid(t, ur, nsAD, "ErrorCode").Text(), kid(t, ur, nsAD, "RedirectTarget").Text(), vals
}

func TestAutodiscover_SOAPControls(t *testing.T) {
	srv := adTestServer(t)
	srv.SetAutodiscoverUser("Alias@example.com", AutodiscoverUser{RedirectAddress: "alice@example.com"})
	if c, tgt, _ := userResponse(t, srv, "alias@example.com"); c != "RedirectAddress" || tgt != "alice@example.com" {
		t.Fatalf("address redirect: %q %q", c, tgt)
	}
	srv.SetAutodiscoverUser("bob@example.com", AutodiscoverUser{RedirectURL: "https://ad2.example.com/autodiscover/autodiscover.svc", Host: "127.0.0.1"})
	if c, tgt, _ := userResponse(t, srv, "bob@example.com"); c != "RedirectUrl" || tgt != "https://ad2.example.com/autodiscover/autodiscover.svc" {
		t.Fatalf("URL redirect: %q %q", c, tgt)
	}
	srv.SetAutodiscoverUser("bob@example.com", AutodiscoverUser{RedirectURL: "https://x/a.svc", Host: "ad2.example.com"})
	if c, _, _ := userResponse(t, srv, "bob@example.com"); c != "NoError" {
		t.Fatalf("override for another host applied: %q", c)
	}
	srv.SetAutodiscoverUser("bob@example.com", AutodiscoverUser{})

	if err := srv.MoveMailbox("bob@example.com", "DB09"); err != nil {
		t.Fatal(err)
	}
	srv.SetBackendEwsURL(BackendOf("DB09"), "https://site2.example.com/EWS/Exchange.asmx")
	if _, _, v := userResponse(t, srv, "bob@example.com"); v["GroupingInformation"] != "MBX-DB09" ||
		v["ExternalEwsUrl"] != "https://site2.example.com/EWS/Exchange.asmx" {
		t.Fatalf("after a move: %v", v)
	}

	srv.SetAutodiscoverFailure(AutodiscoverFailure{ErrorCode: "ServerBusy"})
	if c, _, _ := userResponse(t, srv, "alice@example.com"); c != "request:ServerBusy" {
		t.Fatalf("request-wide failure: %q", c)
	}
	srv.SetAutodiscoverFailure(AutodiscoverFailure{SOAPStatus: http.StatusNotFound})
	if resp, _ := adPost(t, srv.AutodiscoverURL(), msSOAPRequest, false); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("SOAPStatus: HTTP %d", resp.StatusCode)
	}
	srv.SetAutodiscoverFailure(AutodiscoverFailure{})

	if resp, _ := adPost(t, srv.AutodiscoverURL(), msSOAPRequest, true); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous GetUserSettings: HTTP %d, want 401", resp.StatusCode)
	}
	other := strings.Replace(msSOAPRequest, "GetUserSettingsRequestMessage", "GetDomainSettingsRequestMessage", 2)
	resp, env := adPost(t, strings.Replace(srv.AutodiscoverURL(), AutodiscoverSOAPPath, "/AutoDiscover/AutoDiscover.svc", 1), other, false)
	if resp.StatusCode != http.StatusInternalServerError || env == nil ||
		kid(t, kid(t, kid(t, env, nsSOAP11, "Body"), nsSOAP11, "Fault"), "", "faultcode").Text() != "a:ActionNotSupported" {
		t.Fatalf("unsupported operation: HTTP %d", resp.StatusCode)
	}
}

func TestAutodiscover_POX(t *testing.T) {
	srv := adTestServer(t)
	pox := func(address, schema string) *etree.Element {
		t.Helper()
		body := strings.NewReplacer("ADDRESS", address, "SCHEMA", schema).Replace(msPOXRequest)
		resp, root := adPost(t, strings.Replace(srv.AutodiscoverPOXURL(), "/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml", 1), body, false)
		if resp.StatusCode != http.StatusOK || root == nil || root.Tag != "Autodiscover" || root.NamespaceURI() != nsPOXResponse {
			t.Fatalf("POX: HTTP %d", resp.StatusCode)
		}
		return kid(t, root, root.ChildElements()[0].NamespaceURI(), "Response")
	}
	r := pox("bob@example.com", nsPOXOutlook)
	if r.NamespaceURI() != nsPOXOutlook {
		t.Fatalf("Response namespace %q", r.NamespaceURI())
	}
	acct := kid(t, r, nsPOXOutlook, "Account")
	if kid(t, acct, nsPOXOutlook, "Action").Text() != "settings" ||
		kid(t, kid(t, r, nsPOXOutlook, "User"), nsPOXOutlook, "AutoDiscoverSMTPAddress").Text() != "bob@example.com" {
		t.Fatalf("account %v", acct.ChildElements())
	}
	found := 0
	for _, p := range acct.ChildElements() {
		if p.Tag != "Protocol" {
			continue
		}
		switch kid(t, p, nsPOXOutlook, "Type").Text() {
		case "EXCH":
			found++
			if kid(t, p, nsPOXOutlook, "EwsUrl").Text() != srv.URL || kid(t, p, nsPOXOutlook, "Server").Text() != BackendOf("DB02") {
				t.Fatalf("EXCH %v", p.ChildElements())
			}
		case "EXPR":
			found++
			if kid(t, p, nsPOXOutlook, "EwsUrl").Text() != srv.URL || kid(t, p, nsPOXOutlook, "GroupingInformation").Text() != "MBX-DB02" ||
				kid(t, p, nsPOXOutlook, "AuthPackage").Text() != "Basic" || kid(t, p, nsPOXOutlook, "SSL").Text() != "Off" {
				t.Fatalf("EXPR %v", p.ChildElements())
			}
		}
	}
	if found != 2 {
		t.Fatalf("%d EXCH/EXPR protocols", found)
	}
	errCode := func(r *etree.Element) string {
		return kid(t, kid(t, r, nsPOXResponse, "Error"), nsPOXResponse, "ErrorCode").Text()
	}
	if c := errCode(pox("nobody@example.com", nsPOXOutlook)); c != "500" {
		t.Fatalf("unknown mailbox: %s", c)
	}
	if c := errCode(pox("bob@example.com", "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006")); c != "601" {
		t.Fatalf("other schema: %s", c)
	}
	srv.SetAutodiscoverUser("alias@example.com", AutodiscoverUser{RedirectAddress: "bob@example.com"})
	a := kid(t, pox("alias@example.com", nsPOXOutlook), nsPOXOutlook, "Account")
	if kid(t, a, nsPOXOutlook, "Action").Text() != "redirectAddr" || kid(t, a, nsPOXOutlook, "RedirectAddr").Text() != "bob@example.com" {
		t.Fatalf("redirectAddr %v", a.ChildElements())
	}
	srv.SetAutodiscoverUser("alias@example.com", AutodiscoverUser{RedirectURL: "https://ad2.example.com/autodiscover/autodiscover.xml"})
	a = kid(t, pox("alias@example.com", nsPOXOutlook), nsPOXOutlook, "Account")
	if kid(t, a, nsPOXOutlook, "Action").Text() != "redirectUrl" || kid(t, a, nsPOXOutlook, "RedirectUrl").Text() == "" {
		t.Fatalf("redirectUrl %v", a.ChildElements())
	}
}

func TestAutodiscover_HTTPRedirectMethod(t *testing.T) {
	srv := adTestServer(t)
	if resp, _ := adPost(t, srv.AutodiscoverPOXURL(), "", true); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET without a redirect configured: HTTP %d, want 401", resp.StatusCode)
	}
	srv.SetAutodiscoverHTTPRedirect("https://autodiscover.example.net/autodiscover/autodiscover.xml")
	resp, _ := adPost(t, srv.AutodiscoverPOXURL(), "", true)
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "https://autodiscover.example.net/autodiscover/autodiscover.xml" {
		t.Fatalf("unauthenticated GET: HTTP %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

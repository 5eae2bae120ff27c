package ewstest

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/beevik/etree"
)

// Namespaces of Autodiscover ([REF] getusersettings-operation-soap,
// pox-autodiscover-request-for-exchange, pox-autodiscover-response-for-exchange).
const (
	nsAD          = "http://schemas.microsoft.com/exchange/2010/Autodiscover"
	nsWSA         = "http://www.w3.org/2005/08/addressing"
	nsXSI         = "http://www.w3.org/2001/XMLSchema-instance"
	nsPOXRequest  = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
	nsPOXResponse = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
	nsPOXOutlook  = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
	adActionBase  = "http://schemas.microsoft.com/exchange/2010/Autodiscover/Autodiscover/"
)

// adSchemas is the EwsSupportedSchemas value (what the EWS endpoint
// accepts as RequestServerVersion, by name).
const adSchemas = "Exchange2007, Exchange2007_SP1, Exchange2010, Exchange2010_SP1, Exchange2010_SP2, Exchange2013, Exchange2013_SP1, Exchange2016"

// serveAutodiscoverSOAP answers GetUserSettings.
func (s *Server) serveAutodiscoverSOAP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "SOAP Autodiscover accepts POST only", http.StatusMethodNotAllowed)
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBytes+1))
	if err != nil || len(data) > maxRequestBytes {
		adFault(w, nsSOAP11, "s:Client", "The request body could not be read.")
		return
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(data); err != nil || doc.Root() == nil || doc.Root().Tag != "Envelope" {
		adFault(w, nsSOAP11, "s:Client", "The request is not a SOAP envelope.")
		return
	}
	env := doc.Root()
	soapNS := env.NamespaceURI()
	if soapNS != nsSOAP11 && soapNS != nsSOAP12 {
		adFault(w, nsSOAP11, "s:VersionMismatch", "The envelope namespace is not SOAP.")
		return
	}
	var msg *etree.Element
	if b := adChild(env, soapNS, "Body"); b != nil && len(b.ChildElements()) > 0 {
		msg = b.ChildElements()[0]
	}
	if msg == nil || msg.NamespaceURI() != nsAD || msg.Tag != "GetUserSettingsRequestMessage" {
		action := ""
		if h := adChild(env, soapNS, "Header"); h != nil {
			action = strings.TrimSpace(adChild(h, nsWSA, "Action").Text())
		}
		adFault(w, soapNS, "a:ActionNotSupported", fmt.Sprintf("The message with Action '%s' cannot be processed at the receiver, due to a ContractFilter mismatch at the EndpointDispatcher.", action))
		return
	}
	s.stats.count("GetUserSettings")
	req := adChild(msg, nsAD, "Request")
	var users, settings []string
	for _, u := range adChildren(adChild(req, nsAD, "Users"), nsAD, "User") {
		users = append(users, strings.TrimSpace(adChild(u, nsAD, "Mailbox").Text()))
	}
	for _, st := range adChildren(adChild(req, nsAD, "RequestedSettings"), nsAD, "Setting") {
		settings = append(settings, strings.TrimSpace(st.Text()))
	}

	out := etree.NewDocument()
	out.CreateProcInst("xml", `version="1.0" encoding="utf-8"`)
	oenv := out.CreateElement("s:Envelope")
	oenv.CreateAttr("xmlns:s", soapNS)
	oenv.CreateAttr("xmlns:a", nsWSA)
	hdr := oenv.CreateElement("s:Header")
	act := hdr.CreateElement("a:Action")
	act.CreateAttr("s:mustUnderstand", "1")
	act.SetText(adActionBase + "GetUserSettingsResponse")
	svi := hdr.CreateElement("h:ServerVersionInfo")
	svi.CreateAttr("xmlns:h", nsAD)
	svi.CreateAttr("xmlns:i", nsXSI)
	v := s.opts.Version
	for _, kv := range [][2]string{{"MajorVersion", strconv.Itoa(v.MajorVersion)}, {"MinorVersion", strconv.Itoa(v.MinorVersion)},
		{"MajorBuildNumber", strconv.Itoa(v.MajorBuildNumber)}, {"MinorBuildNumber", strconv.Itoa(v.MinorBuildNumber)},
		{"Version", "Exchange2013_SP1"}} {
		svi.CreateElement("h:" + kv[0]).SetText(kv[1])
	}
	rm := oenv.CreateElement("s:Body").CreateElement("GetUserSettingsResponseMessage")
	rm.CreateAttr("xmlns", nsAD)
	resp := rm.CreateElement("Response")
	resp.CreateAttr("xmlns:i", nsXSI)

	s.ad.mu.Lock()
	failCode := s.ad.failure.ErrorCode
	s.ad.mu.Unlock()
	code, text := "NoError", ""
	switch {
	case failCode != "":
		code, text = failCode, "The request failed ("+failCode+")."
	case len(users) == 0:
		code, text = "InvalidRequest", "The request must name at least one user."
	case len(settings) == 0:
		code, text = "InvalidRequest", "The request must name at least one setting."
	}
	resp.CreateElement("ErrorCode").SetText(code)
	resp.CreateElement("ErrorMessage").SetText(text)
	urs := resp.CreateElement("UserResponses")
	if code == "NoError" {
		for _, u := range users {
			s.adUserResponse(urs.CreateElement("UserResponse"), u, settings, r)
		}
	}
	writeADXML(w, http.StatusOK, out)
}

// adUserResponse fills one UserResponse.
func (s *Server) adUserResponse(ur *etree.Element, address string, settings []string, r *http.Request) {
	status := func(code, text, target string) {
		ur.CreateElement("ErrorCode").SetText(code)
		ur.CreateElement("ErrorMessage").SetText(text)
		rt := ur.CreateElement("RedirectTarget")
		if target == "" {
			rt.CreateAttr("i:nil", "true")
		} else {
			rt.SetText(target)
		}
	}
	if o, ok := s.ad.override(address, requestHost(r)); ok {
		switch {
		case o.RedirectAddress != "":
			status("RedirectAddress", "Redirection address.", o.RedirectAddress)
		case o.RedirectURL != "":
			status("RedirectUrl", "Redirection URL.", o.RedirectURL)
		default:
			msg := o.ErrorMessage
			if msg == "" {
				msg = o.ErrorCode + "."
			}
			status(o.ErrorCode, msg, "")
		}
		ur.CreateElement("UserSettingErrors")
		ur.CreateElement("UserSettings")
		return
	}
	mb, ok := s.lookupAD(address, r)
	if !ok {
		status("InvalidUser", "Invalid user: '"+address+"'", "")
		ur.CreateElement("UserSettingErrors")
		ur.CreateElement("UserSettings")
		return
	}
	status("NoError", "No error.", "")
	values := s.adSettings(mb)
	errs := ur.CreateElement("UserSettingErrors")
	list := ur.CreateElement("UserSettings")
	for _, name := range settings {
		val, known := values[name]
		if !known {
			e := errs.CreateElement("UserSettingError")
			e.CreateElement("ErrorCode").SetText("InvalidSetting")
			e.CreateElement("ErrorMessage").SetText("The requested setting is not valid.")
			e.CreateElement("SettingName").SetText(name)
			continue
		}
		us := list.CreateElement("UserSetting")
		us.CreateAttr("i:type", "StringSetting")
		us.CreateElement("Name").SetText(name)
		us.CreateElement("Value").SetText(val)
	}
}

// adSettings are the user settings of a mailbox by name.
func (s *Server) adSettings(mb adMailbox) map[string]string {
	v := s.opts.Version
	cas := fmt.Sprintf("%02d.%02d.%04d.%03d", v.MajorVersion, v.MinorVersion, v.MajorBuildNumber, v.MinorBuildNumber)
	extHost := mb.backend
	if u, err := url.Parse(mb.externalURL); err == nil {
		extHost = u.Hostname()
	}
	return map[string]string{
		"UserDisplayName":         mb.m.user,
		"UserDN":                  "/o=ewstest/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=" + mb.m.user,
		"UserDeploymentId":        "a40e2742-21c6-4050-8ed2-d41f100c22b8",
		"AutoDiscoverSMTPAddress": mb.m.address,
		"InternalMailboxServer":   mb.backend,
		"ExternalMailboxServer":   extHost,
		"MailboxDN":               adMailboxDN(mb.backend),
		"ActiveDirectoryServer":   "dc01.example.com",
		"CasVersion":              cas,
		"ExternalEwsVersion":      cas,
		"EwsSupportedSchemas":     adSchemas,
		"ExternalEwsUrl":          mb.externalURL,
		"InternalEwsUrl":          mb.internalURL,
		"GroupingInformation":     mb.grouping,
	}
}

func adMailboxDN(backend string) string {
	return "/o=ewstest/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Configuration/cn=Servers/cn=" + backend + "/cn=Microsoft Private MDB"
}

// serveAutodiscoverPOX answers a POX Autodiscover request.
func (s *Server) serveAutodiscoverPOX(w http.ResponseWriter, r *http.Request) {
	s.stats.count("Autodiscover")
	if r.Method != http.MethodPost {
		s.poxError(w, "600", "Invalid Request")
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBytes+1))
	doc := etree.NewDocument()
	if err != nil || len(data) > maxRequestBytes || doc.ReadFromBytes(data) != nil || doc.Root() == nil ||
		doc.Root().Tag != "Autodiscover" || doc.Root().NamespaceURI() != nsPOXRequest {
		s.poxError(w, "600", "Invalid Request")
		return
	}
	req := adChild(doc.Root(), nsPOXRequest, "Request")
	address := strings.TrimSpace(adChild(req, nsPOXRequest, "EMailAddress").Text())
	schema := strings.TrimSpace(adChild(req, nsPOXRequest, "AcceptableResponseSchema").Text())
	switch {
	case address == "":
		s.poxError(w, "600", "Invalid Request")
		return
	case schema != nsPOXOutlook:
		s.poxError(w, "601", "Provider is not available")
		return
	}
	out, resp := newPOXResponse(nsPOXOutlook)
	if o, ok := s.ad.override(address, requestHost(r)); ok {
		switch {
		case o.RedirectAddress != "":
			a := resp.CreateElement("Account")
			a.CreateElement("Action").SetText("redirectAddr")
			a.CreateElement("RedirectAddr").SetText(o.RedirectAddress)
		case o.RedirectURL != "":
			a := resp.CreateElement("Account")
			a.CreateElement("Action").SetText("redirectUrl")
			a.CreateElement("RedirectUrl").SetText(o.RedirectURL)
		case o.ErrorCode == "InvalidUser":
			s.poxError(w, "500", "The email address can't be found.")
			return
		default:
			s.poxError(w, "600", "Invalid Request")
			return
		}
		writeADXML(w, http.StatusOK, out)
		return
	}
	mb, ok := s.lookupAD(address, r)
	if !ok {
		s.poxError(w, "500", "The email address can't be found.")
		return
	}
	vals := s.adSettings(mb)
	u := resp.CreateElement("User")
	u.CreateElement("DisplayName").SetText(vals["UserDisplayName"])
	u.CreateElement("LegacyDN").SetText(vals["UserDN"])
	u.CreateElement("AutoDiscoverSMTPAddress").SetText(mb.m.address)
	u.CreateElement("DeploymentId").SetText(vals["UserDeploymentId"])
	a := resp.CreateElement("Account")
	a.CreateElement("AccountType").SetText("email")
	a.CreateElement("Action").SetText("settings")
	a.CreateElement("MicrosoftOnline").SetText("False")
	v := s.opts.Version
	// ServerVersion: 4 bits structure version (7), 6 major, 6 minor, a
	// flag bit, 15 bits build ([REF] serverversion-pox).
	sv := fmt.Sprintf("%08X", uint32(7)<<28|uint32(v.MajorVersion&0x3f)<<22|uint32(v.MinorVersion&0x3f)<<16|1<<15|uint32(v.MajorBuildNumber&0x7fff))
	exch := a.CreateElement("Protocol")
	for _, kv := range [][2]string{{"Type", "EXCH"}, {"Server", mb.backend}, {"ServerDN", "/o=ewstest/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Configuration/cn=Servers/cn=" + mb.backend},
		{"ServerVersion", sv}, {"MdbDN", adMailboxDN(mb.backend)}, {"AD", vals["ActiveDirectoryServer"]},
		{"ASUrl", mb.internalURL}, {"EwsUrl", mb.internalURL}, {"OOFUrl", mb.internalURL}} {
		exch.CreateElement(kv[0]).SetText(kv[1])
	}
	expr := a.CreateElement("Protocol")
	ssl := "Off"
	if strings.HasPrefix(mb.externalURL, "https:") {
		ssl = "On"
	}
	for _, kv := range [][2]string{{"Type", "EXPR"}, {"Server", vals["ExternalMailboxServer"]}, {"SSL", ssl}, {"AuthPackage", s.poxAuthPackage()},
		{"ServerVersion", sv}, {"ASUrl", mb.externalURL}, {"EwsUrl", mb.externalURL}, {"OOFUrl", mb.externalURL},
		{"GroupingInformation", mb.grouping}} {
		if kv[1] != "" {
			expr.CreateElement(kv[0]).SetText(kv[1])
		}
	}
	writeADXML(w, http.StatusOK, out)
}

// poxAuthPackage names the server's authentication for POX AuthPackage.
func (s *Server) poxAuthPackage() string {
	switch strings.ToLower(s.opts.Auth.Mode) {
	case AuthBasic:
		return "Basic"
	case AuthNTLM:
		return "Ntlm"
	}
	return ""
}

// newPOXResponse starts a POX Autodiscover response and returns it with its
// Response element, in namespace respNS (the Outlook schema for settings,
// the response schema for an error).
func newPOXResponse(respNS string) (*etree.Document, *etree.Element) {
	out := etree.NewDocument()
	out.CreateProcInst("xml", `version="1.0" encoding="utf-8"`)
	root := out.CreateElement("Autodiscover")
	root.CreateAttr("xmlns", nsPOXResponse)
	resp := root.CreateElement("Response")
	resp.CreateAttr("xmlns", respNS)
	return out, resp
}

// poxError writes a POX Error response.
func (s *Server) poxError(w http.ResponseWriter, code, message string) {
	out, resp := newPOXResponse(nsPOXResponse)
	e := resp.CreateElement("Error")
	now := s.now()
	e.CreateAttr("Time", now.Format("15:04:05.0000000"))
	e.CreateAttr("Id", strconv.FormatUint(uint64(now.UnixNano()%4294967296), 10))
	e.CreateElement("ErrorCode").SetText(code)
	e.CreateElement("Message").SetText(message)
	e.CreateElement("DebugData")
	writeADXML(w, http.StatusOK, out)
}

// adFault writes a WCF-style SOAP fault with HTTP 500.
func adFault(w http.ResponseWriter, soapNS, code, text string) {
	out := etree.NewDocument()
	env := out.CreateElement("s:Envelope")
	env.CreateAttr("xmlns:s", soapNS)
	f := env.CreateElement("s:Body").CreateElement("s:Fault")
	fc := f.CreateElement("faultcode")
	fc.CreateAttr("xmlns:a", nsWSA)
	fc.SetText(code)
	fs := f.CreateElement("faultstring")
	fs.CreateAttr("xml:lang", "en-US")
	fs.SetText(text)
	writeADXML(w, http.StatusInternalServerError, out)
}

func writeADXML(w http.ResponseWriter, status int, doc *etree.Document) {
	b, err := doc.WriteToBytes()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// adChild returns e's first child element in namespace ns named local,
// or an empty element so that chains stay safe.
func adChild(e *etree.Element, ns, local string) *etree.Element {
	if k := adChildren(e, ns, local); len(k) > 0 {
		return k[0]
	}
	return etree.NewElement("none")
}

// adChildren returns e's child elements in namespace ns named local.
func adChildren(e *etree.Element, ns, local string) []*etree.Element {
	var out []*etree.Element
	if e == nil {
		return nil
	}
	for _, c := range e.ChildElements() {
		if c.NamespaceURI() == ns && c.Tag == local {
			out = append(out, c)
		}
	}
	return out
}

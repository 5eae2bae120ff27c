package ewstest

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/beevik/etree"
	"github.com/mailsync/mailsync/ews/ewstest/internal/authn"
)

// XML namespaces of SOAP and EWS.
const (
	nsSOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
	nsSOAP12 = "http://www.w3.org/2003/05/soap-envelope"
	nsM      = "http://schemas.microsoft.com/exchange/services/2006/messages"
	nsT      = "http://schemas.microsoft.com/exchange/services/2006/types"
	nsE      = "http://schemas.microsoft.com/exchange/services/2006/errors"
)

// maxRequestBytes bounds a request body.
const maxRequestBytes = 64 << 20

// requestVersions are the RequestServerVersion values the schema allows.
var requestVersions = map[string]int{
	"Exchange2007": 0, "Exchange2007_SP1": 1, "Exchange2009": 2, "Exchange2010": 3, "Exchange2010_SP1": 4,
	"Exchange2010_SP2": 5, "Exchange2012": 6, "Exchange2013": 7, "Exchange2013_SP1": 8, "Exchange2015": 9,
	"Exchange2016": 10, "V2015_10_05": 11, "V2016_01_06": 12, "V2016_04_13": 13, "V2016_07_13": 14,
	"V2016_10_10": 15, "V2017_01_07": 16, "V2017_04_14": 17, "V2017_07_11": 18,
}

// versionAtLeast reports whether the request's schema version is v or
// later. A request without RequestServerVersion asks for no particular
// schema and may use every operation: Microsoft's own examples omit the
// header, GetStreamingEvents (an Exchange 2010 SP1 operation) included.
func (r *request) versionAtLeast(v string) bool {
	if !r.versionSet {
		return true
	}
	return requestVersions[r.version] >= requestVersions[v]
}

// request is one SOAP request being served.
type request struct {
	s       *Server
	ctx     context.Context
	http    *http.Request
	rw      http.ResponseWriter
	soap12  bool
	version string
	// versionSet says the request carried RequestServerVersion.
	versionSet bool
	// noNSOp says the operation element was in no namespace (see run).
	noNSOp bool
	op     string
	body   *etree.Element // the operation element
	// caller is the authenticated logon name, "" when unauthenticated.
	caller string
	// mb is the mailbox the request acts on (the caller's, or the
	// impersonated one).
	mb *Mailbox
	w  *xw
	// handled is set by handlers that wrote the HTTP response themselves.
	handled bool
}

// serveSOAP is the EWS endpoint.
func (s *Server) serveSOAP(rw http.ResponseWriter, hr *http.Request) {
	start := time.Now()
	if hr.Method != http.MethodPost {
		rw.Header().Set("Allow", http.MethodPost)
		http.Error(rw, "EWS accepts POST only", http.StatusMethodNotAllowed)
		return
	}
	if s.faults.takeDrop() {
		if hj, ok := rw.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
	if !s.faults.waitLatency(hr.Context()) {
		return
	}
	rw = countingWriter{rw, &s.stats.bytes}
	r := &request{s: s, ctx: hr.Context(), http: hr, rw: rw, w: newXW()}
	err := r.run()
	if r.handled {
		return
	}
	var f *Fault
	if errors.As(err, &f) {
		r.writeFault(f)
	} else if err != nil {
		r.writeFault(toFault(err))
	} else {
		r.writeEnvelope()
	}
	s.log.Debug("ewstest: request", "op", r.op, "mailbox", r.mailboxAddr(), "err", err, "duration", time.Since(start))
}

func (r *request) mailboxAddr() string {
	if r.mb == nil {
		return ""
	}
	return r.mb.address
}

func schemaFault(format string, args ...any) *Fault {
	return &Fault{Code: "ErrorSchemaValidation", Message: "The request failed schema validation: " + fmt.Sprintf(format, args...)}
}

// run parses the envelope, resolves the caller and dispatches.
func (r *request) run() error {
	data, err := io.ReadAll(io.LimitReader(r.http.Body, maxRequestBytes+1))
	if err != nil {
		return schemaFault("the request body could not be read")
	}
	if len(data) > maxRequestBytes {
		return schemaFault("the request is too large")
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(data); err != nil {
		return schemaFault("%v", err)
	}
	env := doc.Root()
	if env == nil || env.Tag != "Envelope" {
		return schemaFault("the root element is not a SOAP Envelope")
	}
	switch env.NamespaceURI() {
	case nsSOAP11:
	case nsSOAP12:
		r.soap12 = true
	default:
		return schemaFault("the Envelope namespace %q is not SOAP", env.NamespaceURI())
	}
	soapNS := env.NamespaceURI()
	var header, body *etree.Element
	for _, c := range env.ChildElements() {
		switch {
		case c.NamespaceURI() == soapNS && c.Tag == "Header" && header == nil && body == nil:
			header = c
		case c.NamespaceURI() == soapNS && c.Tag == "Body" && body == nil:
			body = c
		default:
			return schemaFault("unexpected element %s in Envelope", c.Tag)
		}
	}
	if body == nil {
		return schemaFault("the Envelope has no Body")
	}
	ops := body.ChildElements()
	if len(ops) != 1 {
		return schemaFault("the Body must hold exactly one operation")
	}
	r.body = ops[0]
	r.op = r.body.Tag
	if r.body.NamespaceURI() == "" {
		// Microsoft's push Subscribe example leaves the operation element
		// in no namespace and declares the messages namespace on its
		// child; accept such a request when its children are EWS ones.
		if kids := r.body.ChildElements(); len(kids) > 0 && kids[0].NamespaceURI() == nsM {
			r.noNSOp = true
		}
	}
	if r.body.NamespaceURI() != nsM && !r.noNSOp {
		return schemaFault("the element %s is not in the EWS messages namespace", r.op)
	}
	r.s.stats.count(r.op)
	if err := r.parseHeader(header); err != nil {
		return err
	}
	if f := r.s.faults.takeBusy(); f != nil {
		return f
	}
	if f := r.s.faults.runHook(r.op, r.mailboxAddr()); f != nil {
		return f
	}
	op, ok := r.s.lookupOp(r.op)
	if !ok {
		if knownOperations[r.op] {
			return &Fault{Code: "ErrorInvalidRequest", Message: "The request is invalid: the operation " + r.op + " is not supported by this server."}
		}
		return schemaFault("the element %s is not a known EWS operation", r.op)
	}
	if err := op.checkChildren(r.op, r.body); err != nil {
		return err
	}
	return op.serve(r)
}

// parseHeader checks RequestServerVersion and resolves the caller and the
// target mailbox (ExchangeImpersonation, X-AnchorMailbox).
func (r *request) parseHeader(header *etree.Element) error {
	r.version = "Exchange2007"
	var imp *etree.Element
	if header != nil {
		for _, c := range header.ChildElements() {
			if c.NamespaceURI() != nsT {
				continue
			}
			switch c.Tag {
			case "RequestServerVersion":
				a := c.SelectAttr("Version")
				if a == nil {
					return schemaFault("the required attribute 'Version' is missing")
				}
				if _, ok := requestVersions[a.Value]; !ok {
					return &Fault{Code: "ErrorInvalidServerVersion"}
				}
				r.version = a.Value
				r.versionSet = true
			case "ExchangeImpersonation":
				imp = c
			}
		}
	}
	caller, authed := authn.UserFromContext(r.ctx)
	if authed {
		r.caller = caller
	}
	if imp != nil {
		target, err := r.impersonationTarget(imp)
		if err != nil {
			return err
		}
		if authed && !r.s.canImpersonate(caller, target) {
			return &Fault{Code: "ErrorImpersonateUserDenied"}
		}
		r.mb = target
		return nil
	}
	if authed {
		if u, ok := r.s.LookupUser(caller); ok {
			r.mb = r.s.Mailbox(u.Address)
		} else {
			r.mb = r.s.Mailbox(caller)
		}
		if r.mb == nil {
			return &Fault{Code: "ErrorNonExistentMailbox", Message: "The user " + caller + " has no mailbox on this server."}
		}
		return nil
	}
	if a := r.http.Header.Get("X-AnchorMailbox"); a != "" {
		if r.mb = r.s.Mailbox(a); r.mb == nil {
			return &Fault{Code: "ErrorNonExistentMailbox", Message: "The SMTP address has no mailbox associated with it."}
		}
		return nil
	}
	r.s.mu.RLock()
	if len(r.s.mailboxes) == 1 {
		for _, m := range r.s.mailboxes {
			r.mb = m
		}
	}
	r.s.mu.RUnlock()
	if r.mb == nil {
		return &Fault{Code: "ErrorNonExistentMailbox", Message: "The request is not authenticated and names no mailbox (use ExchangeImpersonation or X-AnchorMailbox)."}
	}
	return nil
}

func (r *request) impersonationTarget(imp *etree.Element) (*Mailbox, error) {
	sid := childT(imp, "ConnectingSID")
	if sid == nil {
		return nil, &Fault{Code: "ErrorInvalidExchangeImpersonationHeaderData"}
	}
	for _, c := range sid.ChildElements() {
		v := strings.TrimSpace(c.Text())
		switch c.Tag {
		case "SmtpAddress", "PrimarySmtpAddress", "PrincipalName":
			if m := r.s.Mailbox(v); m != nil {
				return m, nil
			}
			if u, ok := r.s.LookupUser(strings.SplitN(v, "@", 2)[0]); ok && c.Tag == "PrincipalName" {
				return r.s.Mailbox(u.Address), nil
			}
			return nil, &Fault{Code: "ErrorNonExistentMailbox", Message: "The SMTP address has no mailbox associated with it."}
		case "SID":
			return nil, &Fault{Code: "ErrorNonExistentMailbox", Message: "The SID does not name a mailbox on this server."}
		}
	}
	return nil, &Fault{Code: "ErrorInvalidExchangeImpersonationHeaderData"}
}

// canImpersonate reports whether the logon name caller may act as m.
func (s *Server) canImpersonate(caller string, m *Mailbox) bool {
	if u, ok := s.LookupUser(caller); ok && strings.EqualFold(u.Address, m.address) {
		return true
	}
	u, _ := s.LookupUser(caller)
	for _, n := range s.opts.ImpersonationUsers {
		if strings.EqualFold(n, caller) || (u.Address != "" && strings.EqualFold(n, u.Address)) {
			return true
		}
	}
	return false
}

// mayAccess reports whether the request may touch mailbox m (its own, an
// unauthenticated request, or a caller with the impersonation right).
func (r *request) mayAccess(m *Mailbox) bool {
	return m == r.mb || r.caller == "" || r.s.canImpersonate(r.caller, m)
}

// writeEnvelope writes the success envelope around r.w.
func (r *request) writeEnvelope() {
	r.writeHTTP(http.StatusOK, r.envelope(r.w.String()))
}

func (r *request) envelope(body string) []byte {
	soapNS := nsSOAP11
	if r.soap12 {
		soapNS = nsSOAP12
	}
	v := r.s.opts.Version
	var b bytes.Buffer
	b.Grow(len(body) + 700)
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="` + soapNS + `"><s:Header>`)
	fmt.Fprintf(&b, `<h:ServerVersionInfo MajorVersion="%d" MinorVersion="%d" MajorBuildNumber="%d" MinorBuildNumber="%d"`,
		v.MajorVersion, v.MinorVersion, v.MajorBuildNumber, v.MinorBuildNumber)
	if v.Version != "" {
		b.WriteString(` Version="` + escapeAttr(v.Version) + `"`)
	}
	b.WriteString(` xmlns:h="` + nsT + `" xmlns="` + nsT + `" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema"/></s:Header>`)
	b.WriteString(`<s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">`)
	b.WriteString(body)
	b.WriteString(`</s:Body></s:Envelope>`)
	return b.Bytes()
}

func (r *request) writeHTTP(status int, data []byte) {
	ct := "text/xml; charset=utf-8"
	if r.soap12 {
		ct = "application/soap+xml; charset=utf-8"
	}
	h := r.rw.Header()
	h.Set("Content-Type", ct)
	if r.s.opts.Compression && len(data) > 1024 && acceptsGzip(r.http.Header.Get("Accept-Encoding")) {
		var zb bytes.Buffer
		zw := gzip.NewWriter(&zb)
		zw.Write(data)
		zw.Close()
		data = zb.Bytes()
		h.Set("Content-Encoding", "gzip")
		h.Add("Vary", "Accept-Encoding")
	}
	h.Set("Content-Length", strconv.Itoa(len(data)))
	h.Set("X-FEServer", "EWSTEST")
	if id := r.http.Header.Get("client-request-id"); id != "" {
		h.Set("request-id", id)
		if strings.EqualFold(r.http.Header.Get("return-client-request-id"), "true") {
			h.Set("client-request-id", id)
		}
	}
	r.rw.WriteHeader(status)
	r.rw.Write(data)
}

// acceptsGzip reports whether an Accept-Encoding value allows gzip.
func acceptsGzip(v string) bool {
	for _, part := range strings.Split(v, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") {
			return !strings.Contains(strings.ReplaceAll(params, " ", ""), "q=0") || strings.Contains(params, "q=0.")
		}
	}
	return false
}

// writeFault writes a SOAP fault with HTTP 500, shaped as Exchange's.
func (r *request) writeFault(f *Fault) {
	w := newXW()
	text := f.text()
	if r.soap12 {
		w.raw(`<s:Fault><s:Code><s:Value>s:Receiver</s:Value><s:Subcode><s:Value xmlns:a="` + nsT + `">a:` + f.Code + `</s:Value></s:Subcode></s:Code>`)
		w.raw(`<s:Reason><s:Text xml:lang="en-US">` + escapeText(text) + `</s:Text></s:Reason><s:Detail>`)
	} else {
		w.raw(`<s:Fault><faultcode xmlns:a="` + nsT + `">a:` + f.Code + `</faultcode><faultstring xml:lang="en-US">` + escapeText(text) + `</faultstring><detail>`)
	}
	w.raw(`<e:ResponseCode xmlns:e="` + nsE + `">` + f.Code + `</e:ResponseCode><e:Message xmlns:e="` + nsE + `">` + escapeText(text) + `</e:Message>`)
	if f.BackOff > 0 {
		w.raw(`<t:MessageXml xmlns:t="` + nsT + `"><t:Value Name="BackOffMilliseconds">` + strconv.FormatInt(f.BackOff.Milliseconds(), 10) + `</t:Value></t:MessageXml>`)
	}
	if r.soap12 {
		w.raw(`</s:Detail></s:Fault>`)
	} else {
		w.raw(`</detail></s:Fault>`)
	}
	soapNS := nsSOAP11
	if r.soap12 {
		soapNS = nsSOAP12
	}
	// Exchange sends no ServerVersionInfo header with a fault.
	data := []byte(`<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="` + soapNS + `"><s:Body>` + w.String() + `</s:Body></s:Envelope>`)
	r.writeHTTP(http.StatusInternalServerError, data)
}

// messageText is Exchange's MessageText for a response code.
func messageText(code string) string {
	if t, ok := messageTexts[code]; ok {
		return t
	}
	return "The request failed: " + code + "."
}

var messageTexts = map[string]string{
	"ErrorItemNotFound":                           "The specified object was not found in the store.",
	"ErrorFolderNotFound":                         "The specified folder could not be found in the store.",
	"ErrorSyncFolderNotFound":                     "The specified folder could not be found in the store.",
	"ErrorInvalidSyncStateData":                   "Synchronization state data is corrupt or otherwise invalid.",
	"ErrorIrresolvableConflict":                   "The send or update operation could not be performed because the change key passed in the request does not match the current change key for the item.",
	"ErrorFolderExists":                           "A folder with the specified name already exists.",
	"ErrorFolderSavePropertyError":                "The folder save operation failed due to invalid property values.",
	"ErrorDeleteDistinguishedFolder":              "Distinguished folders cannot be deleted.",
	"ErrorMoveDistinguishedFolder":                "Cannot move distinguished folder.",
	"ErrorMoveCopyFailed":                         "The move or copy operation failed.",
	"ErrorInvalidIdMalformed":                     "Id is malformed.",
	"ErrorNonExistentMailbox":                     "The SMTP address has no mailbox associated with it.",
	"ErrorSchemaValidation":                       "The request failed schema validation.",
	"ErrorInvalidServerVersion":                   "The specified server version is invalid.",
	"ErrorServerBusy":                             "The server cannot service this request right now. Try again later.",
	"ErrorImpersonateUserDenied":                  "The account does not have permission to impersonate the requested user.",
	"ErrorInvalidExchangeImpersonationHeaderData": "ExchangeImpersonation SOAP header must be present for this type of request.",
	"ErrorAccessDenied":                           "Access is denied. Check credentials and try again.",
	"ErrorInvalidRequest":                         "The request is invalid.",
	"ErrorInternalServerError":                    "An internal server error occurred. The operation failed.",
	"ErrorInvalidOperation":                       "The operation is not valid.",
	"ErrorUnsupportedPathForQuery":                "The property path is not supported for queries.",
	"ErrorUnsupportedPathForSortGroup":            "The property path is not supported for sorting or grouping.",
	"ErrorInvalidRestriction":                     "The restriction is invalid.",
	"ErrorInvalidPropertySet":                     "The property set is invalid.",
	"ErrorInvalidPropertyRequest":                 "The property request is invalid.",
	"ErrorInvalidChangeKey":                       "The change key is invalid.",
	"ErrorInvalidPagingMaxRows":                   "The paging max rows value is invalid.",
	"ErrorInvalidIndexedPagingParameters":         "The indexed paging parameters are invalid.",
	"ErrorInvalidSubscriptionRequest":             "The subscription request is invalid.",
	"ErrorUnsupportedMimeConversion":              "The MIME content could not be converted.",
}

// xw is a minimal, fast XML writer for responses.
type xw struct{ b strings.Builder }

func newXW() *xw { return &xw{} }

func (w *xw) String() string { return w.b.String() }

func (w *xw) raw(s string) { w.b.WriteString(s) }

// open writes <tag a1="v1" ...>; attrs are name/value pairs.
func (w *xw) open(tag string, attrs ...string) {
	w.b.WriteByte('<')
	w.b.WriteString(tag)
	w.attrs(attrs)
	w.b.WriteByte('>')
}

func (w *xw) attrs(attrs []string) {
	for i := 0; i+1 < len(attrs); i += 2 {
		w.b.WriteByte(' ')
		w.b.WriteString(attrs[i])
		w.b.WriteString(`="`)
		w.b.WriteString(escapeAttr(attrs[i+1]))
		w.b.WriteByte('"')
	}
}

func (w *xw) close(tag string) {
	w.b.WriteString("</")
	w.b.WriteString(tag)
	w.b.WriteByte('>')
}

// empty writes <tag a="v"/>.
func (w *xw) empty(tag string, attrs ...string) {
	w.b.WriteByte('<')
	w.b.WriteString(tag)
	w.attrs(attrs)
	w.b.WriteString("/>")
}

// elem writes <tag>text</tag> with text escaped.
func (w *xw) elem(tag, text string) {
	w.b.WriteByte('<')
	w.b.WriteString(tag)
	w.b.WriteByte('>')
	w.b.WriteString(escapeText(text))
	w.close(tag)
}

// status opens a response message (or response) element with its
// ResponseClass and writes MessageText, ResponseCode and
// DescriptiveLinkKey; attrs go before ResponseClass.
func (w *xw) status(tag, class, text, code string, attrs ...string) {
	w.open(tag, append(attrs, "ResponseClass", class)...)
	w.elem("m:MessageText", text)
	w.elem("m:ResponseCode", code)
	w.elem("m:DescriptiveLinkKey", "0")
}

func (w *xw) elemInt(tag string, n int64) { w.elem(tag, strconv.FormatInt(n, 10)) }

func (w *xw) elemBool(tag string, v bool) { w.elem(tag, strconv.FormatBool(v)) }

func (w *xw) elemTime(tag string, t time.Time) { w.elem(tag, t.UTC().Format("2006-01-02T15:04:05Z")) }

func needsEscape(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '<', c == '>', c == '&', c == '"', c == '\'', c < 0x20 && c != '\n' && c != '\t', c >= 0x80:
			return true
		}
	}
	return false
}

// escapeText escapes s for XML character data as Exchange does: control
// characters become character references (&#x1a;), invalid UTF-8 and the
// non-characters U+FFFE and U+FFFF are dropped.
func escapeText(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for _, r := range s {
		switch {
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '&':
			b.WriteString("&amp;")
		case r == '"':
			b.WriteString("&quot;")
		case r == '\'':
			b.WriteString("&apos;")
		case r == '\t', r == '\n':
			b.WriteRune(r)
		case r == '\r':
			b.WriteString("&#xD;")
		case r < 0x20:
			// Exchange writes a control character as a character
			// reference, although XML 1.0 forbids it (a Subject with
			// 0x1A comes as &#x1A;), and clients must cope.
			b.WriteString("&#x")
			b.WriteString(strconv.FormatInt(int64(r), 16))
			b.WriteByte(';')
		case r == utf8.RuneError, r == 0xFFFE, r == 0xFFFF:
			// not representable in XML 1.0
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func escapeAttr(s string) string { return escapeText(s) }

// Request parsing helpers: elements are matched by namespace URI and local
// name, never by prefix.

func childNS(el *etree.Element, ns, local string) *etree.Element {
	if el == nil {
		return nil
	}
	for _, c := range el.ChildElements() {
		if c.Tag == local && c.NamespaceURI() == ns {
			return c
		}
	}
	return nil
}

func childrenNS(el *etree.Element, ns, local string) []*etree.Element {
	if el == nil {
		return nil
	}
	var out []*etree.Element
	for _, c := range el.ChildElements() {
		if c.Tag == local && c.NamespaceURI() == ns {
			out = append(out, c)
		}
	}
	return out
}

func childM(el *etree.Element, local string) *etree.Element { return childNS(el, nsM, local) }
func childT(el *etree.Element, local string) *etree.Element { return childNS(el, nsT, local) }

func textOf(el *etree.Element) string {
	if el == nil {
		return ""
	}
	return strings.TrimSpace(el.Text())
}

func attr(el *etree.Element, name string) string {
	if el == nil {
		return ""
	}
	for _, a := range el.Attr {
		if a.Key == name && (a.Space == "" || a.NamespaceURI() == "") {
			return a.Value
		}
	}
	return ""
}

// boolAttr parses the required xs:boolean attribute name of the
// operation element.
func (r *request) boolAttr(name string) (bool, error) {
	v, err := parseBool(attr(r.body, name))
	if err != nil {
		return false, schemaFault("the %s attribute is missing or invalid", name)
	}
	return v, nil
}

func parseBool(s string) (bool, error) {
	switch strings.TrimSpace(s) {
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, schemaFault("%q is not a valid xs:boolean", s)
}

// respBegin opens m:<Op>Response and m:ResponseMessages.
func (r *request) respBegin() {
	r.w.open("m:"+r.op+"Response", "xmlns:m", nsM, "xmlns:t", nsT)
	r.w.open("m:ResponseMessages")
}

func (r *request) respEnd() {
	r.w.close("m:ResponseMessages")
	r.w.close("m:" + r.op + "Response")
}

// msgOK opens a Success response message; close it with msgClose.
func (r *request) msgOK() {
	r.w.open("m:"+r.op+"ResponseMessage", "ResponseClass", "Success")
	r.w.elem("m:ResponseCode", "NoError")
}

func (r *request) msgClose() { r.w.close("m:" + r.op + "ResponseMessage") }

// msgDone writes an empty Success response message.
func (r *request) msgDone() {
	r.msgOK()
	r.msgClose()
}

// msgFolderID writes a Success response message holding the folder's id
// in m:Folders. Caller holds m.mu.
func (r *request) msgFolderID(m *Mailbox, f *folder) {
	r.msgOK()
	r.w.open("m:Folders")
	el := folderElement(f.class)
	r.w.open(el)
	m.writeFolderID(r.w, "t:FolderId", f)
	r.w.close(el)
	r.w.close("m:Folders")
	r.msgClose()
}

// msgItemID writes a Success response message holding an item id in
// m:Items, in the element of the item's class.
func (r *request) msgItemID(class, id, changeKey string) {
	r.msgOK()
	r.w.open("m:Items")
	el := itemElement(class)
	r.w.open(el)
	r.w.empty("t:ItemId", "Id", id, "ChangeKey", changeKey)
	r.w.close(el)
	r.w.close("m:Items")
	r.msgClose()
}

// msgError writes a complete Error response message for err, followed by
// the empty payload containers Exchange includes (e.g. "m:Items").
func (r *request) msgError(err error, empty ...string) {
	code := ResponseCode(err)
	text := messageText(code)
	var re *responseError
	if errors.As(err, &re) && re.msg != "" {
		text = re.msg
	}
	r.w.status("m:"+r.op+"ResponseMessage", "Error", text, code)
	var f *Fault
	if errors.As(err, &f) && f.BackOff > 0 {
		r.w.raw(`<m:MessageXml><t:Value Name="BackOffMilliseconds">` + itoa(f.BackOff.Milliseconds()) + `</t:Value></m:MessageXml>`)
	}
	for _, e := range empty {
		r.w.empty(e)
	}
	r.msgClose()
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// toFault turns err into a request-wide fault with its response code.
func toFault(err error) *Fault {
	if f, ok := asFault(err); ok {
		return f
	}
	var re *responseError
	msg := ""
	if errors.As(err, &re) {
		msg = re.msg
	}
	return &Fault{Code: ResponseCode(err), Message: msg}
}

// asFault returns err as a request-wide fault when it is one.
func asFault(err error) (*Fault, bool) {
	var f *Fault
	if errors.As(err, &f) {
		return f, true
	}
	return nil, false
}

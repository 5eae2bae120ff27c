package ewstest

// The body variants Exchange returns only when a request names them (not
// for AllProperties):
// item:UniqueBody (Exchange 2010), item:NormalizedBody and item:TextBody
// (Exchange 2013). The fake has no conversation to diff against, so
// UniqueBody is the whole body, as Exchange gives for a message that
// quotes nothing.

// writeBodyVariant writes one of the body variants: TextBody always as
// text, NormalizedBody always as HTML, UniqueBody as the shape's BodyType
// asks (HTML for Best, as Exchange does).
func writeBodyVariant(w *xw, tag string, sh *shape, msg *Message) {
	want := "HTML"
	switch {
	case tag == "t:TextBody":
		want = "Text"
	case tag == "t:UniqueBody" && sh.bodyType == "Text":
		want = "Text"
	}
	bt, body := msg.BodyType, msg.Body
	if bt == "" {
		bt = "Text"
	}
	switch {
	case want == "HTML" && bt == "Text":
		body = "<html><body><pre>" + escapeText(body) + "</pre></body></html>"
	case want == "Text" && bt == "HTML":
		body = stripTags(body)
	}
	w.open(tag, "BodyType", want, "IsTruncated", "false")
	w.raw(escapeText(body))
	w.close(tag)
}

package ews

import (
	"strconv"
	"strings"

	"github.com/beevik/etree"

	"github.com/mailsync/mailsync/ews/internal/ewsxml"
)

const (
	nsS = ewsxml.NSSoap
	nsM = ewsxml.NSMessages
	nsT = ewsxml.NSTypes
)

// decodeEnvelope parses a response body for op, with at most maxTags '<'
// characters (0: no limit). A SOAP Fault is returned as
// a *FaultError; anything that is not the expected envelope as an error
// wrapping ErrMalformedResponse. Response messages with an error class get
// a *ResponseError in their Err field.
func decodeEnvelope(op string, body []byte, maxTags int) (*soapResponse, error) {
	body, lifted := extractMIME(body)
	env, err := parseEnvelope(op, body, maxTags)
	if err != nil {
		return nil, err
	}
	sr := &soapResponse{mime: lifted}
	var bodyEl *etree.Element
	for _, tok := range env.Child {
		el, ok := tok.(*etree.Element)
		if !ok {
			continue
		}
		switch {
		case ewsxml.Is(el, nsS, "Header"):
			if v := ewsxml.FirstChild(el, nsT, "ServerVersionInfo"); v != nil {
				sr.ServerVersion = decodeServerVersion(v)
			}
		case ewsxml.Is(el, nsS, "Body"):
			bodyEl = el
		}
	}
	if bodyEl == nil {
		return nil, malformedf(op, "envelope has no Body")
	}
	payload, err := bodyPayload(op, bodyEl)
	if err != nil {
		return nil, err
	}
	if !ewsxml.Is(payload, nsM, op+"Response") {
		return nil, malformedf(op, "body holds {%s}%s, want {%s}%sResponse", payload.Space, payload.Tag, nsM, op)
	}
	rms := ewsxml.FirstChild(payload, nsM, "ResponseMessages")
	if rms == nil {
		return nil, malformedf(op, "%sResponse has no ResponseMessages", op)
	}
	for _, tok := range rms.Child {
		el, ok := tok.(*etree.Element)
		if !ok {
			continue
		}
		if el.Space != nsM || !strings.HasSuffix(el.Tag, "ResponseMessage") {
			return nil, malformedf(op, "unexpected {%s}%s in ResponseMessages", el.Space, el.Tag)
		}
		m, err := decodeMessage(op, el)
		if err != nil {
			return nil, err
		}
		sr.Messages = append(sr.Messages, m)
	}
	return sr, nil
}

// decodeMessage reads the status part of one response message.
func decodeMessage(op string, el *etree.Element) (responseMessage, error) {
	st := ewsxml.ReadStatus(el)
	m := responseMessage{Elem: el, Class: st.Class, Code: Code(st.Code)}
	switch m.Class {
	case "Success", "Warning", "Error":
	default:
		return m, malformedf(op, "%s has ResponseClass %q", el.Tag, m.Class)
	}
	if m.Code == "" {
		if m.Class != "Success" {
			return m, malformedf(op, "%s with class %s has no ResponseCode", el.Tag, m.Class)
		}
		m.Code = "NoError"
	}
	if m.Class == "Error" || (m.Class == "Warning" && m.Code != "NoError") {
		m.Err = newResponseError(op, m.Class, m.Code, st)
	}
	return m, nil
}

// newResponseError builds the *ResponseError of a response message whose
// status st has the given class and code.
func newResponseError(op, class string, code Code, st ewsxml.Status) *ResponseError {
	re := &ResponseError{Op: op, Class: class, Code: code, Message: st.Text, MessageXML: messageXMLValues(st.MessageXML)}
	var inner string
	re.BackOff, inner = ewsxml.Hints(st.MessageXML)
	re.InnerCode = Code(inner)
	return re
}

// messageXMLValues converts the codec's MessageXml entries.
func messageXMLValues(vs []ewsxml.Value) []MessageXMLValue {
	if vs == nil {
		return nil
	}
	out := make([]MessageXMLValue, len(vs))
	for i, v := range vs {
		out[i] = MessageXMLValue{Name: v.Name, Value: v.Value}
	}
	return out
}

// parseEnvelope parses body, with at most maxTags '<' characters (0: no
// limit), and returns its root, which must be a SOAP 1.1 Envelope.
func parseEnvelope(op string, body []byte, maxTags int) (*etree.Element, error) {
	doc, err := ewsxml.ParseBytes(body, ewsxml.ParseOptions{MaxTags: maxTags})
	if err != nil {
		return nil, malformed(op, err)
	}
	env := doc.Root()
	if !ewsxml.Is(env, nsS, "Envelope") {
		return nil, malformedf(op, "root element is {%s}%s, not a SOAP 1.1 Envelope", env.Space, env.Tag)
	}
	return env, nil
}

// bodyPayload returns the first element inside a SOAP Body (none when body
// is nil). A SOAP Fault there is returned as a *FaultError.
func bodyPayload(op string, body *etree.Element) (*etree.Element, error) {
	var payload *etree.Element
	for el := range ewsxml.Children(body) {
		payload = el
		break
	}
	switch {
	case payload == nil:
		return nil, malformedf(op, "empty SOAP Body")
	case ewsxml.Is(payload, nsS, "Fault"):
		return nil, decodeFault(op, payload)
	}
	return payload, nil
}

// decodeFault reads a SOAP 1.1 Fault as a *FaultError.
func decodeFault(op string, f *etree.Element) *FaultError {
	ft := ewsxml.ReadFault(f)
	fe := &FaultError{Op: op, StatusCode: 500, FaultCode: ft.FaultCode, FaultString: ft.FaultString,
		Code: Code(ft.Code), Message: ft.Message, MessageXML: messageXMLValues(ft.MessageXML)}
	fe.BackOff, _ = ewsxml.Hints(ft.MessageXML)
	return fe
}

func decodeServerVersion(el *etree.Element) *ServerVersionInfo {
	atoi := func(k string) int {
		n, _ := strconv.Atoi(ewsxml.Attr(el, k))
		return n
	}
	return &ServerVersionInfo{
		MajorVersion:     atoi("MajorVersion"),
		MinorVersion:     atoi("MinorVersion"),
		MajorBuildNumber: atoi("MajorBuildNumber"),
		MinorBuildNumber: atoi("MinorBuildNumber"),
		Version:          ewsxml.Attr(el, "Version"),
	}
}

// payloadChildren calls fn for each child element of a response message
// other than its status elements.
func payloadChildren(m *etree.Element, fn func(*etree.Element) error) error {
	for _, tok := range m.Child {
		c, ok := tok.(*etree.Element)
		if !ok {
			continue
		}
		if c.Space == nsM {
			switch c.Tag {
			case "MessageText", "ResponseCode", "DescriptiveLinkKey", "MessageXml":
				continue
			}
		}
		if err := fn(c); err != nil {
			return err
		}
	}
	return nil
}

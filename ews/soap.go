package ews

import (
	"strconv"
	"strings"
	"time"

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
	doc, err := ewsxml.ParseBytes(body, ewsxml.ParseOptions{MaxTags: maxTags})
	if err != nil {
		return nil, malformed(op, err)
	}
	env := doc.Root()
	if !ewsxml.Is(env, nsS, "Envelope") {
		return nil, malformedf(op, "root element is {%s}%s, not a SOAP 1.1 Envelope", env.Space, env.Tag)
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
	var payload *etree.Element
	for _, tok := range bodyEl.Child {
		if el, ok := tok.(*etree.Element); ok {
			payload = el
			break
		}
	}
	switch {
	case payload == nil:
		return nil, malformedf(op, "empty SOAP Body")
	case ewsxml.Is(payload, nsS, "Fault"):
		return nil, decodeFault(op, payload)
	case !ewsxml.Is(payload, nsM, op+"Response"):
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
	m := responseMessage{Elem: el, Class: ewsxml.Attr(el, "ResponseClass")}
	switch m.Class {
	case "Success", "Warning", "Error":
	default:
		return m, malformedf(op, "%s has ResponseClass %q", el.Tag, m.Class)
	}
	var text string
	var mx []MessageXMLValue
	for _, tok := range el.Child {
		c, ok := tok.(*etree.Element)
		if !ok || c.Space != nsM {
			continue
		}
		switch c.Tag {
		case "MessageText":
			text = ewsxml.Text(c)
		case "ResponseCode":
			m.Code = Code(ewsxml.Text(c))
		case "MessageXml":
			mx = decodeMessageXML(c)
		}
	}
	if m.Code == "" {
		if m.Class != "Success" {
			return m, malformedf(op, "%s with class %s has no ResponseCode", el.Tag, m.Class)
		}
		m.Code = "NoError"
	}
	if m.Class == "Error" || (m.Class == "Warning" && m.Code != "NoError") {
		re := &ResponseError{Op: op, Class: m.Class, Code: m.Code, Message: text, MessageXML: mx}
		fillHints(&re.BackOff, &re.InnerCode, mx)
		m.Err = re
	}
	return m, nil
}

// decodeMessageXML reads t:Value Name= entries and other simple children.
func decodeMessageXML(el *etree.Element) []MessageXMLValue {
	var out []MessageXMLValue
	for _, tok := range el.Child {
		c, ok := tok.(*etree.Element)
		if !ok {
			continue
		}
		name := c.Tag
		if c.Tag == "Value" {
			if n := ewsxml.Attr(c, "Name"); n != "" {
				name = n
			}
		}
		out = append(out, MessageXMLValue{Name: name, Value: ewsxml.Text(c)})
	}
	return out
}

// fillHints extracts BackOffMilliseconds and InnerErrorResponseCode.
func fillHints(backOff *time.Duration, inner *Code, mx []MessageXMLValue) {
	for _, v := range mx {
		switch v.Name {
		case "BackOffMilliseconds":
			if n, err := strconv.ParseInt(v.Value, 10, 64); err == nil && n > 0 && n < 24*3600*1000 {
				*backOff = time.Duration(n) * time.Millisecond
			}
		case "InnerErrorResponseCode":
			if inner != nil {
				*inner = Code(v.Value)
			}
		}
	}
}

// decodeFault reads a SOAP 1.1 Fault. Its children are unqualified; the
// detail children are matched by local name whatever their namespace.
func decodeFault(op string, f *etree.Element) *FaultError {
	fe := &FaultError{Op: op, StatusCode: 500}
	for _, tok := range f.Child {
		c, ok := tok.(*etree.Element)
		if !ok {
			continue
		}
		switch c.Tag {
		case "faultcode":
			fe.FaultCode = ewsxml.Text(c)
		case "faultstring":
			fe.FaultString = ewsxml.Text(c)
		case "detail":
			for _, dt := range c.Child {
				d, ok := dt.(*etree.Element)
				if !ok {
					continue
				}
				switch d.Tag {
				case "ResponseCode":
					fe.Code = Code(ewsxml.Text(d))
				case "Message":
					fe.Message = ewsxml.Text(d)
				case "MessageXml":
					fe.MessageXML = decodeMessageXML(d)
				}
			}
		}
	}
	if fe.Code == "" {
		fe.Code = Code(ewsxml.LocalName(fe.FaultCode))
	}
	var inner Code
	fillHints(&fe.BackOff, &inner, fe.MessageXML)
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

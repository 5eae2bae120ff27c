package ewsxml

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"
)

// Value is one entry of a MessageXml block: a t:Value element's Name
// attribute and text, or another child element's local name and text.
type Value struct {
	Name, Value string
}

// MessageXML reads the entries of a MessageXml element (m:MessageXml in a
// response message, or MessageXml in a fault's detail), in document order.
// A t:Value without a Name is named "Value". A nil el has none.
func MessageXML(el *etree.Element) []Value {
	var out []Value
	for c := range Children(el) {
		name := c.Tag
		if c.Tag == "Value" {
			if n := Attr(c, "Name"); n != "" {
				name = n
			}
		}
		out = append(out, Value{Name: name, Value: Text(c)})
	}
	return out
}

// Hints returns the two entries of a MessageXml block that steer a
// client: BackOffMilliseconds as a duration (zero when absent, not
// positive or a day or longer) and InnerErrorResponseCode ("" when
// absent).
func Hints(vs []Value) (backOff time.Duration, inner string) {
	for _, v := range vs {
		switch v.Name {
		case "BackOffMilliseconds":
			if n, err := strconv.ParseInt(v.Value, 10, 64); err == nil && n > 0 && n < 24*3600*1000 {
				backOff = time.Duration(n) * time.Millisecond
			}
		case "InnerErrorResponseCode":
			inner = v.Value
		}
	}
	return backOff, inner
}

// Status is the status part of a response message: its ResponseClass
// attribute and its m:ResponseCode, m:MessageText and m:MessageXml
// children (all optional).
type Status struct {
	Class, Code, Text string
	MessageXML        []Value
}

// ReadStatus reads the status part of a response message element.
func ReadStatus(el *etree.Element) Status {
	s := Status{Class: Attr(el, "ResponseClass")}
	s.Code, s.Text, s.MessageXML = readCode(el, NSMessages, "MessageText")
	return s
}

// readCode reads what a response message and a fault's detail both carry:
// the ResponseCode, the text element named textTag and the MessageXml
// among el's children in namespace ns ("": any namespace).
func readCode(el *etree.Element, ns, textTag string) (code, text string, mx []Value) {
	for c := range Children(el) {
		if ns != "" && c.Space != ns {
			continue
		}
		switch c.Tag {
		case "ResponseCode":
			code = Text(c)
		case textTag:
			text = Text(c)
		case "MessageXml":
			mx = MessageXML(c)
		}
	}
	return code, text, mx
}

// Fault is the content of a SOAP 1.1 soap:Fault element.
type Fault struct {
	// FaultCode and FaultString are the fault's faultcode and
	// faultstring.
	FaultCode, FaultString string
	// Code is the detail's ResponseCode, or else the local part of
	// FaultCode (e.g. "ErrorServerBusy" for "a:ErrorServerBusy").
	Code string
	// Message is the detail's Message.
	Message string
	// MessageXML holds the detail's MessageXml entries.
	MessageXML []Value
}

// ReadFault reads a soap:Fault. Its children are unqualified, and the
// detail's children are matched by local name whatever their namespace,
// as servers differ.
func ReadFault(f *etree.Element) Fault {
	var out Fault
	for c := range Children(f) {
		switch c.Tag {
		case "faultcode":
			out.FaultCode = Text(c)
		case "faultstring":
			out.FaultString = Text(c)
		case "detail":
			out.Code, out.Message, out.MessageXML = readCode(c, "", "Message")
		}
	}
	if out.Code == "" {
		out.Code = LocalName(out.FaultCode)
	}
	return out
}

// ParseBool parses an xs:boolean ("true", "false", "1" or "0", with
// surrounding white space).
func ParseBool(s string) (bool, error) {
	switch strings.TrimSpace(s) {
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean", s)
}

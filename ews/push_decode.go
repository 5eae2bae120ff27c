package ews

import (
	"bytes"
	"fmt"
)

// SendNotificationMessage is one m:SendNotificationResponseMessage of a
// push POST. Exactly one of Notification and Err is set; SubscriptionID is
// set whenever the message names its subscription.
type SendNotificationMessage struct {
	// SubscriptionID is the subscription the message is for.
	SubscriptionID string
	// Notification is the notification of a successful message.
	Notification *Notification
	// Err is the *ResponseError of a message whose ResponseClass is
	// Error.
	Err error
}

// DecodeSendNotification decodes the body of a SendNotification POST
// (EWS-PROTOCOL.md S8) into its messages, in order. Elements are matched by
// namespace URI and local name; the Notification element is accepted in
// the messages or the types namespace. A body that is not XML, is not a
// SOAP envelope carrying m:SendNotification, or holds a malformed
// notification gives an error matching ErrMalformedNotification.
func DecodeSendNotification(body []byte) ([]SendNotificationMessage, error) {
	root, err := parseNtfDocument(bytes.NewReader(body))
	if err != nil {
		return nil, ntfSyntaxError(err)
	}
	if !root.is(ntfNSSoap, "Envelope") {
		return nil, fmt.Errorf("%w: root element <%s> is not a SOAP Envelope", ErrMalformedNotification, root.local)
	}
	sn := root.child(ntfNSSoap, "Body").child(ntfNSMessages, "SendNotification")
	rms := sn.child(ntfNSMessages, "ResponseMessages")
	if rms == nil {
		return nil, fmt.Errorf("%w: no m:SendNotification/m:ResponseMessages in the body", ErrMalformedNotification)
	}
	var out []SendNotificationMessage
	for _, rm := range rms.children {
		if !rm.is(ntfNSMessages, "SendNotificationResponseMessage") {
			continue
		}
		class, _ := rm.attr("ResponseClass")
		nn := rm.childAny("Notification", ntfNSMessages, ntfNSTypes)
		var m SendNotificationMessage
		if class == "Error" {
			m.Err = ntfMessageError("SendNotification", class, rm)
			if nn != nil {
				m.SubscriptionID = nn.childAny("SubscriptionId", ntfNSTypes, ntfNSMessages).trimmed()
			}
			out = append(out, m)
			continue
		}
		if nn == nil {
			return nil, fmt.Errorf("%w: SendNotificationResponseMessage without Notification", ErrMalformedNotification)
		}
		n, err := decodeNotification(nn)
		if err != nil {
			return nil, err
		}
		m.SubscriptionID, m.Notification = n.SubscriptionID, &n
		out = append(out, m)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: SendNotification without response messages", ErrMalformedNotification)
	}
	return out, nil
}

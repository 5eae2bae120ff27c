package ews

import (
	"fmt"

	"github.com/mailsync/mailsync/ews/internal/ewsxml"
)

// sendNotificationMessage is one m:SendNotificationResponseMessage of a
// push POST. Exactly one of Notification and Err is set; SubscriptionID is
// set whenever the message names its subscription.
type sendNotificationMessage struct {
	// SubscriptionID is the subscription the message is for.
	SubscriptionID string
	// Notification is the notification of a successful message.
	Notification *Notification
	// Err is the *ResponseError of a message whose ResponseClass is
	// Error.
	Err error
}

// decodeSendNotification decodes the body of a SendNotification POST
// (EWS-PROTOCOL.md S8) into its messages, in order, with the codec under
// the notification limits. Elements are matched by namespace URI and
// local name; the Notification element is accepted in the messages or the
// types namespace. A body that is not XML, is not a SOAP envelope carrying
// m:SendNotification, or holds a malformed notification gives an error
// matching ErrMalformedNotification.
func decodeSendNotification(body []byte) ([]sendNotificationMessage, error) {
	doc, err := ewsxml.ParseBytes(body, ntfParseOptions)
	if err != nil {
		return nil, ntfSyntaxError(err)
	}
	root := doc.Root()
	if !ewsxml.Is(root, nsS, "Envelope") {
		return nil, fmt.Errorf("%w: root element <%s> is not a SOAP Envelope", ErrMalformedNotification, root.Tag)
	}
	sn := ewsxml.FirstChild(ewsxml.FirstChild(root, nsS, "Body"), nsM, "SendNotification")
	rms := ewsxml.FirstChild(sn, nsM, "ResponseMessages")
	if rms == nil {
		return nil, fmt.Errorf("%w: no m:SendNotification/m:ResponseMessages in the body", ErrMalformedNotification)
	}
	var out []sendNotificationMessage
	for rm := range ewsxml.Children(rms) {
		if !ewsxml.Is(rm, nsM, "SendNotificationResponseMessage") {
			continue
		}
		nn := ewsxml.FirstChild(rm, nsM, "Notification")
		if nn == nil {
			nn = ewsxml.FirstChild(rm, nsT, "Notification")
		}
		var m sendNotificationMessage
		if ewsxml.Attr(rm, "ResponseClass") == "Error" {
			m.Err = ntfMessageError("SendNotification", rm)
			for c := range ewsxml.Children(nn) {
				if isNtf(c, "SubscriptionId") {
					m.SubscriptionID = ewsxml.Text(c)
					break
				}
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

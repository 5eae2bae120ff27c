package ews

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ConnectionStatus is the m:ConnectionStatus of a GetStreamingEvents
// envelope.
type ConnectionStatus string

// The connection states a streaming envelope reports.
const (
	// ConnectionOK means the hanging connection stays open.
	ConnectionOK ConnectionStatus = "OK"
	// ConnectionClosed means the server ends the response after this
	// envelope (ConnectionTimeout reached, or a connection-wide error).
	ConnectionClosed ConnectionStatus = "Closed"
)

// StreamMessage is the decoded content of one SOAP envelope of a
// GetStreamingEvents response body.
type StreamMessage struct {
	// Notifications are the notifications the envelope carried, in order.
	Notifications []Notification
	// Errors are the error response messages the envelope carried. An
	// error with SubscriptionIDs concerns only those subscriptions; one
	// without concerns the whole connection.
	Errors []StreamError
	// Status is the envelope's ConnectionStatus, or "" when it has none.
	Status ConnectionStatus
}

// KeepAlive reports whether the envelope carried neither notifications nor
// errors (the server's periodic keep-alive).
func (m *StreamMessage) KeepAlive() bool {
	return len(m.Notifications) == 0 && len(m.Errors) == 0
}

// StreamError is a GetStreamingEventsResponseMessage whose ResponseClass is
// Error (or a SOAP fault in the stream).
type StreamError struct {
	// SubscriptionIDs are the subscriptions the error concerns (from
	// m:ErrorSubscriptionIds); empty for a connection-wide error.
	SubscriptionIDs []string
	// Err is the typed error for the response code; errors.Is matches it
	// against the package's sentinels, and errors.As finds a
	// *ResponseError.
	Err error
}

// StreamReader splits a GetStreamingEvents response body into its SOAP
// envelopes and decodes each as soon as its end tag has been read. One
// xml.Decoder runs over the whole body, so an envelope split across many
// chunks and several envelopes in one chunk are both handled, whatever
// prefixes the server uses.
//
// A StreamReader is not safe for concurrent use.
type StreamReader struct {
	lr  *ntfLimitReader
	b   ntfBuilder
	max int64 // per-envelope byte budget
}

// NewStreamReader returns a reader of the envelopes in r. Each envelope
// may be at most 32 MiB; a larger one is an error matching
// ErrMalformedNotification (Exchange's envelopes hold at most 50 events).
func NewStreamReader(r io.Reader) *StreamReader {
	lr := &ntfLimitReader{r: r, left: ntfMaxMessageBytes}
	return &StreamReader{lr: lr, b: ntfBuilder{dec: newNtfDecoder(lr)}, max: ntfMaxMessageBytes}
}

// ntfLimitReader fails reads once more than a budget of bytes has been
// read since the last reset, so that one endless token cannot exhaust
// memory.
type ntfLimitReader struct {
	r    io.Reader
	left int64
}

func (l *ntfLimitReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, fmt.Errorf("%w: envelope over the size budget", ErrMalformedNotification)
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

// Next blocks until the next complete envelope has been read and returns
// it decoded. At the clean end of the body it returns io.EOF; a body cut
// inside an envelope gives io.ErrUnexpectedEOF, and malformed content an
// error matching ErrMalformedNotification. After an error the reader is
// unusable.
func (s *StreamReader) Next() (*StreamMessage, error) {
	// The decoder reads ahead a little, so the budget is approximate.
	s.lr.left = s.max
	for {
		tok, err := s.b.dec.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, io.EOF
			}
			return nil, ntfSyntaxError(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if !(t.Name.Space == ntfNSSoap && t.Name.Local == "Envelope") {
				return nil, fmt.Errorf("%w: stream element <%s> (namespace %q) is not a SOAP Envelope",
					ErrMalformedNotification, t.Name.Local, t.Name.Space)
			}
			env, err := s.b.build(t)
			if err != nil {
				if errors.Is(err, io.ErrUnexpectedEOF) {
					return nil, err
				}
				return nil, ntfSyntaxError(err)
			}
			return decodeStreamEnvelope(env)
		case xml.CharData:
			if len(strings.TrimSpace(string(t))) != 0 {
				return nil, fmt.Errorf("%w: text between envelopes", ErrMalformedNotification)
			}
		}
	}
}

// ntfSyntaxError wraps a decoder error as a malformed-notification error.
func ntfSyntaxError(err error) error {
	if errors.Is(err, ErrMalformedNotification) {
		return err
	}
	return fmt.Errorf("%w: %v", ErrMalformedNotification, err)
}

// decodeStreamEnvelope decodes one soap:Envelope of a streaming body.
func decodeStreamEnvelope(env *xnode) (*StreamMessage, error) {
	body := env.child(ntfNSSoap, "Body")
	if body == nil {
		return nil, fmt.Errorf("%w: envelope without soap:Body", ErrMalformedNotification)
	}
	if f := body.child(ntfNSSoap, "Fault"); f != nil {
		return &StreamMessage{Errors: []StreamError{{Err: ntfFaultError("GetStreamingEvents", f)}}, Status: ConnectionClosed}, nil
	}
	resp := body.child(ntfNSMessages, "GetStreamingEventsResponse")
	if resp == nil {
		return nil, fmt.Errorf("%w: envelope without m:GetStreamingEventsResponse", ErrMalformedNotification)
	}
	msgs := resp.child(ntfNSMessages, "ResponseMessages")
	if msgs == nil {
		return nil, fmt.Errorf("%w: GetStreamingEventsResponse without ResponseMessages", ErrMalformedNotification)
	}
	out := &StreamMessage{}
	seen := false
	for _, rm := range msgs.children {
		if !rm.is(ntfNSMessages, "GetStreamingEventsResponseMessage") {
			continue
		}
		seen = true
		if err := decodeStreamResponseMessage(rm, out); err != nil {
			return nil, err
		}
	}
	if !seen {
		return nil, fmt.Errorf("%w: no GetStreamingEventsResponseMessage", ErrMalformedNotification)
	}
	return out, nil
}

// decodeStreamResponseMessage adds the content of one
// GetStreamingEventsResponseMessage to out.
func decodeStreamResponseMessage(rm *xnode, out *StreamMessage) error {
	class, _ := rm.attr("ResponseClass")
	code := rm.child(ntfNSMessages, "ResponseCode").trimmed()
	if st := rm.child(ntfNSMessages, "ConnectionStatus"); st != nil {
		switch s := ConnectionStatus(st.trimmed()); s {
		case ConnectionOK, ConnectionClosed:
			// A Closed anywhere in the envelope wins.
			if out.Status != ConnectionClosed {
				out.Status = s
			}
		default:
			return fmt.Errorf("%w: ConnectionStatus %q", ErrMalformedNotification, st.trimmed())
		}
	}
	if nots := rm.child(ntfNSMessages, "Notifications"); nots != nil {
		for _, nn := range nots.children {
			if !(nn.local == "Notification" && (nn.space == ntfNSMessages || nn.space == ntfNSTypes)) {
				continue
			}
			n, err := decodeNotification(nn)
			if err != nil {
				return err
			}
			out.Notifications = append(out.Notifications, n)
		}
	}
	if class == "Error" || (code != "" && code != "NoError" && class != "Success") {
		se := StreamError{Err: ntfMessageError("GetStreamingEvents", class, rm)}
		if ids := rm.child(ntfNSMessages, "ErrorSubscriptionIds"); ids != nil {
			for _, c := range ids.children {
				if c.local == "SubscriptionId" && (c.space == ntfNSMessages || c.space == ntfNSTypes) {
					if id := c.trimmed(); id != "" {
						se.SubscriptionIDs = append(se.SubscriptionIDs, id)
					}
				}
			}
		}
		out.Errors = append(out.Errors, se)
	}
	return nil
}

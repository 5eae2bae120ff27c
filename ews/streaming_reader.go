package ews

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"

	"github.com/beevik/etree"

	"github.com/mailsync/mailsync/ews/internal/ewsxml"
)

// connectionStatus is the m:ConnectionStatus of a GetStreamingEvents
// envelope.
type connectionStatus string

// The connection states a streaming envelope reports.
const (
	// connectionOK means the hanging connection stays open.
	connectionOK connectionStatus = "OK"
	// connectionClosed means the server ends the response after this
	// envelope (ConnectionTimeout reached, or a connection-wide error).
	connectionClosed connectionStatus = "Closed"
)

// streamMessage is the decoded content of one SOAP envelope of a
// GetStreamingEvents response body.
type streamMessage struct {
	// Notifications are the notifications the envelope carried, in order.
	Notifications []Notification
	// Errors are the error response messages the envelope carried. An
	// error with SubscriptionIDs concerns only those subscriptions; one
	// without concerns the whole connection.
	Errors []streamError
	// Status is the envelope's ConnectionStatus, or "" when it has none.
	Status connectionStatus
}

// KeepAlive reports whether the envelope carried neither notifications nor
// errors (the server's periodic keep-alive).
func (m *streamMessage) KeepAlive() bool {
	return len(m.Notifications) == 0 && len(m.Errors) == 0
}

// streamError is a GetStreamingEventsResponseMessage whose ResponseClass is
// Error (or a SOAP fault in the stream).
type streamError struct {
	// SubscriptionIDs are the subscriptions the error concerns (from
	// m:ErrorSubscriptionIds); empty for a connection-wide error.
	SubscriptionIDs []string
	// Err is the typed error for the response code; errors.Is matches it
	// against the package's sentinels, and errors.As finds a
	// *ResponseError.
	Err error
}

// streamReader splits a GetStreamingEvents response body into its SOAP
// envelopes and decodes each as soon as its end tag has been read. One
// token decoder of the codec runs over the whole body, so an envelope
// split across many chunks and several envelopes in one chunk are both
// handled, whatever prefixes the server uses; each envelope becomes a
// resolved tree under the codec's notification limits.
//
// A streamReader is not safe for concurrent use.
type streamReader struct {
	lr  *ntfLimitReader
	dec *xml.Decoder
	max int64 // per-envelope byte budget
}

// newStreamReader returns a reader of the envelopes in r. Each envelope
// may be at most 32 MiB; a larger one (or one that never ends) is an
// error matching ErrMalformedNotification and ErrResponseTooLarge
// (Exchange's envelopes hold at most 50 events). Each envelope is also
// held to the notification limits of the codec (tags, attributes,
// namespace declarations, depth) while its bytes are read, before the
// decoder builds anything of them: markup past a limit is an error
// matching ErrMalformedNotification and the codec's typed error
// (ewsxml.ErrTooManyAttributes, ...), so what an envelope costs in memory
// stays a small multiple of its size budget, whatever its shape.
func newStreamReader(r io.Reader) *streamReader {
	lr := &ntfLimitReader{r: r, left: ntfMaxMessageBytes}
	dec := ewsxml.NewDecoder(ewsxml.NewLimitReader(lr, ntfLimits))
	return &streamReader{lr: lr, dec: dec, max: ntfMaxMessageBytes}
}

// ntfLimits are ntfParseOptions as the codec's limits on a stream.
var ntfLimits = ewsxml.Limits{MaxTags: ntfParseOptions.MaxTags, MaxDepth: ntfParseOptions.MaxDepth}

// ntfLimitReader fails reads once more than a budget of bytes has been
// read since the last reset, so that one endless token cannot exhaust
// memory.
type ntfLimitReader struct {
	r    io.Reader
	left int64
}

func (l *ntfLimitReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, fmt.Errorf("%w: %w: streaming envelope over the size budget", ErrMalformedNotification, ErrResponseTooLarge)
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
func (s *streamReader) Next() (*streamMessage, error) {
	// The decoder reads ahead a little, so the budget is approximate.
	s.lr.left = s.max
	for {
		tok, err := s.dec.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, io.EOF
			}
			return nil, ntfSyntaxError(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if !(t.Name.Space == nsS && t.Name.Local == "Envelope") {
				return nil, fmt.Errorf("%w: stream element <%s> (namespace %q) is not a SOAP Envelope",
					ErrMalformedNotification, t.Name.Local, t.Name.Space)
			}
			env, err := ewsxml.ReadElement(s.dec, t, ntfParseOptions)
			if err != nil {
				if errors.Is(err, io.ErrUnexpectedEOF) {
					return nil, err
				}
				return nil, ntfSyntaxError(err)
			}
			return decodeStreamEnvelope(env)
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return nil, fmt.Errorf("%w: text between envelopes", ErrMalformedNotification)
			}
		}
	}
}

// ntfSyntaxError wraps a codec error as a malformed-notification error;
// the codec's own errors (limits, syntax) stay matchable with errors.Is,
// as on the response path, while a read error of the connection is only
// described.
func ntfSyntaxError(err error) error {
	if errors.Is(err, ErrMalformedNotification) {
		return err
	}
	for _, e := range ntfCodecErrors {
		if errors.Is(err, e) {
			return fmt.Errorf("%w: %w", ErrMalformedNotification, err)
		}
	}
	return fmt.Errorf("%w: %v", ErrMalformedNotification, err)
}

// ntfCodecErrors are the codec's errors that ntfSyntaxError keeps.
var ntfCodecErrors = []error{ewsxml.ErrSyntax, ewsxml.ErrTooDeep, ewsxml.ErrTooManyTags,
	ewsxml.ErrTooManyAttributes, ewsxml.ErrTooManyNamespaces, ewsxml.ErrUndeclaredPrefix, ewsxml.ErrNoRoot}

// decodeStreamEnvelope decodes one soap:Envelope of a streaming body.
func decodeStreamEnvelope(env *etree.Element) (*streamMessage, error) {
	body := ewsxml.FirstChild(env, nsS, "Body")
	if body == nil {
		return nil, fmt.Errorf("%w: envelope without soap:Body", ErrMalformedNotification)
	}
	if f := ewsxml.FirstChild(body, nsS, "Fault"); f != nil {
		return &streamMessage{Errors: []streamError{{Err: decodeFault("GetStreamingEvents", f)}}, Status: connectionClosed}, nil
	}
	resp := ewsxml.FirstChild(body, nsM, "GetStreamingEventsResponse")
	if resp == nil {
		return nil, fmt.Errorf("%w: envelope without m:GetStreamingEventsResponse", ErrMalformedNotification)
	}
	msgs := ewsxml.FirstChild(resp, nsM, "ResponseMessages")
	if msgs == nil {
		return nil, fmt.Errorf("%w: GetStreamingEventsResponse without ResponseMessages", ErrMalformedNotification)
	}
	out := &streamMessage{}
	seen := false
	for rm := range ewsxml.Children(msgs) {
		if !ewsxml.Is(rm, nsM, "GetStreamingEventsResponseMessage") {
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
func decodeStreamResponseMessage(rm *etree.Element, out *streamMessage) error {
	class := ewsxml.Attr(rm, "ResponseClass")
	code := ewsxml.Text(ewsxml.FirstChild(rm, nsM, "ResponseCode"))
	if st := ewsxml.FirstChild(rm, nsM, "ConnectionStatus"); st != nil {
		switch s := connectionStatus(ewsxml.Text(st)); s {
		case connectionOK, connectionClosed:
			// A Closed anywhere in the envelope wins.
			if out.Status != connectionClosed {
				out.Status = s
			}
		default:
			return fmt.Errorf("%w: ConnectionStatus %q", ErrMalformedNotification, ewsxml.Text(st))
		}
	}
	for nn := range ewsxml.Children(ewsxml.FirstChild(rm, nsM, "Notifications")) {
		if !isNtf(nn, "Notification") {
			continue
		}
		n, err := decodeNotification(nn)
		if err != nil {
			return err
		}
		out.Notifications = append(out.Notifications, n)
	}
	if class == "Error" || (code != "" && code != "NoError" && class != "Success") {
		se := streamError{Err: ntfMessageError("GetStreamingEvents", rm)}
		for c := range ewsxml.Children(ewsxml.FirstChild(rm, nsM, "ErrorSubscriptionIds")) {
			if isNtf(c, "SubscriptionId") {
				if id := ewsxml.Text(c); id != "" {
					se.SubscriptionIDs = append(se.SubscriptionIDs, id)
				}
			}
		}
		out.Errors = append(out.Errors, se)
	}
	return nil
}

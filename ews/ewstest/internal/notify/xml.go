package notify

import (
	"strconv"
	"strings"
	"time"
)

// Namespace URIs of EWS SOAP messages.
const (
	NSSoap     = "http://schemas.xmlsoap.org/soap/envelope/"
	NSMessages = "http://schemas.microsoft.com/exchange/services/2006/messages"
	NSTypes    = "http://schemas.microsoft.com/exchange/services/2006/types"
)

var xmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;")

func appendEscaped(b []byte, s string) []byte {
	if !strings.ContainsAny(s, `&<>"'`) {
		return append(b, s...)
	}
	return append(b, xmlEscaper.Replace(s)...)
}

func appendText(b []byte, tag, text string) []byte {
	b = append(b, '<')
	b = append(b, tag...)
	b = append(b, '>')
	b = appendEscaped(b, text)
	b = append(b, "</"...)
	b = append(b, tag...)
	return append(b, '>')
}

func appendID(b []byte, tag string, id ID) []byte {
	b = append(b, '<')
	b = append(b, tag...)
	b = append(b, ` Id="`...)
	b = appendEscaped(b, id.ID)
	b = append(b, '"')
	if id.ChangeKey != "" {
		b = append(b, ` ChangeKey="`...)
		b = appendEscaped(b, id.ChangeKey)
		b = append(b, '"')
	}
	return append(b, "/>"...)
}

// TimeStamp formats an event time as EWS does (UTC, seconds).
func TimeStamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// AppendEvent appends one t:*Event element. Watermarks are written for
// pull and push notifications and left out on streaming ones, as Exchange
// does.
func AppendEvent(b []byte, e StampedEvent, withWatermark bool) []byte {
	tag := "t:" + string(e.Kind)
	b = append(b, '<')
	b = append(b, tag...)
	b = append(b, '>')
	if withWatermark && e.Watermark != "" {
		b = appendText(b, "t:Watermark", e.Watermark)
	}
	if e.Kind != StatusEvent {
		b = appendText(b, "t:TimeStamp", TimeStamp(e.Time))
		idTag, oldTag := "t:ItemId", "t:OldItemId"
		if e.Folder {
			idTag, oldTag = "t:FolderId", "t:OldFolderId"
		}
		b = appendID(b, idTag, e.ID)
		b = appendID(b, "t:ParentFolderId", e.ParentFolderID)
		if e.Kind == MovedEvent || e.Kind == CopiedEvent {
			b = appendID(b, oldTag, e.OldID)
			b = appendID(b, "t:OldParentFolderId", e.OldParentFolderID)
		}
		if e.Kind == ModifiedEvent && e.Folder && e.UnreadCount != nil {
			b = appendText(b, "t:UnreadCount", strconv.Itoa(*e.UnreadCount))
		}
	}
	b = append(b, "</"...)
	b = append(b, tag...)
	return append(b, '>')
}

// AppendNotification appends an m:Notification element (prefixes m and t
// must be bound by the caller). withWatermarks selects the pull/push shape
// (PreviousWatermark, MoreEvents and per-event Watermark) over the
// streaming one.
func AppendNotification(b []byte, n Notification, withWatermarks bool) []byte {
	b = append(b, "<m:Notification>"...)
	b = appendText(b, "t:SubscriptionId", n.SubscriptionID)
	if withWatermarks {
		if n.PreviousWatermark != "" {
			b = appendText(b, "t:PreviousWatermark", n.PreviousWatermark)
		}
		b = appendText(b, "t:MoreEvents", strconv.FormatBool(n.MoreEvents))
	}
	for _, e := range n.Events {
		b = AppendEvent(b, e, withWatermarks)
	}
	return append(b, "</m:Notification>"...)
}

// AppendFrameEnvelope appends one complete GetStreamingEvents SOAP
// envelope (no XML declaration, so that envelopes can follow each other in
// one body). header is the inner XML of the SOAP Header (e.g. a
// t:ServerVersionInfo element declaring its own namespace); empty omits
// the header.
//
// The envelope has Exchange's streaming wire form: an unprefixed
// <Envelope xmlns="...soap/envelope/"> around soap11:Header and
// soap11:Body that each declare the prefix. Clients that cut the stream
// into documents by the literal text <Envelope and </Envelope>
// (ews-javascript-api's GetStreamingEvents reader) depend on it.
func AppendFrameEnvelope(b []byte, f Frame, header string) []byte {
	b = append(b, `<Envelope xmlns="`+NSSoap+`">`...)
	if header != "" {
		b = append(b, `<soap11:Header xmlns:soap11="`+NSSoap+`">`...)
		b = append(b, header...)
		b = append(b, "</soap11:Header>"...)
	}
	b = append(b, `<soap11:Body xmlns:soap11="`+NSSoap+`"><m:GetStreamingEventsResponse xmlns:m="`+NSMessages+`" xmlns:t="`+NSTypes+`"><m:ResponseMessages>`...)
	if f.Err != nil {
		b = append(b, `<m:GetStreamingEventsResponseMessage ResponseClass="Error">`...)
		b = appendText(b, "m:MessageText", f.Err.Message)
		b = appendText(b, "m:ResponseCode", f.Err.Code)
		b = append(b, "<m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>"...)
	} else {
		b = append(b, `<m:GetStreamingEventsResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>`...)
	}
	if len(f.Notifications) > 0 {
		b = append(b, "<m:Notifications>"...)
		for _, n := range f.Notifications {
			b = AppendNotification(b, n, false)
		}
		b = append(b, "</m:Notifications>"...)
	}
	if len(f.ErrorIDs) > 0 {
		b = append(b, "<m:ErrorSubscriptionIds>"...)
		for _, id := range f.ErrorIDs {
			b = appendText(b, "m:SubscriptionId", id)
		}
		b = append(b, "</m:ErrorSubscriptionIds>"...)
	}
	if f.Status != "" {
		b = appendText(b, "m:ConnectionStatus", string(f.Status))
	}
	return append(b, "</m:GetStreamingEventsResponseMessage></m:ResponseMessages></m:GetStreamingEventsResponse></soap11:Body></Envelope>"...)
}

// AppendPushEnvelope appends the SendNotification request Exchange POSTs
// to a push subscriber (skeleton S8), XML declaration included.
func AppendPushEnvelope(b []byte, n Notification, version string) []byte {
	b = append(b, `<?xml version="1.0" encoding="utf-8"?>`...)
	b = append(b, `<soap:Envelope xmlns:soap="`+NSSoap+`" xmlns:m="`+NSMessages+`" xmlns:t="`+NSTypes+`">`...)
	b = append(b, `<soap:Header><t:RequestServerVersion Version="`...)
	b = appendEscaped(b, version)
	b = append(b, `"/></soap:Header><soap:Body><m:SendNotification><m:ResponseMessages>`...)
	b = append(b, `<m:SendNotificationResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>`...)
	b = AppendNotification(b, n, true)
	return append(b, `</m:SendNotificationResponseMessage></m:ResponseMessages></m:SendNotification></soap:Body></soap:Envelope>`...)
}

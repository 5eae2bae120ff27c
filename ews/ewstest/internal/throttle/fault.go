package throttle

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// ServerBusyMessage is the text Exchange gives with ErrorServerBusy.
const ServerBusyMessage = "The server cannot service this request right now. Try again later."

// ServerBusyFault returns the SOAP envelope of an ErrorServerBusy fault
// advising the client to back off for backoff (rounded down to a
// millisecond).
func ServerBusyFault(backoff time.Duration) []byte {
	return fmt.Appendf(nil, `<?xml version="1.0" encoding="utf-8"?>`+
		`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>`+
		`<faultcode xmlns:a="http://schemas.microsoft.com/exchange/services/2006/types">a:ErrorServerBusy</faultcode>`+
		`<faultstring xml:lang="en-US">%[1]s</faultstring>`+
		`<detail>`+
		`<e:ResponseCode xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">ErrorServerBusy</e:ResponseCode>`+
		`<e:Message xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">%[1]s</e:Message>`+
		`<t:MessageXml xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">`+
		`<t:Value Name="BackOffMilliseconds">%[2]s</t:Value></t:MessageXml>`+
		`</detail></s:Fault></s:Body></s:Envelope>`,
		ServerBusyMessage, strconv.FormatInt(backoff.Milliseconds(), 10))
}

// WriteServerBusy answers with HTTP 500 and the ErrorServerBusy fault.
func WriteServerBusy(w http.ResponseWriter, backoff time.Duration) {
	body := ServerBusyFault(backoff)
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusInternalServerError)
	w.Write(body)
}

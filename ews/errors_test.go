package ews

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestResponseError_Matching(t *testing.T) {
	re := &ResponseError{Op: "GetItem", Class: "Error", Code: ErrInternalServerError, InnerCode: ErrServerBusy,
		Message: "An internal server error occurred.", BackOff: 2500 * time.Millisecond,
		MessageXML: []MessageXMLValue{{"InnerErrorResponseCode", "ErrorServerBusy"}}}
	err := fmt.Errorf("sync inbox: %w", re)
	if !errors.Is(err, ErrInternalServerError) || !errors.Is(err, ErrServerBusy) || errors.Is(err, ErrItemNotFound) {
		t.Fatal("Is mismatch")
	}
	var code Code
	if !errors.As(err, &code) || code != ErrInternalServerError {
		t.Fatalf("As code = %q", code)
	}
	if !re.IsTransient() || re.NeedsResync() || re.SubscriptionLost() || re.Value("InnerErrorResponseCode") != "ErrorServerBusy" || re.Value("x") != "" {
		t.Fatal("classification")
	}
	if got := re.Error(); got != "ews: GetItem: ErrorInternalServerError (inner ErrorServerBusy): An internal server error occurred. (back off 2.5s)" {
		t.Fatalf("Error() = %q", got)
	}
	if !errors.Is(err, Code("ErrorInternalServerError")) {
		t.Fatal("unnamed code")
	}
}

func TestFaultAndHTTPError_Matching(t *testing.T) {
	fe := &FaultError{Op: "Subscribe", Code: ErrSubscriptionNotFound, FaultString: "gone"}
	var code Code
	if !errors.Is(fe, ErrSubscriptionNotFound) || !errors.As(fe, &code) || !fe.SubscriptionLost() || fe.IsTransient() || fe.NeedsResync() {
		t.Fatal("fault matching")
	}
	if fe.Error() != "ews: Subscribe: SOAP fault ErrorSubscriptionNotFound: gone" {
		t.Fatalf("%q", fe.Error())
	}
	he := &HTTPError{Op: "GetItem", StatusCode: 503, Status: "503 Service Unavailable", RetryAfter: time.Second}
	if !errors.Is(he, ErrServiceUnavailable) || errors.Is(he, ErrUnauthorized) || !he.IsTransient() {
		t.Fatal("http matching")
	}
	if (&HTTPError{StatusCode: 401}).IsTransient() || !errors.Is(&HTTPError{StatusCode: 401}, ErrUnauthorized) {
		t.Fatal("401")
	}
}

func TestCode_Classes(t *testing.T) {
	for _, c := range []Code{ErrInvalidSyncStateData, ErrSyncFolderNotFound, ErrFolderNotFound} {
		if !c.NeedsResync() {
			t.Errorf("%s should need a resync", c)
		}
	}
	for _, c := range []Code{ErrSubscriptionNotFound, ErrInvalidSubscription, ErrExpiredSubscription,
		ErrMissedNotificationEvents, ErrInvalidWatermark, ErrReadEventsFailed, ErrMailboxMoveInProgress} {
		if !c.SubscriptionLost() {
			t.Errorf("%s should lose the subscription", c)
		}
	}
	for _, c := range []Code{ErrServerBusy, ErrTooManyObjectsOpened, ErrProxiedSubscriptionCallFailure} {
		if !c.IsTransient() {
			t.Errorf("%s should be transient", c)
		}
	}
	if ErrItemNotFound.IsTransient() || ErrItemNotFound.NeedsResync() || ErrItemNotFound.SubscriptionLost() {
		t.Error("ErrorItemNotFound is none of these")
	}
}

func TestDecode_WarningKeepsPayload(t *testing.T) {
	body := strings.Replace(string(readTestdata(t, "getfolder", "legacy.response.xml")),
		`<m:GetFolderResponseMessage ResponseClass="Success">
          <m:ResponseCode>NoError</m:ResponseCode>`,
		`<m:GetFolderResponseMessage ResponseClass="Warning">
          <m:MessageText>Some properties were not returned.</m:MessageText>
          <m:ResponseCode>ErrorBatchProcessingStopped</m:ResponseCode>
          <m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>`, 1)
	sr, err := decodeEnvelope("GetFolder", []byte(body), 0)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := decodeGetFolder(sr, 2)
	if err != nil {
		t.Fatal(err)
	}
	var re *ResponseError
	if !errors.As(rs[0].Err, &re) || re.Class != "Warning" || !errors.Is(re, ErrBatchProcessingStopped) || rs[0].Folder.DisplayName != "Inbox" {
		t.Fatalf("result %+v err %v", rs[0], rs[0].Err)
	}
}

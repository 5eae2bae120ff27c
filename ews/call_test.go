package ews

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

const busyFault = `<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>
<faultcode xmlns:a="http://schemas.microsoft.com/exchange/services/2006/types">a:ErrorServerBusy</faultcode>
<faultstring xml:lang="en-US">The server cannot service this request right now. Try again later.</faultstring>
<detail><e:ResponseCode xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">ErrorServerBusy</e:ResponseCode>
<e:Message xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">The server cannot service this request right now. Try again later.</e:Message>
<t:MessageXml xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><t:Value Name="BackOffMilliseconds">30000</t:Value></t:MessageXml>
</detail></s:Fault></s:Body></s:Envelope>`

const unsubscribeOK = `<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header>
<h:ServerVersionInfo MajorVersion="15" MinorVersion="1" MajorBuildNumber="2507" MinorBuildNumber="6" Version="V2017_07_11" xmlns:h="http://schemas.microsoft.com/exchange/services/2006/types" xmlns="http://schemas.microsoft.com/exchange/services/2006/types"/>
</s:Header><s:Body><m:UnsubscribeResponse xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
<m:ResponseMessages><m:UnsubscribeResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode></m:UnsubscribeResponseMessage></m:ResponseMessages>
</m:UnsubscribeResponse></s:Body></s:Envelope>`

func TestClient_callRetriesBusyFault(t *testing.T) {
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !strings.Contains(string(body), "<m:Unsubscribe>") {
			t.Errorf("request body lacks the operation: %s", body)
		}
		n++
		if n == 1 {
			w.WriteHeader(500)
			io.WriteString(w, busyFault)
			return
		}
		io.WriteString(w, unsubscribeOK)
	}))
	defer srv.Close()
	fs := &fakeSleeper{}
	c, err := New(srv.URL, &Options{Logger: slog.New(slog.DiscardHandler), Clock: fs.clock(t)})
	if err != nil {
		t.Fatal(err)
	}
	el := newOp("Unsubscribe")
	el.CreateElement("m:SubscriptionId").SetText("SUB")
	resp, err := c.call(context.Background(), &callRequest{Op: "Unsubscribe", Body: el})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Messages) != 1 || resp.Messages[0].Err != nil {
		t.Fatalf("messages = %+v", resp.Messages)
	}
	if len(fs.delays) != 1 || fs.delays[0] != 30*time.Second {
		t.Fatalf("fs.delays %v, want [30s]", fs.delays)
	}
	if v, ok := c.ServerVersion(); !ok || v.MajorVersion != 15 || v.Version != "V2017_07_11" {
		t.Fatalf("server version = %+v %v", v, ok)
	}
	if n != 2 {
		t.Fatalf("requests = %d", n)
	}
}

func TestClient_callFaultTyped(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(500)
		io.WriteString(w, busyFault)
	}))
	defer srv.Close()
	c, _ := New(srv.URL, &Options{Retry: RetryPolicy{MaxAttempts: 1}})
	_, err := c.call(context.Background(), &callRequest{Op: "Unsubscribe", Body: newOp("Unsubscribe")})
	var fe *FaultError
	if !errors.As(err, &fe) || !errors.Is(err, ErrServerBusy) || fe.BackOff != 30*time.Second {
		t.Fatalf("err = %v", err)
	}
}

package ews

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"github.com/beevik/etree"
)

// syncPage512 builds a SyncFolderItems response with 512 Create changes,
// each a message with full metadata as MessageMetadataShape returns it
// (plus the extra elements Exchange adds), about 1.9 KB per change.
func syncPage512() []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header><h:ServerVersionInfo MajorVersion="15" MinorVersion="2" MajorBuildNumber="1118" MinorBuildNumber="7" Version="V2017_07_11" xmlns:h="http://schemas.microsoft.com/exchange/services/2006/types" xmlns="http://schemas.microsoft.com/exchange/services/2006/types" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/></s:Header><s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema"><m:SyncFolderItemsResponse xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><m:ResponseMessages><m:SyncFolderItemsResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:SyncState>H4sIAAAAAAAEAO29B2AcSZYlJi9tynt/SvVK1+B0oQiAYBMk2JBAEOzBiM3mkuwdaUcjKasqgcplVmVdZhZAzO2dvPfee++999577733fp/3Pz4iMjIzSqHRIvCZZJjJ96Imv5q0QAAAA==</m:SyncState><m:IncludesLastItemInRange>false</m:IncludesLastItemInRange><m:Changes>`)
	for i := range MaxSyncChanges {
		fmt.Fprintf(&b, `<t:Create><t:Message><t:ItemId Id="AAMkADkzNjJjODUzLWZhMDMtNDVkMS05ZDdjLWVmMDlkYjQ1Zjc4MwBGAAAAAACq%06dAAA=" ChangeKey="CQAAABYAAADZGACZQpSgSpyNkexYe2b7AAA%06d"/><t:ParentFolderId Id="AAMkADkzNjJjODUzLWZhMDMtNDVkMS05ZDdjLWVmMDlkYjQ1Zjc4MwAuAAAAAAA=" ChangeKey="AQAAAA=="/><t:ItemClass>IPM.Note</t:ItemClass><t:Subject>RE: Quarterly review %d: numbers, owners &amp; next steps</t:Subject><t:Sensitivity>Normal</t:Sensitivity><t:DateTimeReceived>2024-05-01T10:%02d:%02dZ</t:DateTimeReceived><t:Size>%d</t:Size><t:Categories><t:String>Finance</t:String><t:String>Follow up</t:String></t:Categories><t:Importance>Normal</t:Importance><t:DateTimeSent>2024-05-01T10:%02d:%02dZ</t:DateTimeSent><t:DateTimeCreated>2024-05-01T10:%02d:%02dZ</t:DateTimeCreated><t:DisplayCc>Legal Team</t:DisplayCc><t:DisplayTo>Mara Whitley; Executives</t:DisplayTo><t:HasAttachments>%t</t:HasAttachments><t:ConversationId Id="AAQkADkzNjJjODUzLWZhMDMtNDVkMS05ZDdjLWVmMDlkYjQ1Zjc4MwAQAIsBEZp25UpElByLLUQ%05d="/><t:Sender><t:Mailbox><t:Name>Hope Gross</t:Name><t:EmailAddress>Hope.Gross@contoso.com</t:EmailAddress><t:RoutingType>SMTP</t:RoutingType><t:MailboxType>Mailbox</t:MailboxType></t:Mailbox></t:Sender><t:ToRecipients><t:Mailbox><t:Name>Mara Whitley</t:Name><t:EmailAddress>Mara.Whitley@contoso.com</t:EmailAddress><t:RoutingType>SMTP</t:RoutingType><t:MailboxType>Mailbox</t:MailboxType></t:Mailbox><t:Mailbox><t:Name>Executives</t:Name><t:EmailAddress>executives@contoso.com</t:EmailAddress><t:RoutingType>SMTP</t:RoutingType><t:MailboxType>PublicDL</t:MailboxType></t:Mailbox></t:ToRecipients><t:CcRecipients><t:Mailbox><t:Name>Legal Team</t:Name><t:EmailAddress>legal@contoso.com</t:EmailAddress><t:RoutingType>SMTP</t:RoutingType><t:MailboxType>PublicDL</t:MailboxType></t:Mailbox></t:CcRecipients><t:From><t:Mailbox><t:Name>Hope Gross</t:Name><t:EmailAddress>Hope.Gross@contoso.com</t:EmailAddress><t:RoutingType>SMTP</t:RoutingType><t:MailboxType>Mailbox</t:MailboxType></t:Mailbox></t:From><t:InternetMessageId>&lt;bcdb1854958343%06d@SN2SR01MB005.contoso.com&gt;</t:InternetMessageId><t:IsRead>%t</t:IsRead></t:Message></t:Create>`,
			i, i, i, i/60%60, i%60, 2048+i*37, i/60%60, i%60, i/60%60, i%60, i%2 == 0, i, i, i%3 == 0)
	}
	b.WriteString(`</m:Changes></m:SyncFolderItemsResponseMessage></m:ResponseMessages></m:SyncFolderItemsResponse></s:Body></s:Envelope>`)
	return b.Bytes()
}

func TestSyncPage512Decodes(t *testing.T) {
	sr, err := decodeEnvelope("SyncFolderItems", syncPage512(), 0)
	if err != nil {
		t.Fatal(err)
	}
	r, err := decodeSyncFolderItems(sr)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Changes) != MaxSyncChanges {
		t.Fatalf("%d changes", len(r.Changes))
	}
	last := r.Changes[511].Item
	if last.Subject != "RE: Quarterly review 511: numbers, owners & next steps" || len(last.ToRecipients) != 2 ||
		last.From.EmailAddress != "Hope.Gross@contoso.com" || last.Size != 2048+511*37 || len(last.Categories) != 2 {
		t.Fatalf("last change = %+v", last)
	}
}

// BenchmarkDecodeSyncFolderItems512 decodes a 512-change page with full
// message metadata: parse, namespace resolution and typed decoding.
func BenchmarkDecodeSyncFolderItems512(b *testing.B) {
	page := syncPage512()
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	for b.Loop() {
		sr, err := decodeEnvelope("SyncFolderItems", page, DefaultMaxResponseTags)
		if err != nil {
			b.Fatal(err)
		}
		r, err := decodeSyncFolderItems(sr)
		if err != nil || len(r.Changes) != MaxSyncChanges {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(MaxSyncChanges*b.N)/b.Elapsed().Seconds(), "items/s")
}

// BenchmarkEtreeParseSyncFolderItems512 is the floor: plain etree parsing
// of the same bytes.
func BenchmarkEtreeParseSyncFolderItems512(b *testing.B) {
	page := syncPage512()
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	for b.Loop() {
		d := etree.NewDocument()
		if err := d.ReadFromBytes(page); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(MaxSyncChanges*b.N)/b.Elapsed().Seconds(), "items/s")
}

// BenchmarkDecodeOverEtree alternates plain etree parsing and the full
// decode of the same page in every iteration and reports the ratio of
// their total times, which is robust to load from other processes.
func BenchmarkDecodeOverEtree(b *testing.B) {
	page := syncPage512()
	var parse, decode time.Duration
	for b.Loop() {
		t0 := time.Now()
		d := etree.NewDocument()
		if err := d.ReadFromBytes(page); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		sr, err := decodeEnvelope("SyncFolderItems", page, DefaultMaxResponseTags)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := decodeSyncFolderItems(sr); err != nil {
			b.Fatal(err)
		}
		parse += t1.Sub(t0)
		decode += time.Since(t1)
	}
	b.ReportMetric(float64(decode)/float64(parse), "decode/etree")
}

// getItemMIMEBatch builds a GetItem response of n messages, each with
// metadata and a MIME body of mimeSize bytes (base64 on the wire).
func getItemMIMEBatch(n, mimeSize int) []byte {
	mime := bytes.Repeat([]byte("Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n"), mimeSize/58+1)[:mimeSize]
	enc := base64.StdEncoding.EncodeToString(mime)
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><m:GetItemResponse xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><m:ResponseMessages>`)
	for i := range n {
		fmt.Fprintf(&b, `<m:GetItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Items><t:Message><t:MimeContent CharacterSet="UTF-8">%s</t:MimeContent><t:ItemId Id="AAMkAGYzZjZmRiZTQ1AEYAAAAAAB4k%06d=" ChangeKey="CQAAABYAAAD3NsWUI7AUT6elp9Hm6tRhAAAB3wi5"/><t:Subject>Message %d</t:Subject><t:DateTimeReceived>2024-05-01T10:00:02Z</t:DateTimeReceived><t:Size>%d</t:Size><t:IsRead>false</t:IsRead></t:Message></m:Items></m:GetItemResponseMessage>`, enc, i, i, mimeSize)
	}
	b.WriteString(`</m:ResponseMessages></m:GetItemResponse></s:Body></s:Envelope>`)
	return b.Bytes()
}

// BenchmarkDecodeGetItemMIME decodes a batch of 10 messages with 100 KB of
// MIME each; MB/s counts response bytes.
func BenchmarkDecodeGetItemMIME(b *testing.B) {
	page := getItemMIMEBatch(10, 100<<10)
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	for b.Loop() {
		sr, err := decodeEnvelope("GetItem", page, DefaultMaxResponseTags)
		if err != nil {
			b.Fatal(err)
		}
		rs, err := decodeGetItem(sr, 10)
		if err != nil || rs[9].Err != nil || len(rs[9].Item.MimeContent) != 100<<10 {
			b.Fatal(err, rs[9].Err)
		}
	}
}

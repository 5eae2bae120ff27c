package ews

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"
)

// smallSyncPage is a SyncFolderItems page with every change kind and
// the properties the metadata shape returns, in Exchange's layout.
const smallSyncPage = `<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header><h:ServerVersionInfo MajorVersion="15" MinorVersion="2" MajorBuildNumber="1118" MinorBuildNumber="7" Version="V2017_07_11" xmlns:h="http://schemas.microsoft.com/exchange/services/2006/types" xmlns="http://schemas.microsoft.com/exchange/services/2006/types" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/></s:Header><s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema"><m:SyncFolderItemsResponse xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><m:ResponseMessages><m:SyncFolderItemsResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:SyncState>H4sIAAAAAAAEAO29B2AcSZYlJi9tynt/SvVK1+B0oQiAYBMk2JBAEOzBiM3mkuwdaUcjKasqgcplVmVdZhZAzO2dvPfee++999577733fp/3Pz4iMjIzSqHRIvCZZJjJ96Imv5q0QAAAA==</m:SyncState><m:IncludesLastItemInRange>true</m:IncludesLastItemInRange><m:Changes>` +
	`<t:Create><t:Message><t:ItemId Id="AAMkADkz1" ChangeKey="CQAAABYA1"/><t:ParentFolderId Id="AAMkADkzP" ChangeKey="AQAAAA=="/><t:ItemClass>IPM.Note</t:ItemClass><t:Subject>RE: Café &amp; "numbers" &lt;Q3&gt; &#x1F600;</t:Subject><t:Sensitivity>Normal</t:Sensitivity><t:DateTimeReceived>2024-05-01T10:01:02Z</t:DateTimeReceived><t:Size>2048</t:Size><t:Categories><t:String>Finance</t:String><t:String>Folgen &amp; mehr</t:String></t:Categories><t:Importance>High</t:Importance><t:DateTimeSent>2024-05-01T10:00:59.123Z</t:DateTimeSent><t:HasAttachments>true</t:HasAttachments><t:ConversationId Id="AAQkADkzC1="/><t:Sender><t:Mailbox><t:Name>Hope Gross</t:Name><t:EmailAddress>Hope.Gross@contoso.com</t:EmailAddress><t:RoutingType>SMTP</t:RoutingType><t:MailboxType>Mailbox</t:MailboxType></t:Mailbox></t:Sender><t:ToRecipients><t:Mailbox><t:Name>Mara Whitley</t:Name><t:EmailAddress>Mara.Whitley@contoso.com</t:EmailAddress><t:RoutingType>SMTP</t:RoutingType><t:MailboxType>Mailbox</t:MailboxType></t:Mailbox><t:Mailbox><t:Name>Исполнители</t:Name><t:EmailAddress>executives@contoso.com</t:EmailAddress><t:RoutingType>SMTP</t:RoutingType><t:MailboxType>PublicDL</t:MailboxType></t:Mailbox></t:ToRecipients><t:CcRecipients><t:Mailbox><t:Name>Legal</t:Name><t:EmailAddress>legal@contoso.com</t:EmailAddress></t:Mailbox></t:CcRecipients><t:From><t:Mailbox><t:Name>Hope Gross</t:Name><t:EmailAddress>Hope.Gross@contoso.com</t:EmailAddress><t:RoutingType>SMTP</t:RoutingType><t:MailboxType>Mailbox</t:MailboxType></t:Mailbox></t:From><t:InternetMessageId>&lt;bcdb1854@SN2SR01MB005.contoso.com&gt;</t:InternetMessageId><t:IsRead>false</t:IsRead><t:ExtendedProperty><t:ExtendedFieldURI PropertyTag="0x1081" PropertyType="Integer"/><t:Value>102</t:Value></t:ExtendedProperty><t:ExtendedProperty><t:ExtendedFieldURI DistinguishedPropertySetId="PublicStrings" PropertyName="Keywords" PropertyType="StringArray"/><t:Values><t:Value>a</t:Value><t:Value>b</t:Value></t:Values></t:ExtendedProperty></t:Message></t:Create>` +
	`<t:Update><t:MeetingRequest><t:ItemId Id="AAMkADkz2" ChangeKey="CQAAABYA2"/><t:ParentFolderId Id="AAMkADkzP" ChangeKey="AQAAAA=="/><t:ItemClass>IPM.Schedule.Meeting.Request</t:ItemClass><t:Subject></t:Subject><t:IsRead>1</t:IsRead></t:MeetingRequest></t:Update>` +
	`<t:Delete><t:ItemId Id="AAMkADkz3" ChangeKey="CQAAABYA3"/></t:Delete>` +
	`<t:ReadFlagChange><t:ItemId Id="AAMkADkz4" ChangeKey="CQAAABYA4"/><t:IsRead>true</t:IsRead></t:ReadFlagChange>` +
	`</m:Changes></m:SyncFolderItemsResponseMessage></m:ResponseMessages></m:SyncFolderItemsResponse></s:Body></s:Envelope>`

// variants rewrites a page in ways the fast path must read exactly as
// the tree path does; fast says whether it should still take the fast
// path.
var variants = []struct {
	name string
	fast bool
	edit func(string) string
}{
	{"as is", true, func(s string) string { return s }},
	{"other prefixes", true, func(s string) string {
		s = strings.ReplaceAll(s, "<t:", "<typ:")
		s = strings.ReplaceAll(s, "</t:", "</typ:")
		s = strings.ReplaceAll(s, "xmlns:t=", "xmlns:typ=")
		s = strings.ReplaceAll(s, "<m:", "<msg:")
		s = strings.ReplaceAll(s, "</m:", "</msg:")
		return strings.ReplaceAll(s, "xmlns:m=", "xmlns:msg=")
	}},
	{"default namespace for types", true, func(s string) string {
		s = strings.ReplaceAll(s, "<t:Changes", "<t:Changes")
		s = strings.Replace(s, "<m:Changes>", `<m:Changes xmlns="http://schemas.microsoft.com/exchange/services/2006/types">`, 1)
		i, j := strings.Index(s, "<m:Changes"), strings.Index(s, "</m:Changes>")
		mid := strings.ReplaceAll(strings.ReplaceAll(s[i:j], "<t:", "<"), "</t:", "</")
		return s[:i] + mid + s[j:]
	}},
	{"types prefix rebound to messages", true, func(s string) string {
		return strings.Replace(s, "<m:Changes>", `<m:Changes xmlns:t="http://schemas.microsoft.com/exchange/services/2006/messages">`, 1)
	}},
	{"wrong namespace URI", true, func(s string) string {
		return strings.Replace(s, `xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"`, `xmlns:t="https://schemas.microsoft.com/exchange/services/2006/types"`, 1)
	}},
	{"single quotes and spaces", true, func(s string) string {
		i := strings.Index(s, "<m:Changes>")
		c := s[i:]
		c = regexp.MustCompile(`Id="([^"]*)" ChangeKey="([^"]*)"/>`).ReplaceAllString(c, "ChangeKey = '$2'\tId='$1' />")
		c = strings.ReplaceAll(c, "</t:Subject>", "</t:Subject \n>")
		return s[:i] + c
	}},
	{"indented with CRLF", true, func(s string) string {
		return strings.ReplaceAll(strings.ReplaceAll(s, "><", ">\r\n    <"), "Hope Gross<", "Hope\r\nGross\r<")
	}},
	{"comments and CDATA", true, func(s string) string {
		s = strings.ReplaceAll(s, "<t:Subject>", "<t:Subject><!-- c --><![CDATA[<b>&amp;</b>]]>x")
		s = strings.ReplaceAll(s, "<t:Create>", "<!-- change --><t:Create>")
		s = strings.ReplaceAll(s, "<t:Name>", "<t:Name>a<!---->b<![CDATA[]]>")
		return s
	}},
	{"character references", true, func(s string) string {
		s = strings.ReplaceAll(s, "Finance", "Fin&#x61;nce &#233;&#0;&#x1A;&#xFFFE;&#99999999999;&#x110000;")
		return strings.ReplaceAll(s, `Id="AAMkADkz1"`, `Id="AAMk&#65;Dkz&quot;1&apos;"`)
	}},
	{"text after child element", true, func(s string) string {
		return strings.ReplaceAll(s, "<t:ItemClass>IPM.Note", "<t:ItemClass>IPM.<x/>Note")
	}},
	{"unknown elements everywhere", true, func(s string) string {
		s = strings.ReplaceAll(s, "<t:ItemId ", `<t:Extra a="1"><t:Deep><t:ItemId Id="no"/></t:Deep></t:Extra><t:ItemId `)
		s = strings.ReplaceAll(s, "<m:SyncState>", `<m:Other/><SyncState xmlns="urn:x">no</SyncState><m:SyncState>`)
		return strings.ReplaceAll(s, "<s:Body ", `<s:Extra/><s:Body `)
	}},
	{"no ServerVersionInfo", true, func(s string) string {
		i, j := strings.Index(s, "<s:Header>"), strings.Index(s, "</s:Header>")
		return s[:i] + s[j+len("</s:Header>"):]
	}},
	{"byte order mark", false, func(s string) string { return "\ufeff" + s }},
	{"document type", false, func(s string) string {
		return strings.Replace(s, "<s:Envelope", "<!DOCTYPE x [<!ENTITY e 'v'>]><s:Envelope", 1)
	}},
	{"processing instruction", false, func(s string) string {
		return strings.Replace(s, "<t:Create>", "<?pi x?><t:Create>", 1)
	}},
	{"latin-1 declaration", false, func(s string) string {
		return strings.Replace(s, `encoding="utf-8"`, `encoding="iso-8859-1"`, 1)
	}},
	{"no declaration", true, func(s string) string { return s[strings.Index(s, "<s:Envelope"):] }},
	{"duplicate attribute", false, func(s string) string {
		return strings.Replace(s, `ChangeKey="CQAAABYA1"`, `ChangeKey="CQAAABYA1" ChangeKey="x"`, 1)
	}},
	{"bad date", false, func(s string) string { return strings.Replace(s, "2024-05-01T10:01:02Z", "2024-02-30T10:01:02Z", 1) }},
	{"date with offset", true, func(s string) string {
		return strings.Replace(s, "2024-05-01T10:01:02Z", " 2024-05-01T12:01:02+02:00 ", 1)
	}},
	{"size with sign", true, func(s string) string { return strings.Replace(s, "<t:Size>2048", "<t:Size> +2048", 1) }},
	{"negative size", false, func(s string) string { return strings.Replace(s, "<t:Size>2048", "<t:Size>-1", 1) }},
	{"item without id", false, func(s string) string {
		return strings.Replace(s, `<t:ItemId Id="AAMkADkz2" ChangeKey="CQAAABYA2"/>`, "", 1)
	}},
	{"unescaped ]]>", false, func(s string) string { return strings.Replace(s, "Hope Gross<", "Hope ]]> Gross<", 1) }},
	{"control character", false, func(s string) string { return strings.Replace(s, "Hope Gross<", "Hope \x01Gross<", 1) }},
	{"invalid UTF-8", false, func(s string) string { return strings.Replace(s, "Hope Gross<", "Hope \xffGross<", 1) }},
	{"mismatched end tag", false, func(s string) string { return strings.Replace(s, "</t:Subject>", "</t:Subjec>", 1) }},
	{"undeclared prefix", false, func(s string) string { return strings.Replace(s, "<t:Sensitivity>Normal</t:Sensitivity>", "<q:x/>", 1) }},
	{"text outside the root", false, func(s string) string { return s + "x" }},
	{"second root", false, func(s string) string { return s + "<a/>" }},
	{"busy", false, func(s string) string {
		s = strings.Replace(s, `ResponseClass="Success"`, `ResponseClass="Error"`, 1)
		return strings.Replace(s, "<m:ResponseCode>NoError", `<m:MessageText>busy</m:MessageText><m:ResponseCode>ErrorServerBusy</m:ResponseCode><m:MessageXml><t:Value Name="BackOffMilliseconds">3000</t:Value></m:MessageXml><m:ResponseCode>ErrorServerBusy`, 1)
	}},
	{"fault", false, func(s string) string {
		i, j := strings.Index(s, "<m:SyncFolderItemsResponse "), strings.Index(s, "</s:Body>")
		return s[:i] + `<s:Fault><faultcode xmlns:a="http://schemas.microsoft.com/exchange/services/2006/types">a:ErrorServerBusy</faultcode><faultstring>busy</faultstring><detail><e:ResponseCode xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">ErrorServerBusy</e:ResponseCode><e:MessageXml xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors"><t:Value Name="BackOffMilliseconds" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">2000</t:Value></e:MessageXml></detail></s:Fault>` + s[j:]
	}},
	{"MimeContent in CDATA", false, func(s string) string {
		return strings.Replace(s, "<t:Subject>", "<t:Subject><![CDATA[<t:MimeContent>QUJD</t:MimeContent>]]>", 1)
	}},
}

func TestFastDecodeVariants(t *testing.T) {
	for _, v := range variants {
		body := []byte(v.edit(smallSyncPage))
		d, fast := diffDecode("SyncFolderItems", body, 0)
		if d != "" {
			t.Errorf("%s: %s", v.name, d)
		}
		if fast != v.fast {
			t.Errorf("%s: fast path %v, want %v", v.name, fast, v.fast)
		}
	}
}

// TestFastDecodeTruncated cuts a page at every byte: both paths fail
// alike.
func TestFastDecodeTruncated(t *testing.T) {
	page := []byte(smallSyncPage)
	for n := range len(page) {
		if d, _ := diffDecode("SyncFolderItems", page[:n], 0); d != "" {
			t.Fatalf("cut at %d: %s", n, d)
		}
	}
}

func addFastSeeds(f *testing.F) {
	files, _ := os.ReadDir(testdataDir)
	for _, dir := range files {
		for _, p := range []string{"syncfolderitems", "getitem", "fault"} {
			if dir.Name() == p {
				addSeeds(f, p)
			}
		}
	}
	for _, v := range variants {
		f.Add([]byte(v.edit(smallSyncPage)))
	}
	f.Add(getItemMIMEBatch(2, 40))
	f.Add(bytes.ReplaceAll(getItemMIMEBatch(2, 40), []byte("<t:MimeContent CharacterSet=\"UTF-8\">"), []byte("<t:MimeContent CharacterSet='UTF-8'>\r\n")))
}

// FuzzFastDecodeSyncFolderItems: for any body, the fast path (with its
// fall-back) and the tree path agree on the outcome's class and, when
// both succeed, on every value, with and without a small tag limit.
func FuzzFastDecodeSyncFolderItems(f *testing.F) {
	addFastSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, maxTags := range []int{0, 60} {
			if d, _ := diffDecode("SyncFolderItems", b, maxTags); d != "" {
				t.Fatalf("MaxTags %d: %s", maxTags, d)
			}
		}
	})
}

// FuzzFastDecodeGetItem is FuzzFastDecodeSyncFolderItems for GetItem.
func FuzzFastDecodeGetItem(f *testing.F) {
	addFastSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, maxTags := range []int{0, 60} {
			if d, _ := diffDecode("GetItem", b, maxTags); d != "" {
				t.Fatalf("MaxTags %d: %s", maxTags, d)
			}
		}
	})
}

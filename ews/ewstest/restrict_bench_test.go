package ewstest

import (
	"fmt"
	"testing"
	"time"

	"github.com/beevik/etree"
)

// BenchmarkFindItemFilter measures a restricted or AQS FindItem over a
// 20,000-message inbox without HTTP: compiling the expression, testing
// every item, sorting the matches and encoding the first page (IdOnly
// plus subject). items/s counts items tested.
func BenchmarkFindItemFilter(b *testing.B) {
	srv := NewUnstartedServer(Options{Users: []User{{Name: "alice", Address: "alice@example.com"}}})
	defer srv.Close()
	m := srv.Mailbox("alice@example.com")
	const n = 20000
	msgs := make([]Message, n)
	for i := range msgs {
		msgs[i] = testMessage(fmt.Sprintf("bench %d report", i))
		msgs[i].DateTimeReceived = time.Unix(1_700_000_000+int64(i)*60, 0)
		msgs[i].IsRead = i%3 == 0
		if i%7 == 0 {
			msgs[i].Categories = []string{"Work"}
		}
	}
	if _, err := m.DeliverBatch("inbox", msgs); err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct{ name, body string }{
		{"restriction", `<m:Restriction><t:And>
			<t:Contains ContainmentMode="Substring" ContainmentComparison="IgnoreCase"><t:FieldURI FieldURI="item:Subject"/><t:Constant Value="REPORT"/></t:Contains>
			<t:IsEqualTo><t:FieldURI FieldURI="message:IsRead"/><t:FieldURIOrConstant><t:Constant Value="false"/></t:FieldURIOrConstant></t:IsEqualTo>
			<t:IsEqualTo><t:FieldURI FieldURI="item:Categories"/><t:FieldURIOrConstant><t:Constant Value="work"/></t:FieldURIOrConstant></t:IsEqualTo>
			<t:IsGreaterThan><t:FieldURI FieldURI="item:DateTimeReceived"/><t:FieldURIOrConstant><t:Constant Value="2023-11-15T00:00:00Z"/></t:FieldURIOrConstant></t:IsGreaterThan>
			</t:And></m:Restriction><m:SortOrder><t:FieldOrder Order="Ascending"><t:FieldURI FieldURI="item:Subject"/></t:FieldOrder></m:SortOrder>`},
		{"aqs", `<m:QueryString>subject:report isread:false category:work received:&gt;2023-11-15</m:QueryString>`},
	} {
		b.Run(tc.name, func(b *testing.B) {
			doc := etree.NewDocument()
			if err := doc.ReadFromString(`<m:FindItem xmlns:m="` + nsM + `" xmlns:t="` + nsT + `" Traversal="Shallow">
				<m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties><t:FieldURI FieldURI="item:Subject"/></t:AdditionalProperties></m:ItemShape>` +
				tc.body + `<m:ParentFolderIds><t:DistinguishedFolderId Id="inbox"/></m:ParentFolderIds></m:FindItem>`); err != nil {
				b.Fatal(err)
			}
			matched := 0
			for b.Loop() {
				r := &request{s: srv, op: "FindItem", body: doc.Root(), mb: m, w: newXW(), version: "Exchange2016"}
				if err := opFindItem(r); err != nil {
					b.Fatal(err)
				}
				matched = len(r.w.String())
			}
			if matched < 1000 {
				b.Fatalf("response of %d bytes: nothing matched", matched)
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "items/s")
		})
	}
}

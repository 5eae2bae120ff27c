package ewstest

import (
	"sort"
	"strings"

	"github.com/beevik/etree"
)

// userEntry is a user as name resolution sees it.
type userEntry struct {
	name, address string
}

func (s *Server) userEntries() []userEntry {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]userEntry, 0, len(s.mailboxes))
	for _, m := range s.mailboxes {
		out = append(out, userEntry{name: m.user, address: m.address})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].address < out[j].address })
	return out
}

// resolveMatches reports whether the unresolved entry q names u: the
// whole address, or a prefix of the logon name, the display name, the
// address or one of the name's words, case-insensitively ("SMTP:" and
// "smtp:" prefixes are ignored).
func resolveMatches(q string, u userEntry) bool {
	q = strings.ToLower(strings.TrimSpace(q))
	if rest, ok := strings.CutPrefix(q, "smtp:"); ok {
		return rest == u.address
	}
	if q == "" {
		return false
	}
	if strings.HasPrefix(u.address, q) || strings.HasPrefix(strings.ToLower(u.name), q) {
		return true
	}
	for _, w := range strings.Fields(strings.ToLower(u.name)) {
		if strings.HasPrefix(w, q) {
			return true
		}
	}
	return false
}

func opResolveNames(r *request) error {
	entries := childrenNS(r.body, nsM, "UnresolvedEntry")
	if len(entries) == 0 {
		return schemaFault("ResolveNames needs UnresolvedEntry")
	}
	full := false
	if v := attr(r.body, "ReturnFullContactData"); v != "" {
		b, err := parseBool(v)
		if err != nil {
			return err
		}
		full = b
	}
	users := r.s.userEntries()
	r.respBegin()
	for _, e := range entries {
		var hits []userEntry
		for _, u := range users {
			if resolveMatches(textOf(e), u) {
				hits = append(hits, u)
			}
		}
		if len(hits) == 0 {
			r.msgError(codeErr("ErrorNameResolutionNoResults", "No results were found."))
			continue
		}
		if len(hits) > 1 {
			r.w.status("m:ResolveNamesResponseMessage", "Warning", "Multiple results were found.", "ErrorNameResolutionMultipleResults")
		} else {
			r.msgOK()
		}
		r.w.open("m:ResolutionSet", "TotalItemsInView", itoa(int64(len(hits))), "IncludesLastItemInRange", "true")
		for _, u := range hits {
			r.w.open("t:Resolution")
			r.w.open("t:Mailbox")
			r.w.elem("t:Name", u.name)
			r.w.elem("t:EmailAddress", u.address)
			r.w.elem("t:RoutingType", "SMTP")
			r.w.elem("t:MailboxType", "Mailbox")
			r.w.close("t:Mailbox")
			if full {
				r.w.open("t:Contact")
				r.w.elem("t:DisplayName", u.name)
				r.w.open("t:EmailAddresses")
				r.w.open("t:Entry", "Key", "EmailAddress1")
				r.w.raw(escapeText("SMTP:" + u.address))
				r.w.close("t:Entry")
				r.w.close("t:EmailAddresses")
				r.w.elem("t:ContactSource", "ActiveDirectory")
				r.w.close("t:Contact")
			}
			r.w.close("t:Resolution")
		}
		r.w.close("m:ResolutionSet")
		r.msgClose()
	}
	r.respEnd()
	return nil
}

// contactsViewSpec is a parsed m:ContactsView: the contacts whose name
// (FileAs, else DisplayName, else Subject) lies between InitialName and
// FinalName, case-insensitively, in name order.
type contactsViewSpec struct {
	max            int
	initial, final string
}

func parseContactsView(el *etree.Element) (*contactsViewSpec, error) {
	v := &contactsViewSpec{initial: strings.ToLower(attr(el, "InitialName")), final: strings.ToLower(attr(el, "FinalName"))}
	var err error
	if v.max, err = maxEntries(el); err != nil {
		return nil, err
	}
	return v, nil
}

func contactName(it *item) string {
	for _, n := range []string{"FileAs", "DisplayName"} {
		if s, ok := bagValue(it, n, "").(string); ok && s != "" {
			return s
		}
	}
	return it.msg.Subject
}

func (v *contactsViewSpec) apply(list []*item) []*item {
	var out []*item
	for _, it := range list {
		if k := kindOf(it.msg.ItemClass); k != "Contact" && k != "DistributionList" {
			continue
		}
		n := strings.ToLower(contactName(it))
		if v.initial != "" && n < v.initial || v.final != "" && n > v.final && !strings.HasPrefix(n, v.final) {
			continue
		}
		out = append(out, it)
	}
	sort.SliceStable(out, func(i, j int) bool {
		return strings.ToLower(contactName(out[i])) < strings.ToLower(contactName(out[j]))
	})
	return out
}

// opFindPeople lists the contacts of one folder as personas (one persona
// per contact, no linking across folders), filtered by an AQS
// QueryString on the display name and e-mail addresses, in display-name
// order, paged by IndexedPageItemView.
func opFindPeople(r *request) error {
	if childM(r.body, "PersonaShape") == nil && childM(r.body, "IndexedPageItemView") == nil {
		return schemaFault("FindPeople needs IndexedPageItemView")
	}
	view, err := parsePageView(childM(r.body, "IndexedPageItemView"))
	if err != nil {
		return err
	}
	pf := childM(r.body, "ParentFolderId")
	if pf == nil || len(pf.ChildElements()) != 1 {
		return schemaFault("FindPeople needs ParentFolderId with one folder id")
	}
	query := ""
	if q := childM(r.body, "QueryString"); q != nil {
		query = strings.ToLower(strings.TrimSpace(textOf(q)))
	}
	if childM(r.body, "Restriction") != nil {
		return &Fault{Code: "ErrorInvalidRequest", Message: "The request is invalid: FindPeople restrictions are not supported by this server."}
	}
	m, key, err := r.resolveFolder(pf.ChildElements()[0])
	if err != nil {
		return toFault(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	f, err := m.lookupFolder(key)
	if err != nil {
		return toFault(err)
	}
	var list []*item
	for _, it := range f.entries {
		if it.deleted || kindOf(it.msg.ItemClass) != "Contact" {
			continue
		}
		if query != "" {
			hay := strings.ToLower(contactName(it))
			if v, ok := bagValue(it, "EmailAddresses", "").([]string); ok {
				hay += " " + strings.ToLower(strings.Join(v, " "))
			}
			if !strings.Contains(hay, query) {
				continue
			}
		}
		list = append(list, it)
	}
	sort.SliceStable(list, func(i, j int) bool {
		return strings.ToLower(contactName(list[i])) < strings.ToLower(contactName(list[j]))
	})
	if view.max == 0 || view.max > findCountLimit {
		view.max = findCountLimit
	}
	lo, hi, _ := view.window(len(list))
	r.w.open("m:FindPeopleResponse", "xmlns:m", nsM, "xmlns:t", nsT, "ResponseClass", "Success")
	r.w.elem("m:ResponseCode", "NoError")
	r.w.open("m:People")
	for _, it := range list[lo:hi] {
		writePersona(r.w, "t:Persona", it)
	}
	r.w.close("m:People")
	r.w.elemInt("m:TotalNumberOfPeopleInView", int64(len(list)))
	r.w.elemInt("m:FirstMatchingRowIndex", int64(lo))
	r.w.elemInt("m:FirstLoadedRowIndex", int64(lo))
	r.w.close("m:FindPeopleResponse")
	return nil
}

// writePersona writes a contact as a persona.
func writePersona(w *xw, tag string, it *item) {
	w.open(tag)
	w.empty("t:PersonaId", "Id", it.id)
	w.elem("t:PersonaType", "Person")
	name := contactName(it)
	if s, ok := bagValue(it, "DisplayName", "").(string); ok && s != "" {
		name = s
	}
	w.elem("t:DisplayName", name)
	for _, n := range []string{"GivenName", "Surname", "CompanyName"} {
		if s, ok := bagValue(it, n, "").(string); ok && s != "" {
			w.elem("t:"+n, s)
		}
	}
	if v, ok := bagValue(it, "EmailAddresses", "").([]string); ok && len(v) > 0 {
		w.open("t:EmailAddress")
		w.elem("t:Name", name)
		w.elem("t:EmailAddress", strings.TrimPrefix(strings.TrimPrefix(v[0], "SMTP:"), "smtp:"))
		w.elem("t:RoutingType", "SMTP")
		w.close("t:EmailAddress")
	}
	w.close(tag)
}

// opGetPersona returns the persona of one contact (FindPeople's ids).
func opGetPersona(r *request) error {
	pid := childM(r.body, "PersonaId")
	if pid == nil || attr(pid, "Id") == "" {
		return schemaFault("GetPersona needs PersonaId with Id")
	}
	id := attr(pid, "Id")
	m, err := r.s.mailboxByID(id)
	if err == nil && !r.mayAccess(m) {
		err = codeErr("ErrorAccessDenied", "Access is denied. Check credentials and try again.")
	}
	var it *item
	if err == nil {
		m.mu.Lock()
		defer m.mu.Unlock()
		if it, err = m.lookupItem(id); err == nil && kindOf(it.msg.ItemClass) != "Contact" {
			err = codeErr("ErrorItemNotFound", "The specified object was not found in the store.")
		}
	}
	if err != nil {
		r.w.status("m:GetPersonaResponseMessage", "Error", "The persona could not be found.", ResponseCode(err), "xmlns:m", nsM, "xmlns:t", nsT)
		r.w.close("m:GetPersonaResponseMessage")
		return nil
	}
	r.w.open("m:GetPersonaResponseMessage", "xmlns:m", nsM, "xmlns:t", nsT, "ResponseClass", "Success")
	r.w.elem("m:ResponseCode", "NoError")
	writePersona(r.w, "m:Persona", it)
	r.w.close("m:GetPersonaResponseMessage")
	return nil
}

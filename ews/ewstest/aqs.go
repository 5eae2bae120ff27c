package ewstest

import (
	"strconv"
	"strings"
	"time"
)

// AQS (Advanced Query Syntax, m:QueryString) for FindItem: a subset of
// what Exchange's search understands, evaluated directly against the
// items instead of a content index.
//
// Grammar:
//
//	query   = or
//	or      = and { "OR" and }
//	and     = unary { ["AND"] unary }
//	unary   = ("NOT" | "-") unary | primary   ("-" directly before a term)
//	primary = "(" or ")" | [prop ":"] ( word | "phrase" | "(" or ")" )
//
// Free words match the subject, body, sender, recipients, categories and
// attachment names at the start of a word, case-insensitively; a quoted
// phrase matches its words in sequence. Properties: subject, body, from,
// to, cc, bcc, participants, category, attachment(s), hasattachment(s),
// isread, isflagged, importance, kind, received, sent, size.

type aqsToken struct {
	text   string
	phrase bool // a quoted phrase
	field  bool // text is "prop:" and the value follows
}

func aqsTokenize(q string) ([]aqsToken, error) {
	var toks []aqsToken
	rs := []rune(q)
	for i := 0; i < len(rs); {
		r := rs[i]
		switch {
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
			i++
		case r == '-' && i+1 < len(rs) && !strings.ContainsRune(" \t\r\n)", rs[i+1]):
			toks = append(toks, aqsToken{text: "NOT"})
			i++
		case r == '(' || r == ')':
			toks = append(toks, aqsToken{text: string(r)})
			i++
		case r == '"':
			j := i + 1
			for j < len(rs) && rs[j] != '"' {
				j++
			}
			if j == len(rs) {
				return nil, codeErr("ErrorInvalidArgument", "The query string has an unterminated phrase.")
			}
			toks = append(toks, aqsToken{text: string(rs[i+1 : j]), phrase: true})
			i = j + 1
		default:
			j := i
			for j < len(rs) && !strings.ContainsRune(" \t\r\n()\"", rs[j]) {
				j++
				if rs[j-1] == ':' && j-1 > i {
					break
				}
			}
			w := string(rs[i:j])
			if strings.HasSuffix(w, ":") && len(w) > 1 && aqsKnownProp(strings.ToLower(strings.TrimSuffix(w, ":"))) {
				toks = append(toks, aqsToken{text: strings.ToLower(strings.TrimSuffix(w, ":")), field: true})
			} else if strings.HasSuffix(w, ":") && j < len(rs) && !strings.ContainsRune(" \t\r\n()\"", rs[j]) {
				// An unknown property: the whole "x:y" is a free word.
				k := j
				for k < len(rs) && !strings.ContainsRune(" \t\r\n()\"", rs[k]) {
					k++
				}
				w, j = string(rs[i:k]), k
				toks = append(toks, aqsToken{text: w})
			} else {
				toks = append(toks, aqsToken{text: w})
			}
			i = j
		}
	}
	return toks, nil
}

var aqsProps = map[string]bool{"subject": true, "body": true, "from": true, "to": true, "cc": true, "bcc": true,
	"participants": true, "category": true, "categories": true, "attachment": true, "attachments": true,
	"attachmentnames": true, "hasattachment": true, "hasattachments": true, "isread": true, "isflagged": true,
	"importance": true, "kind": true, "received": true, "sent": true, "size": true}

func aqsKnownProp(p string) bool { return aqsProps[p] }

type aqsParser struct {
	toks  []aqsToken
	pos   int
	now   time.Time
	depth int
}

func (p *aqsParser) peek() (aqsToken, bool) {
	if p.pos < len(p.toks) {
		return p.toks[p.pos], true
	}
	return aqsToken{}, false
}

func isOp(t aqsToken, op string) bool { return !t.phrase && !t.field && t.text == op }

// compileAQS compiles an AQS query string; now anchors relative dates.
func compileAQS(q string, now time.Time) (itemPred, error) {
	toks, err := aqsTokenize(q)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return func(*item) bool { return true }, nil
	}
	p := &aqsParser{toks: toks, now: now}
	pred, err := p.or("")
	if err != nil {
		return nil, err
	}
	if p.pos != len(p.toks) {
		return nil, codeErr("ErrorInvalidArgument", "The query string is invalid near %q.", p.toks[p.pos].text)
	}
	return pred, nil
}

func (p *aqsParser) or(field string) (itemPred, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxExprDepth {
		return nil, codeErr("ErrorInvalidArgument", "The query string is nested too deeply.")
	}
	left, err := p.and(field)
	if err != nil {
		return nil, err
	}
	for {
		t, ok := p.peek()
		if !ok || !isOp(t, "OR") {
			return left, nil
		}
		p.pos++
		right, err := p.and(field)
		if err != nil {
			return nil, err
		}
		l := left
		left = func(it *item) bool { return l(it) || right(it) }
	}
}

func (p *aqsParser) and(field string) (itemPred, error) {
	left, err := p.unary(field)
	if err != nil {
		return nil, err
	}
	for {
		t, ok := p.peek()
		if !ok || isOp(t, ")") || isOp(t, "OR") {
			return left, nil
		}
		if isOp(t, "AND") {
			p.pos++
		}
		right, err := p.unary(field)
		if err != nil {
			return nil, err
		}
		l := left
		left = func(it *item) bool { return l(it) && right(it) }
	}
}

func (p *aqsParser) unary(field string) (itemPred, error) {
	t, ok := p.peek()
	if !ok {
		return nil, codeErr("ErrorInvalidArgument", "The query string ends unexpectedly.")
	}
	if isOp(t, "NOT") {
		p.pos++
		p.depth++
		defer func() { p.depth-- }()
		if p.depth > maxExprDepth {
			return nil, codeErr("ErrorInvalidArgument", "The query string is nested too deeply.")
		}
		sub, err := p.unary(field)
		if err != nil {
			return nil, err
		}
		return func(it *item) bool { return !sub(it) }, nil
	}
	return p.primary(field)
}

func (p *aqsParser) primary(field string) (itemPred, error) {
	t, _ := p.peek()
	p.pos++
	switch {
	case isOp(t, "("):
		sub, err := p.or(field)
		if err != nil {
			return nil, err
		}
		if c, ok := p.peek(); !ok || !isOp(c, ")") {
			return nil, codeErr("ErrorInvalidArgument", "The query string has an unbalanced parenthesis.")
		}
		p.pos++
		return sub, nil
	case isOp(t, ")"):
		return nil, codeErr("ErrorInvalidArgument", "The query string has an unbalanced parenthesis.")
	case t.field:
		v, ok := p.peek()
		if !ok {
			return nil, codeErr("ErrorInvalidArgument", "The query string property %s: has no value.", t.text)
		}
		if isOp(v, "(") {
			return p.primary(t.text)
		}
		p.pos++
		return aqsTerm(t.text, v, p.now)
	}
	return aqsTerm(field, t, p.now)
}

// aqsText matches one text value against a word or phrase.
func aqsText(s string, t aqsToken) bool {
	if t.phrase {
		return containsMatch(s, t.text, "PrefixOnWords", "IgnoreCase")
	}
	return containsMatch(s, strings.TrimSuffix(t.text, "*"), "PrefixOnWords", "IgnoreCase")
}

func anyText(t aqsToken, vals ...string) bool {
	for _, v := range vals {
		if aqsText(v, t) {
			return true
		}
	}
	return false
}

func addrStrings(as ...Address) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Name, a.Email)
	}
	return out
}

func attachmentNames(msg *Message) []string {
	out := make([]string, len(msg.Attachments))
	for i, a := range msg.Attachments {
		out[i] = a.Name
	}
	return out
}

func aqsTerm(field string, t aqsToken, now time.Time) (itemPred, error) {
	v := strings.ToLower(t.text)
	switch field {
	case "":
		return func(it *item) bool {
			m := &it.msg
			return anyText(t, m.Subject, bodyText(m)) || anyText(t, addrStrings(m.From, m.sender())...) ||
				anyText(t, addrStrings(m.To...)...) || anyText(t, addrStrings(m.Cc...)...) ||
				anyText(t, m.Categories...) || anyText(t, attachmentNames(m)...)
		}, nil
	case "subject":
		return func(it *item) bool { return aqsText(it.msg.Subject, t) }, nil
	case "body":
		return func(it *item) bool { return aqsText(bodyText(&it.msg), t) }, nil
	case "from":
		return func(it *item) bool { return anyText(t, addrStrings(it.msg.From, it.msg.sender())...) }, nil
	case "to":
		return func(it *item) bool { return anyText(t, addrStrings(it.msg.To...)...) }, nil
	case "cc":
		return func(it *item) bool { return anyText(t, addrStrings(it.msg.Cc...)...) }, nil
	case "bcc":
		return func(it *item) bool { return anyText(t, addrStrings(it.msg.Bcc...)...) }, nil
	case "participants":
		return func(it *item) bool {
			m := &it.msg
			return anyText(t, addrStrings(append(append([]Address{m.From}, m.To...), m.Cc...)...)...)
		}, nil
	case "category", "categories":
		return func(it *item) bool { return anyText(t, it.msg.Categories...) }, nil
	case "attachment", "attachments", "attachmentnames":
		return func(it *item) bool { return anyText(t, attachmentNames(&it.msg)...) }, nil
	case "hasattachment", "hasattachments", "isread", "isflagged":
		var want bool
		switch v {
		case "true", "yes", "1":
			want = true
		case "false", "no", "0":
		default:
			return nil, codeErr("ErrorInvalidArgument", "The query string value %q of %s: is not a boolean.", t.text, field)
		}
		return func(it *item) bool {
			var got bool
			switch field {
			case "isread":
				got = it.msg.IsRead
			case "isflagged":
				got = it.msg.FlagStatus == FlagFlagged
			default:
				got = len(it.msg.Attachments) > 0
			}
			return got == want
		}, nil
	case "importance":
		return func(it *item) bool { return strings.EqualFold(it.msg.Importance, v) }, nil
	case "kind":
		classes := map[string]string{"email": "IPM.Note", "meetings": "IPM.Schedule", "calendar": "IPM.Appointment",
			"contacts": "IPM.Contact", "tasks": "IPM.Task", "notes": "IPM.StickyNote", "posts": "IPM.Post"}
		prefix, ok := classes[v]
		if !ok {
			return nil, codeErr("ErrorInvalidArgument", "The query string kind %q is not known.", t.text)
		}
		return func(it *item) bool { return strings.HasPrefix(it.msg.ItemClass, prefix) }, nil
	case "received", "sent":
		lo, hi, err := aqsDateRange(v, now)
		if err != nil {
			return nil, err
		}
		return func(it *item) bool {
			d := it.msg.DateTimeReceived
			if field == "sent" {
				d = it.msg.DateTimeSent
			}
			return !d.Before(lo) && d.Before(hi)
		}, nil
	case "size":
		lo, hi, err := aqsSizeRange(v)
		if err != nil {
			return nil, err
		}
		return func(it *item) bool {
			n := int64(it.mimeSize())
			return n >= lo && n < hi
		}, nil
	}
	return nil, codeErr("ErrorInvalidArgument", "The query string property %s: is not supported.", field)
}

var (
	farPast   = time.Date(1601, 1, 1, 0, 0, 0, 0, time.UTC)
	farFuture = time.Date(4500, 1, 1, 0, 0, 0, 0, time.UTC)
)

// aqsDay parses one day: yyyy-mm-dd, m/d/yyyy, today or yesterday.
func aqsDay(s string, now time.Time) (time.Time, bool) {
	today := now.UTC().Truncate(24 * time.Hour)
	switch s {
	case "today":
		return today, true
	case "yesterday":
		return today.AddDate(0, 0, -1), true
	case "tomorrow":
		return today.AddDate(0, 0, 1), true
	}
	for _, l := range []string{"2006-01-02", "1/2/2006", "2006/01/02"} {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// aqsDateRange turns a date value (a day, a..b, or >, >=, <, <= and a
// day) into the half-open range [lo, hi).
func aqsDateRange(v string, now time.Time) (lo, hi time.Time, err error) {
	bad := codeErr("ErrorInvalidArgument", "The query string date %q is invalid.", v)
	day := func(s string) (time.Time, bool) { return aqsDay(s, now) }
	if a, b, ok := strings.Cut(v, ".."); ok {
		da, okA := day(a)
		db, okB := day(b)
		if !okA || !okB {
			return lo, hi, bad
		}
		return da, db.AddDate(0, 0, 1), nil
	}
	for _, op := range []string{">=", "<=", ">", "<", "="} {
		if rest, ok := strings.CutPrefix(v, op); ok {
			d, ok := day(rest)
			if !ok {
				return lo, hi, bad
			}
			switch op {
			case ">=":
				return d, farFuture, nil
			case "<=":
				return farPast, d.AddDate(0, 0, 1), nil
			case ">":
				return d.AddDate(0, 0, 1), farFuture, nil
			case "<":
				return farPast, d, nil
			}
			return d, d.AddDate(0, 0, 1), nil
		}
	}
	d, ok := day(v)
	if !ok {
		return lo, hi, bad
	}
	return d, d.AddDate(0, 0, 1), nil
}

// aqsSizeRange parses a size value (bytes, or with kb/mb; optionally
// with a comparison or a..b) into [lo, hi).
func aqsSizeRange(v string) (lo, hi int64, err error) {
	bad := codeErr("ErrorInvalidArgument", "The query string size %q is invalid.", v)
	num := func(s string) (int64, bool) {
		mult := int64(1)
		switch {
		case strings.HasSuffix(s, "kb"):
			mult, s = 1024, strings.TrimSuffix(s, "kb")
		case strings.HasSuffix(s, "mb"):
			mult, s = 1024*1024, strings.TrimSuffix(s, "mb")
		}
		n, err := strconv.ParseInt(s, 10, 64)
		return n * mult, err == nil && n >= 0
	}
	const inf = int64(1) << 62
	if a, b, ok := strings.Cut(v, ".."); ok {
		na, okA := num(a)
		nb, okB := num(b)
		if !okA || !okB {
			return 0, 0, bad
		}
		return na, nb + 1, nil
	}
	for _, op := range []string{">=", "<=", ">", "<", "="} {
		if rest, ok := strings.CutPrefix(v, op); ok {
			n, ok := num(rest)
			if !ok {
				return 0, 0, bad
			}
			switch op {
			case ">=":
				return n, inf, nil
			case "<=":
				return 0, n + 1, nil
			case ">":
				return n + 1, inf, nil
			case "<":
				return 0, n, nil
			}
			return n, n + 1, nil
		}
	}
	n, ok := num(v)
	if !ok {
		return 0, 0, bad
	}
	return n, n + 1, nil
}

package ewstest

import (
	"cmp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/beevik/etree"
)

// Restrictions (t:Restriction, the SearchExpression grammar) for FindItem
// and FindFolder. A property getter returns one of these values:
//
//   - nil: the property is absent (every comparison is false, Exists too)
//   - string, bool, int64, time.Time
//   - []string: a multi-valued property (categories, recipients); a
//     comparison or Contains holds when it holds for any value, as in
//     Exchange's restrictions on multi-valued properties.

type itemPred func(*item) bool

// getter reads a restriction value from an object of type T.
type getter[T any] func(T) any

// pathFunc resolves the property path of a search expression (its first
// FieldURI, IndexedFieldURI or ExtendedFieldURI child).
type pathFunc[T any] func(el *etree.Element) (getter[T], error)

// xsDateTimeLayouts are the xs:dateTime forms clients send.
var xsDateTimeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02"}

func parseXSDateTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	for _, l := range xsDateTimeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// parseConstLike parses the constant c as the type of the sample value.
func parseConstLike(sample any, c string) (any, error) {
	switch sample.(type) {
	case bool:
		b, err := parseBool(strings.TrimSpace(c))
		if err != nil {
			return nil, err
		}
		return b, nil
	case int64:
		n, err := strconv.ParseInt(strings.TrimSpace(c), 0, 64)
		if err != nil {
			f, ferr := strconv.ParseFloat(strings.TrimSpace(c), 64)
			if ferr != nil {
				return nil, schemaFault("%q is not a valid integer", c)
			}
			n = int64(f)
		}
		return n, nil
	case time.Time:
		t, ok := parseXSDateTime(c)
		if !ok {
			return nil, schemaFault("%q is not a valid xs:dateTime", c)
		}
		return t, nil
	}
	return c, nil
}

// compareScalar orders two values of the same scalar type; ok is false
// when they cannot be compared. Strings compare case-insensitively, as
// Exchange's restrictions do.
func compareScalar(a, b any) (int, bool) {
	switch x := a.(type) {
	case string:
		y, ok := b.(string)
		return compareFold(x, y), ok
	case bool:
		y, ok := b.(bool)
		switch {
		case !ok:
			return 0, false
		case x == y:
			return 0, true
		case !x:
			return -1, true
		}
		return 1, true
	case int64:
		y, ok := b.(int64)
		return cmp.Compare(x, y), ok
	case time.Time:
		y, ok := b.(time.Time)
		return x.Compare(y), ok
	}
	return 0, false
}

// compareFold compares two strings case-insensitively without
// allocating.
func compareFold(a, b string) int {
	for a != "" && b != "" {
		ra, na := utf8.DecodeRuneInString(a)
		rb, nb := utf8.DecodeRuneInString(b)
		if ra != rb {
			la, lb := unicode.ToLower(ra), unicode.ToLower(rb)
			if la != lb {
				return cmp.Compare(la, lb)
			}
		}
		a, b = a[na:], b[nb:]
	}
	return cmp.Compare(len(a), len(b))
}

// values returns the scalar values of v (none when absent).
func values(v any) []any {
	switch x := v.(type) {
	case nil:
		return nil
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out
	}
	return []any{v}
}

// sortValue reduces v to one comparable scalar for SortOrder (the first
// value of a multi-valued property; "" when absent).
func sortValue(v any) any {
	switch x := v.(type) {
	case nil:
		return ""
	case []string:
		if len(x) == 0 {
			return ""
		}
		return x[0]
	}
	return v
}

func relop(op string, c int) bool {
	switch op {
	case "IsEqualTo":
		return c == 0
	case "IsNotEqualTo":
		return c != 0
	case "IsGreaterThan":
		return c > 0
	case "IsGreaterThanOrEqualTo":
		return c >= 0
	case "IsLessThan":
		return c < 0
	}
	return c <= 0
}

var validContainmentModes = map[string]bool{"": true, "FullString": true, "Prefixed": true, "Substring": true,
	"PrefixOnWords": true, "ExactPhrase": true}

var validContainmentComparisons = map[string]bool{"": true, "Exact": true, "IgnoreCase": true,
	"IgnoreNonSpacingCharacters": true, "Loose": true, "IgnoreCaseAndNonSpacingCharacters": true,
	"LooseAndIgnoreCase": true, "LooseAndIgnoreNonSpace": true, "LooseAndIgnoreCaseAndIgnoreNonSpace": true}

// foldNonSpacing maps common Latin letters with diacritics to their base
// letter (the IgnoreNonSpacingCharacters comparisons).
var foldNonSpacing = strings.NewReplacer(
	"à", "a", "á", "a", "â", "a", "ã", "a", "ä", "a", "å", "a", "ç", "c", "è", "e", "é", "e", "ê", "e", "ë", "e",
	"ì", "i", "í", "i", "î", "i", "ï", "i", "ñ", "n", "ò", "o", "ó", "o", "ô", "o", "õ", "o", "ö", "o", "ù", "u",
	"ú", "u", "û", "u", "ü", "u", "ý", "y", "ÿ", "y",
	"À", "A", "Á", "A", "Â", "A", "Ã", "A", "Ä", "A", "Å", "A", "Ç", "C", "È", "E", "É", "E", "Ê", "E", "Ë", "E",
	"Ì", "I", "Í", "I", "Î", "I", "Ï", "I", "Ñ", "N", "Ò", "O", "Ó", "O", "Ô", "O", "Õ", "O", "Ö", "O", "Ù", "U",
	"Ú", "U", "Û", "U", "Ü", "U", "Ý", "Y")

// containsMatch applies a Contains expression to one string.
func containsMatch(s, v, mode, comparison string) bool {
	if strings.Contains(comparison, "IgnoreCase") || strings.HasPrefix(comparison, "Loose") {
		s, v = strings.ToLower(s), strings.ToLower(v)
	}
	if strings.Contains(comparison, "NonSpac") || strings.Contains(comparison, "NonSpace") || strings.HasPrefix(comparison, "Loose") {
		s, v = foldNonSpacing.Replace(s), foldNonSpacing.Replace(v)
	}
	switch mode {
	case "FullString":
		return s == v
	case "Prefixed":
		return strings.HasPrefix(s, v)
	case "PrefixOnWords", "ExactPhrase":
		for i := 0; i <= len(s)-len(v); {
			j := strings.Index(s[i:], v)
			if j < 0 {
				return false
			}
			j += i
			startOK := j == 0 || !isWordRune(lastRune(s[:j]))
			endOK := mode == "PrefixOnWords" || j+len(v) == len(s) || !isWordRune(firstRune(s[j+len(v):]))
			if startOK && endOK {
				return true
			}
			i = j + 1
		}
		return false
	}
	return strings.Contains(s, v)
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' }

func lastRune(s string) rune {
	r := []rune(s)
	return r[len(r)-1]
}

func firstRune(s string) rune {
	for _, r := range s {
		return r
	}
	return 0
}

// compileExpr compiles a search expression over objects of type T. probe
// is a zero object used to learn a property's value type.
func compileExpr[T any](el *etree.Element, path pathFunc[T], probe T) (func(T) bool, error) {
	return compileExprDepth(el, path, probe, 0)
}

// maxExprDepth bounds the nesting of search expressions (and AQS
// parentheses), so that a hostile request cannot exhaust the stack.
const maxExprDepth = 64

func compileExprDepth[T any](el *etree.Element, path pathFunc[T], probe T, depth int) (func(T) bool, error) {
	if depth > maxExprDepth {
		return nil, codeErr("ErrorInvalidRestriction", "The restriction is nested too deeply.")
	}
	switch el.Tag {
	case "And", "Or":
		var subs []func(T) bool
		for _, c := range el.ChildElements() {
			p, err := compileExprDepth(c, path, probe, depth+1)
			if err != nil {
				return nil, err
			}
			subs = append(subs, p)
		}
		if len(subs) == 0 {
			return nil, schemaFault("%s needs at least one expression", el.Tag)
		}
		and := el.Tag == "And"
		return func(x T) bool {
			for _, p := range subs {
				if p(x) != and {
					return !and
				}
			}
			return and
		}, nil
	case "Not":
		cs := el.ChildElements()
		if len(cs) != 1 {
			return nil, schemaFault("Not needs one expression")
		}
		p, err := compileExprDepth(cs[0], path, probe, depth+1)
		if err != nil {
			return nil, err
		}
		return func(x T) bool { return !p(x) }, nil
	case "Exists":
		get, err := path(el)
		if err != nil {
			return nil, err
		}
		return func(x T) bool {
			switch v := get(x).(type) {
			case nil:
				return false
			case string:
				return v != ""
			case []string:
				return len(v) > 0
			case time.Time:
				return !v.IsZero()
			}
			return true
		}, nil
	case "IsEqualTo", "IsNotEqualTo", "IsGreaterThan", "IsGreaterThanOrEqualTo", "IsLessThan", "IsLessThanOrEqualTo":
		get, err := path(el)
		if err != nil {
			return nil, err
		}
		foc := childT(el, "FieldURIOrConstant")
		if foc == nil {
			return nil, schemaFault("%s needs FieldURIOrConstant", el.Tag)
		}
		op := el.Tag
		var other getter[T]
		var cst any
		if c := childT(foc, "Constant"); c != nil {
			sample := sortValue(get(probe))
			if cst, err = parseConstLike(sample, attr(c, "Value")); err != nil {
				return nil, err
			}
		} else if other, err = path(foc); err != nil {
			return nil, err
		}
		if other == nil && op != "IsNotEqualTo" {
			// Fast path: a constant on the right, no allocation for a
			// single-valued property.
			return func(x T) bool {
				switch v := get(x).(type) {
				case nil:
					return false
				case []string:
					for _, s := range v {
						if c, ok := compareScalar(s, cst); ok && relop(op, c) {
							return true
						}
					}
					return false
				default:
					c, ok := compareScalar(v, cst)
					return ok && relop(op, c)
				}
			}, nil
		}
		return func(x T) bool {
			rights := []any{cst}
			if other != nil {
				rights = values(other(x))
			}
			lefts := values(get(x))
			if op == "IsNotEqualTo" {
				// Not equal to any value (a multi-valued property equal in
				// one value is not "not equal").
				if len(lefts) == 0 || len(rights) == 0 {
					return false
				}
				for _, l := range lefts {
					for _, r := range rights {
						if c, ok := compareScalar(l, r); !ok || c == 0 {
							return false
						}
					}
				}
				return true
			}
			for _, l := range lefts {
				for _, r := range rights {
					if c, ok := compareScalar(l, r); ok && relop(op, c) {
						return true
					}
				}
			}
			return false
		}, nil
	case "Contains":
		get, err := path(el)
		if err != nil {
			return nil, err
		}
		c := childT(el, "Constant")
		if c == nil {
			return nil, schemaFault("Contains needs a Constant")
		}
		val := attr(c, "Value")
		mode, comparison := attr(el, "ContainmentMode"), attr(el, "ContainmentComparison")
		if !validContainmentModes[mode] {
			return nil, schemaFault("the value %q is invalid for ContainmentMode", mode)
		}
		if !validContainmentComparisons[comparison] {
			return nil, schemaFault("the value %q is invalid for ContainmentComparison", comparison)
		}
		return func(x T) bool {
			switch v := get(x).(type) {
			case string:
				return containsMatch(v, val, mode, comparison)
			case []string:
				for _, s := range v {
					if containsMatch(s, val, mode, comparison) {
						return true
					}
				}
			}
			return false
		}, nil
	case "Excludes":
		get, err := path(el)
		if err != nil {
			return nil, err
		}
		bm := childT(el, "Bitmask")
		if bm == nil {
			return nil, schemaFault("Excludes needs a Bitmask")
		}
		mask, err := strconv.ParseInt(strings.TrimSpace(attr(bm, "Value")), 0, 64)
		if err != nil {
			return nil, schemaFault("the Bitmask value %q is invalid", attr(bm, "Value"))
		}
		if _, ok := get(probe).(int64); !ok {
			return nil, codeErr("ErrorInvalidRestriction", "Excludes applies to integer properties only.")
		}
		return func(x T) bool {
			n, ok := get(x).(int64)
			return ok && n&mask == 0
		}, nil
	}
	return nil, codeErr("ErrorInvalidRestriction", "The restriction element %s is not supported by this server.", el.Tag)
}

// compileRestriction compiles a FindItem search expression.
func compileRestriction(el *etree.Element) (itemPred, error) {
	p, err := compileExpr(el, restrictionPath, &item{folder: &folder{}})
	return itemPred(p), err
}

// addrValues lists the addresses' emails and display names, so that a
// restriction on a recipient matches either.
func addrValues(as ...Address) any {
	var out []string
	for _, a := range as {
		if a.Email != "" {
			out = append(out, a.Email)
		}
		if a.Name != "" {
			out = append(out, a.Name)
		}
	}
	if out == nil {
		return []string{}
	}
	return out
}

func bodyText(msg *Message) string {
	if msg.BodyType == "HTML" {
		return stripTags(msg.Body)
	}
	return msg.Body
}

// itemFieldValues are the item properties restrictions and sort orders
// can name, by FieldURI local name.
var itemFieldValues = map[string]getter[*item]{
	"Subject":           func(it *item) any { return it.msg.Subject },
	"ItemClass":         func(it *item) any { return it.msg.ItemClass },
	"Importance":        func(it *item) any { return it.msg.Importance },
	"Sensitivity":       func(it *item) any { return it.msg.Sensitivity },
	"InternetMessageId": func(it *item) any { return it.msg.InternetMessageID },
	"InReplyTo":         func(it *item) any { return it.msg.InReplyTo },
	"References":        func(it *item) any { return it.msg.References },
	"IsRead":            func(it *item) any { return it.msg.IsRead },
	"IsDraft":           func(it *item) any { return it.msg.IsDraft },
	"IsUnmodified":      func(it *item) any { return !it.msg.IsDraft },
	"IsSubmitted":       func(it *item) any { return false },
	"IsAssociated":      func(it *item) any { return false },
	"IsResend":          func(it *item) any { return false },
	"ReminderIsSet":     func(it *item) any { return false },
	"HasAttachments":    func(it *item) any { return len(it.msg.Attachments) > 0 },
	"DateTimeReceived":  func(it *item) any { return it.msg.DateTimeReceived },
	"DateTimeSent":      func(it *item) any { return it.msg.DateTimeSent },
	"DateTimeCreated":   func(it *item) any { return it.created },
	"LastModifiedTime":  func(it *item) any { return it.modified },
	"Size":              func(it *item) any { return int64(it.mimeSize()) },
	"Categories": func(it *item) any { // never modified in place
		if it.msg.Categories == nil {
			return []string{}
		}
		return it.msg.Categories
	},
	"From":           func(it *item) any { return addrValues(it.msg.From) },
	"Sender":         func(it *item) any { return addrValues(it.msg.sender()) },
	"ToRecipients":   func(it *item) any { return addrValues(it.msg.To...) },
	"CcRecipients":   func(it *item) any { return addrValues(it.msg.Cc...) },
	"BccRecipients":  func(it *item) any { return addrValues(it.msg.Bcc...) },
	"DisplayTo":      func(it *item) any { return displayNames(it.msg.To) },
	"DisplayCc":      func(it *item) any { return displayNames(it.msg.Cc) },
	"ConversationId": func(it *item) any { return conversationID(it.msg.Subject) },
	"ConversationTopic": func(it *item) any {
		return conversationTopic(it.msg.Subject)
	},
	"Body":       func(it *item) any { return bodyText(&it.msg) },
	"TextBody":   func(it *item) any { return bodyText(&it.msg) },
	"UniqueBody": func(it *item) any { return bodyText(&it.msg) },
	"Preview":    func(it *item) any { return strings.Join(strings.Fields(bodyText(&it.msg)), " ") },
	"FlagStatus": func(it *item) any { return it.msg.FlagStatus },
	"Flag":       func(it *item) any { return it.msg.FlagStatus },
	"Culture":    func(it *item) any { return "en-US" },
	"ItemId":     func(it *item) any { return it.id },
	"ParentFolderId": func(it *item) any {
		if it.folder == nil {
			return ""
		}
		return it.folder.id
	},
}

// itemExtValues are the MAPI properties restrictions can name by tag.
var itemExtValues = map[int]getter[*item]{
	0x0E08: itemFieldValues["Size"],              // PR_MESSAGE_SIZE
	0x0037: itemFieldValues["Subject"],           // PR_SUBJECT
	0x001A: itemFieldValues["ItemClass"],         // PR_MESSAGE_CLASS
	0x1035: itemFieldValues["InternetMessageId"], // PR_INTERNET_MESSAGE_ID
	0x0E06: itemFieldValues["DateTimeReceived"],  // PR_MESSAGE_DELIVERY_TIME
	0x0039: itemFieldValues["DateTimeSent"],      // PR_CLIENT_SUBMIT_TIME
	0x3007: itemFieldValues["DateTimeCreated"],   // PR_CREATION_TIME
	0x3008: itemFieldValues["LastModifiedTime"],  // PR_LAST_MODIFICATION_TIME
	0x1000: itemFieldValues["Body"],              // PR_BODY
	0x0E1B: itemFieldValues["HasAttachments"],    // PR_HASATTACH
	0x0017: func(it *item) any { // PR_IMPORTANCE
		switch it.msg.Importance {
		case "Low":
			return int64(0)
		case "High":
			return int64(2)
		}
		return int64(1)
	},
	0x0E07: func(it *item) any { // PR_MESSAGE_FLAGS: MSGFLAG_READ, UNMODIFIED, HASATTACH
		var f int64
		if it.msg.IsRead {
			f |= 0x1
		}
		if !it.msg.IsDraft {
			f |= 0x2
		}
		if it.msg.IsDraft {
			f |= 0x8
		}
		if len(it.msg.Attachments) > 0 {
			f |= 0x10
		}
		return f
	},
	0x1090: func(it *item) any { // PR_FLAG_STATUS
		switch it.msg.FlagStatus {
		case FlagFlagged:
			return int64(2)
		case FlagComplete:
			return int64(1)
		}
		return int64(0)
	},
}

// restrictionPath resolves the property path of a FindItem search
// expression or sort key.
func restrictionPath(el *etree.Element) (getter[*item], error) {
	for _, c := range el.ChildElements() {
		switch c.Tag {
		case "FieldURI", "IndexedFieldURI":
			uri := attr(c, "FieldURI")
			name, err := fieldName(uri)
			if err != nil {
				return nil, err
			}
			if g, ok := itemFieldValues[name]; ok && c.Tag == "FieldURI" {
				return g, nil
			}
			if g, ok := bagFieldValue(uri, attr(c, "FieldIndex")); ok { // calendar.go
				return g, nil
			}
			return nil, codeErr("ErrorUnsupportedPathForQuery", "The property path %s is not supported for queries by this server.", uri)
		case "ExtendedFieldURI":
			e, err := parseExtendedFieldURI(c)
			if err != nil {
				return nil, err
			}
			if g, ok := itemExtValues[e.tag]; ok {
				return g, nil
			}
			// The article number, record key and properties clients
			// stored (extprops.go); anything else is absent.
			return extGetter(e), nil
		}
	}
	return nil, schemaFault("%s needs a property path", el.Tag)
}

type sortKey struct {
	get  getter[*item]
	desc bool
}

func parseSortOrder(el *etree.Element) ([]sortKey, error) {
	var keys []sortKey
	for _, fo := range el.ChildElements() {
		get, err := restrictionPath(fo)
		if err != nil {
			return nil, codeErr("ErrorUnsupportedPathForSortGroup", "The property path is not supported for sorting by this server.")
		}
		switch attr(fo, "Order") {
		case "Ascending", "Descending":
		default:
			return nil, schemaFault("the value %q is invalid for Order", attr(fo, "Order"))
		}
		keys = append(keys, sortKey{get: get, desc: attr(fo, "Order") == "Descending"})
	}
	return keys, nil
}

// less orders two property values for SortOrder; absent values sort
// first.
func less(a, b any) int {
	x, y := sortValue(a), sortValue(b)
	if c, ok := compareScalar(x, y); ok {
		return c
	}
	return 0
}

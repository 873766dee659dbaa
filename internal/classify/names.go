package classify

import (
	"fmt"
	"strings"
	"unicode"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// Match is what a column's name and type alone say it holds.
type Match struct {
	// Category is the kind of personal data.
	Category privacyv1alpha1.DataCategory
	// Identifier says the value alone points at one person, so a request
	// can find the person by it: an e-mail address, a user name, a
	// customer or employee number, a national id.
	Identifier bool
	// Reasons are the name and type signals, strongest first.
	Reasons []Reason
}

// Column says what a column's name and type alone say it holds, without
// its table or its data: for callers without a database. The name is read
// as words (snake_case, camelCase, spaces, digits; accents folded) in
// English, Swedish, French, German and Spanish; the type is c.Category
// (pg_type.typcategory) or, when that is zero, c.Type as format_type
// prints it. A generic word (name, state, extension, note) matches here;
// Classify and FromCatalog also weigh it against its table. ok is false
// when nothing personal is seen.
func Column(c tenantdb.Column) (m Match, ok bool) {
	s, ok := columnSignal(c)
	if !ok {
		return Match{}, false
	}
	return Match{Category: s.cat, Identifier: s.identifier, Reasons: s.reasons}, true
}

// signal is one column's evidence from its name and type.
type signal struct {
	cat        privacyv1alpha1.DataCategory
	str        strength
	role       role
	identifier bool
	reasons    []Reason
	// evidence: the sampled content says so on its own.
	evidence bool
}

// entry is one phrase of a group, keyed by its joined, folded words.
type entry struct {
	*group
	phrase string
	key    string
}

var (
	entries   = map[string][]entry{}
	compounds []entry
)

func init() {
	for i := range groups {
		g := &groups[i]
		for _, p := range g.phrases {
			e := entry{group: g, phrase: p, key: strings.Join(Words(p), "")}
			entries[e.key] = append(entries[e.key], e)
			if g.compound && len(e.key) >= 5 {
				compounds = append(compounds, e)
			}
		}
	}
}

// maxPhraseWords bounds the words one phrase spans ("numéro de sécurité
// sociale").
const maxPhraseWords = 5

// candidate is a phrase found in a name, over words[i:j].
type candidate struct {
	entry
	i, j     int
	compound bool
}

func columnSignal(c tenantdb.Column) (signal, bool) {
	tc := classOf(c)
	name, ok := nameSignal(Words(c.Name), tc)
	typ, typOK := typeSignal(c, tc)
	switch {
	case ok && typOK && (typ.cat == name.cat || tc&(tBinary|tOID) != 0):
		name.reasons = append(name.reasons, typ.reasons...)
		name.str = max(name.str, typ.str)
	case ok && name.cat == catBirthDate && tc == tDate:
		name.reasons = append(name.reasons, Reason{Kind: ReasonType, Detail: fmt.Sprintf("type %s holds a date", c.Type)})
	case !ok && typOK:
		return typ, true
	}
	return name, ok
}

// nameSignal reads a column name's words.
func nameSignal(words []string, tc typeClass) (signal, bool) {
	if len(words) == 0 || tc&(tBool|tOtherType) != 0 {
		return signal{}, false
	}
	if tc == tNumber && (keyWords[words[0]] || keyWords[words[len(words)-1]]) {
		return signal{}, false // a key (customer_id, id_cliente), not an identifier
	}
	best, ok := bestCandidate(words, tc)
	if !ok {
		return signal{}, false
	}
	for _, w := range words[best.j:] {
		if modifiers[w] {
			return signal{}, false // email_status, address_type
		}
	}
	s := signal{cat: best.cat, str: best.str, role: best.role, identifier: best.identifier}
	detail := fmt.Sprintf("name matches %q", best.phrase)
	if best.compound {
		detail = fmt.Sprintf("name ends in %q", best.phrase)
	}
	if best.role == bareName {
		for _, k := range []int{best.i - 1, best.j} {
			if k < 0 || k >= len(words) {
				continue
			}
			switch {
			case thingNoun(words[k]):
				return signal{}, false // company_name, nom_produit
			case personNoun(words[k]):
				s.str, s.role = strong, selfName
				detail = fmt.Sprintf("name matches %q", strings.Join(words[min(k, best.i):max(k+1, best.j)], " "))
			}
		}
	}
	s.reasons = []Reason{{Kind: ReasonName, Detail: detail}}
	return s, true
}

// bestCandidate finds the phrase of the name that fits the type and spans
// the most words (email_address is an e-mail, not an address); of equal
// ones the rightmost (the head of an English compound: lastLoginIp is an
// IP address), then the longest.
func bestCandidate(words []string, tc typeClass) (candidate, bool) {
	var (
		best  candidate
		found bool
	)
	consider := func(c candidate) {
		if c.types&tc == 0 {
			return
		}
		cw, bw := c.j-c.i, best.j-best.i
		if !found || cw > bw || (cw == bw && (c.i > best.i || (c.i == best.i && len(c.key) > len(best.key)))) {
			best, found = c, true
		}
	}
	for i := range words {
		key := ""
		for j := i + 1; j <= len(words) && j-i <= maxPhraseWords; j++ {
			key += words[j-1]
			for _, e := range entries[key] {
				consider(candidate{entry: e, i: i, j: j})
			}
		}
		for _, e := range compounds {
			if w := words[i]; len(w) > len(e.key) && strings.HasSuffix(w, e.key) {
				consider(candidate{entry: e, i: i, j: i + 1, compound: true})
			}
		}
	}
	return best, found
}

// typeClass is the kind of a column's type, as far as personal data goes.
type typeClass uint16

const (
	tText typeClass = 1 << iota
	tNumber
	tDate
	tBool
	tNet    // inet, cidr, macaddr, macaddr8
	tBinary // bytea
	tOID    // a large object's oid
	tJSON   // json, jsonb
	tArray  // an array of text
	tGeo    // point, PostGIS geometry and geography
	tOtherType
)

// classOf reads the column's type class from its pg_type.typcategory, or
// from the type's name when the category is not known.
func classOf(c tenantdb.Column) typeClass {
	t := strings.ToLower(strings.TrimSpace(c.Type))
	switch {
	case strings.HasSuffix(t, "[]"):
		if textName(strings.TrimSuffix(t, "[]")) {
			return tArray
		}
		return tOtherType
	case t == "bytea":
		return tBinary
	case t == "oid" || t == "lo":
		return tOID
	case t == "json" || t == "jsonb":
		return tJSON
	case t == "inet" || t == "cidr" || t == "macaddr" || t == "macaddr8":
		return tNet
	case t == "point" || strings.HasPrefix(t, "geometry") || strings.HasPrefix(t, "geography"):
		return tGeo
	}
	switch c.Category {
	case 'S':
		return tText
	case 'N':
		return tNumber
	case 'D':
		return tDate
	case 'B':
		return tBool
	case 'I':
		return tNet
	case 'G':
		return tGeo
	case 0:
	default:
		return tOtherType
	}
	switch {
	case textName(t):
		return tText
	case strings.HasPrefix(t, "timestamp") || strings.HasPrefix(t, "date") || strings.HasPrefix(t, "time"):
		return tDate
	case t == "boolean" || t == "bool":
		return tBool
	}
	for _, n := range []string{"smallint", "integer", "bigint", "int", "numeric", "decimal", "real", "double precision", "float"} {
		if strings.HasPrefix(t, n) {
			return tNumber
		}
	}
	return tOtherType
}

// textName says whether a type name (format_type's) is a text type.
func textName(t string) bool {
	for _, n := range []string{"text", "character varying", "varchar", "character", "char", "citext", "name", "bpchar"} {
		if t == n || strings.HasPrefix(t, n+"(") {
			return true
		}
	}
	return false
}

// typeSignal is what a column's type alone says.
func typeSignal(c tenantdb.Column, tc typeClass) (signal, bool) {
	t := strings.ToLower(c.Type)
	switch {
	case strings.HasPrefix(t, "macaddr"):
		return typed(catIPAddress, strong, fmt.Sprintf("type %s holds hardware (MAC) addresses", c.Type)), true
	case tc == tNet:
		return typed(catIPAddress, strong, fmt.Sprintf("type %s holds IP addresses", c.Type)), true
	case tc == tBinary:
		return typed(catOther, weak, fmt.Sprintf("type %s holds binary data (a picture or a document)", c.Type)), true
	case tc == tGeo:
		return typed(catLocation, contact, fmt.Sprintf("type %s holds a location", c.Type)), true
	}
	return signal{}, false
}

func typed(cat privacyv1alpha1.DataCategory, str strength, detail string) signal {
	return signal{cat: cat, str: str, reasons: []Reason{{Kind: ReasonType, Detail: detail}}}
}

// Words splits a column or table name into lower-case words with accents
// folded: at underscores, spaces and other punctuation, between a lower-case
// letter and a capital (firstName), before the last capital of a run that
// starts a word (IPAddress: ip address), and between letters and digits
// (address2, ipv4). "E-Post_Adresse" is e, post, adresse; "Straße" is
// strasse.
func Words(name string) []string {
	var (
		words []string
		cur   strings.Builder
	)
	runes := []rune(name)
	flush := func() {
		if cur.Len() > 0 {
			words = append(words, cur.String())
			cur.Reset()
		}
	}
	for i, r := range runes {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			flush()
			continue
		}
		if i > 0 && cur.Len() > 0 {
			prev := runes[i-1]
			switch {
			case unicode.IsUpper(r) && unicode.IsLower(prev):
				flush()
			case unicode.IsUpper(r) && unicode.IsUpper(prev) && i+1 < len(runes) && unicode.IsLower(runes[i+1]):
				flush()
			case unicode.IsDigit(r) != unicode.IsDigit(prev):
				flush()
			}
		}
		cur.WriteString(fold(r))
	}
	flush()
	return words
}

// folded maps the accented letters of the five languages to plain ones.
var folded = map[rune]string{
	'à': "a", 'á': "a", 'â': "a", 'ä': "a", 'å': "a", 'ã': "a", 'æ': "ae",
	'ç': "c", 'è': "e", 'é': "e", 'ê': "e", 'ë': "e", 'ì': "i", 'í': "i", 'î': "i", 'ï': "i",
	'ñ': "n", 'ò': "o", 'ó': "o", 'ô': "o", 'ö': "o", 'õ': "o", 'ø': "o", 'œ': "oe",
	'ù': "u", 'ú': "u", 'û': "u", 'ü': "u", 'ý': "y", 'ÿ': "y", 'ß': "ss",
}

func fold(r rune) string {
	r = unicode.ToLower(r)
	if s, ok := folded[r]; ok {
		return s
	}
	return string(r)
}

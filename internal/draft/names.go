package draft

import (
	"strconv"
	"strings"

	"github.com/lethe-dev/lethe/internal/classify"
)

// maxName is the longest entity, subject type or identifier name the API
// takes.
const maxName = 63

// camel turns a table or column name into a name of the API's pattern
// ^[a-z][a-zA-Z0-9]*$: its words (classify.Words: accents folded) in
// lowerCamelCase, letters outside ASCII dropped. When nothing is left, or
// it starts with a digit, fallback goes first (fallback is such a name).
func camel(name, fallback string) string {
	var b strings.Builder
	for _, w := range classify.Words(name) {
		w = asciiOnly(w)
		if w == "" {
			continue
		}
		if b.Len() > 0 {
			w = strings.ToUpper(w[:1]) + w[1:]
		}
		b.WriteString(w)
	}
	out := b.String()
	switch {
	case out == "":
		out = fallback
	case out[0] >= '0' && out[0] <= '9':
		out = fallback + out
	}
	if len(out) > maxName {
		out = out[:maxName]
	}
	return out
}

func asciiOnly(w string) string {
	var b strings.Builder
	for _, r := range w {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// entityName names the entity of a table: its name in lowerCamelCase with
// the last word in the singular (contact_persons: contactPerson,
// "Loyalty Cards": loyaltyCard).
func entityName(table string) string {
	words := classify.Words(table)
	if len(words) > 0 {
		words[len(words)-1] = singular(words[len(words)-1])
	}
	return camel(strings.Join(words, "_"), "table")
}

// irregular plurals of the nouns tables are named for.
var irregular = map[string]string{"people": "person", "children": "child", "men": "man", "women": "woman",
	"data": "data", "news": "news", "series": "series"}

// singular is an English noun's singular, by its ending; a noun that does
// not look plural is returned as it is.
func singular(w string) string {
	if s, ok := irregular[w]; ok {
		return s
	}
	switch {
	case len(w) > 4 && strings.HasSuffix(w, "ies"):
		return w[:len(w)-3] + "y"
	case strings.HasSuffix(w, "sses"), strings.HasSuffix(w, "xes"), strings.HasSuffix(w, "ches"),
		strings.HasSuffix(w, "shes"), strings.HasSuffix(w, "uses"), strings.HasSuffix(w, "zzes"):
		return w[:len(w)-2]
	case strings.HasSuffix(w, "ss"), strings.HasSuffix(w, "us"), strings.HasSuffix(w, "is"), len(w) < 3:
		return w
	case strings.HasSuffix(w, "s"):
		return w[:len(w)-1]
	}
	return w
}

// identifierName names a subject identifier after its column: the
// column's name in lowerCamelCase, or, for a column named plainly "id",
// the subject type and Id (memberId).
func identifierName(subject, column string) string {
	if strings.EqualFold(strings.TrimSpace(column), "id") {
		return camel(subject+"_id", "id")
	}
	return camel(column, "id")
}

// unique makes names unique, in order: a name taken before gets the first
// free number appended (within the length bound).
type unique map[string]bool

func (u unique) take(name string) string {
	out := name
	for i := 2; u[out]; i++ {
		suffix := strconv.Itoa(i)
		base := name
		if len(base)+len(suffix) > maxName {
			base = base[:maxName-len(suffix)]
		}
		out = base + suffix
	}
	u[out] = true
	return out
}

package masking

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

// Type categories of pg_type.typcategory.
const (
	catString   = 'S'
	catNumeric  = 'N'
	catDateTime = 'D'
)

// typeKind is what a strategy needs to know of a column's type.
type typeKind int

const (
	kindOther typeKind = iota
	kindText
	kindInteger
	kindDecimal
	kindDate
	kindTimestamp
	kindTimestampTZ
)

func kindOf(c Column) typeKind {
	switch c.Category {
	case catString:
		return kindText
	case catNumeric:
		switch c.Type {
		case "smallint", "integer", "bigint":
			return kindInteger
		}
		return kindDecimal
	case catDateTime:
		switch {
		case c.Type == "date":
			return kindDate
		case strings.HasPrefix(c.Type, "timestamp") && strings.HasSuffix(c.Type, "with time zone"):
			return kindTimestampTZ
		case strings.HasPrefix(c.Type, "timestamp"):
			return kindTimestamp
		}
	}
	return kindOther
}

var boundedType = regexp.MustCompile(`^(?:character varying|character|varchar|bpchar)\((\d+)\)$`)

// maxLen is n for varchar(n) and char(n), 0 for unbounded types.
func maxLen(c Column) int {
	m := boundedType.FindStringSubmatch(c.Type)
	if m == nil {
		return 0
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		return 0
	}
	return n
}

// Lengths a bounded unique column needs so that a row discriminator
// ("_" and the primary key) fits, and that an e-mail keeps its domain.
const (
	minHashUnique  = 16
	minUnique      = 24
	minEmail       = 24
	minEmailUnique = 40
)

var (
	integerValue = regexp.MustCompile(`^[+-]?[0-9]+$`)
	decimalValue = regexp.MustCompile(`^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$`)
)

// Check says why a strategy cannot apply to a column, or "" when it can: a
// type the strategy cannot produce, a NOT NULL column for Nullify, a unique
// column for a strategy that writes equal values into several rows (Replace,
// Partial, Generalize, and Clear on a NOT NULL column), a bounded column too
// short for the result, or a parameter the strategy lacks. When another
// strategy would fit, the message names it.
//
// Nullify and Clear are fine on a nullable unique column (NULLs do not
// collide; Clear writes NULL there). Pseudonym and Fake are fine on a unique
// column: UpdateSQL appends the row's primary key when the value alone could
// collide.
func Check(s privacyv1alpha1.MaskingStrategy, c Column) string {
	why, suggest := check(s, c)
	if why != "" && suggest {
		why += "; " + instead(s.Type, c)
	}
	return why
}

// check is Check without the suggestion; suggest says whether another
// strategy could fit (the problem is the column, not the parameters).
func check(s privacyv1alpha1.MaskingStrategy, c Column) (why string, suggest bool) {
	kind, n := kindOf(c), maxLen(c)
	if s.Locale != nil && s.Type != privacyv1alpha1.StrategyFake {
		return "locale applies only to strategy Fake", false
	}
	switch s.Type {
	case privacyv1alpha1.StrategyNullify:
		if c.NotNull {
			return "the column is NOT NULL", true
		}
	case privacyv1alpha1.StrategyReplace:
		return checkReplace(s, c, kind, n)
	case privacyv1alpha1.StrategyHash:
		if s.KeySecretRef == nil {
			return "Hash needs keySecretRef, the Secret key that holds the HMAC key", false
		}
		if kind != kindText {
			return "it needs a text column", true
		}
		if c.Unique && n > 0 && n < minHashUnique {
			return fmt.Sprintf("the column is unique and holds %d characters: a hash cut that short can collide (it needs %d)",
				n, minHashUnique), true
		}
	case privacyv1alpha1.StrategyPseudonym:
		return checkPseudonym(s, c, kind, n)
	case privacyv1alpha1.StrategyFake:
		return checkFake(s, c, kind, n)
	case privacyv1alpha1.StrategyPartial:
		return checkPartial(s, c, kind)
	case privacyv1alpha1.StrategyGeneralize:
		return checkGeneralize(s, c, kind)
	case privacyv1alpha1.StrategyClear:
		if kind != kindText {
			return "it needs a text column", true
		}
		if c.Unique && c.NotNull {
			return "the column is unique and NOT NULL, so it cannot be emptied", true
		}
	default:
		return fmt.Sprintf("unknown strategy %q", s.Type), false
	}
	return "", false
}

func checkReplace(s privacyv1alpha1.MaskingStrategy, c Column, kind typeKind, n int) (string, bool) {
	if s.Value == nil {
		return "Replace needs a value", false
	}
	v := *s.Value
	switch kind {
	case kindText:
		if l := utf8.RuneCountInString(v); n > 0 && l > n {
			return fmt.Sprintf("the value has %d characters and the column holds at most %d", l, n), false
		}
	case kindInteger:
		if !integerValue.MatchString(v) {
			if decimalValue.MatchString(v) {
				return "the column is an integer and the value is not a whole number", false
			}
			return "the column is numeric and the value is not a number", false
		}
	case kindDecimal:
		if !decimalValue.MatchString(v) {
			return "the column is numeric and the value is not a number", false
		}
	default:
		return "Replace needs a text or numeric column", true
	}
	if c.Unique {
		return "the column is unique and Replace writes the same value into every row", true
	}
	return "", false
}

func checkPseudonym(s privacyv1alpha1.MaskingStrategy, c Column, kind typeKind, n int) (string, bool) {
	if s.Format == nil {
		return "Pseudonym needs a format", false
	}
	least, why := checkFormat(*s.Format)
	if why != "" {
		return why, false
	}
	if kind != kindText {
		return "it needs a text column", true
	}
	if n > 0 && least > n {
		return fmt.Sprintf("the pseudonym has at least %d characters and the column holds at most %d", least, n), false
	}
	if c.Unique && n > 0 && n < minUnique {
		return fmt.Sprintf("the column is unique and holds %d characters: a pseudonym needs %d to keep room for the row's key",
			n, minUnique), true
	}
	return "", false
}

func checkFake(s privacyv1alpha1.MaskingStrategy, c Column, kind typeKind, n int) (string, bool) {
	if s.Fake == nil {
		return "Fake needs fake, the kind of value", false
	}
	if s.Locale != nil {
		if _, ok := locales[*s.Locale]; !ok {
			return fmt.Sprintf("unknown locale %q", *s.Locale), false
		}
	}
	if _, ok := fakeKinds[*s.Fake]; !ok {
		return fmt.Sprintf("unknown fake kind %q", *s.Fake), false
	}
	if kind != kindText {
		return "it needs a text column", true
	}
	least := 0
	switch {
	case *s.Fake == fakeEmail && c.Unique:
		least = minEmailUnique
	case *s.Fake == fakeEmail:
		least = minEmail
	case c.Unique:
		least = minUnique
	}
	if n > 0 && n < least {
		what := "holds"
		if c.Unique {
			what = "is unique and holds"
		}
		return fmt.Sprintf("the column %s %d characters and Fake %s needs at least %d", what, n, *s.Fake, least), true
	}
	return "", false
}

func checkPartial(s privacyv1alpha1.MaskingStrategy, c Column, kind typeKind) (string, bool) {
	if s.KeepPrefix == nil && s.KeepSuffix == nil {
		return "Partial needs keepPrefix or keepSuffix", false
	}
	if (s.KeepPrefix != nil && *s.KeepPrefix < 0) || (s.KeepSuffix != nil && *s.KeepSuffix < 0) {
		return "keepPrefix and keepSuffix must not be negative", false
	}
	if s.MaskChar != nil && utf8.RuneCountInString(*s.MaskChar) != 1 {
		return "maskChar must be exactly one character", false
	}
	if kind != kindText {
		return "it needs a text column", true
	}
	if c.Unique {
		return "the column is unique and partly masked values can collide", true
	}
	return "", false
}

func checkGeneralize(s privacyv1alpha1.MaskingStrategy, c Column, kind typeKind) (string, bool) {
	switch {
	case (s.Precision == nil) == (s.Bucket == nil):
		return "Generalize needs exactly one of precision (dates) or bucket (numbers)", false
	case s.Precision != nil:
		if p := *s.Precision; p != "Month" && p != "Year" {
			return fmt.Sprintf("precision %q is neither Month nor Year", p), false
		}
		if kind != kindDate && kind != kindTimestamp && kind != kindTimestampTZ {
			return "precision needs a date or timestamp column", true
		}
	default:
		if *s.Bucket < 1 {
			return "bucket must be at least 1", false
		}
		if kind != kindInteger && kind != kindDecimal {
			return "bucket needs a numeric column", true
		}
	}
	if c.Unique {
		return "the column is unique and generalized values collide", true
	}
	return "", false
}

// instead names up to three other strategies that fit the column, tried
// with typical parameters (Generalize is named with the parameter that fits,
// which may be the other one).
func instead(not privacyv1alpha1.StrategyType, c Column) string {
	value := "Anonymized"
	if k := kindOf(c); k == kindInteger || k == kindDecimal {
		value = "0"
	}
	format, fake, suffix := "anon-{n}", fakeName, int32(2)
	year, bucket := privacyv1alpha1.Precision("Year"), int64(10)
	gen := privacyv1alpha1.MaskingStrategy{Type: privacyv1alpha1.StrategyGeneralize, Bucket: &bucket}
	if k := kindOf(c); k == kindDate || k == kindTimestamp || k == kindTimestampTZ {
		gen = privacyv1alpha1.MaskingStrategy{Type: privacyv1alpha1.StrategyGeneralize, Precision: &year}
	}
	candidates := []privacyv1alpha1.MaskingStrategy{
		{Type: privacyv1alpha1.StrategyNullify},
		{Type: privacyv1alpha1.StrategyClear},
		{Type: privacyv1alpha1.StrategyReplace, Value: &value},
		{Type: privacyv1alpha1.StrategyPseudonym, Format: &format},
		{Type: privacyv1alpha1.StrategyHash, KeySecretRef: &privacyv1alpha1.SecretKeyReference{Name: "k", Key: "k"}},
		{Type: privacyv1alpha1.StrategyFake, Fake: &fake},
		{Type: privacyv1alpha1.StrategyPartial, KeepSuffix: &suffix},
		gen,
	}
	var fit []string
	for _, s := range candidates {
		name := string(s.Type)
		switch {
		case s.Type == privacyv1alpha1.StrategyGeneralize && s.Bucket != nil:
			name += " with bucket"
		case s.Type == privacyv1alpha1.StrategyGeneralize:
			name += " with precision"
		case s.Type == not:
			continue
		}
		if why, _ := check(s, c); why == "" {
			fit = append(fit, name)
		}
	}
	switch len(fit) {
	case 0:
		return "no strategy fits it: leave the column out of personalColumns or relax its constraint"
	case 1:
		return "use " + fit[0]
	}
	if len(fit) > 3 {
		fit = fit[:3]
	}
	return "use " + strings.Join(fit[:len(fit)-1], ", ") + " or " + fit[len(fit)-1]
}

package draft

import (
	"fmt"
	"slices"
	"strings"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/classify"
	"github.com/lethe-dev/lethe/internal/masking"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// The strategies a draft proposes, with their parameters. Hash is never
// proposed: it needs a Secret holding a key, which a draft cannot create.
func nullify() privacyv1alpha1.MaskingStrategy {
	return privacyv1alpha1.MaskingStrategy{Type: privacyv1alpha1.StrategyNullify}
}

func clearText() privacyv1alpha1.MaskingStrategy {
	return privacyv1alpha1.MaskingStrategy{Type: privacyv1alpha1.StrategyClear}
}

func replace(v string) privacyv1alpha1.MaskingStrategy {
	return privacyv1alpha1.MaskingStrategy{Type: privacyv1alpha1.StrategyReplace, Value: &v}
}

func pseudonym(format string) privacyv1alpha1.MaskingStrategy {
	return privacyv1alpha1.MaskingStrategy{Type: privacyv1alpha1.StrategyPseudonym, Format: &format}
}

func fake(kind privacyv1alpha1.FakeKind) privacyv1alpha1.MaskingStrategy {
	return privacyv1alpha1.MaskingStrategy{Type: privacyv1alpha1.StrategyFake, Fake: &kind}
}

func partialSuffix(n int32) privacyv1alpha1.MaskingStrategy {
	return privacyv1alpha1.MaskingStrategy{Type: privacyv1alpha1.StrategyPartial, KeepSuffix: &n}
}

func generalizeYear() privacyv1alpha1.MaskingStrategy {
	p := privacyv1alpha1.Precision("Year")
	return privacyv1alpha1.MaskingStrategy{Type: privacyv1alpha1.StrategyGeneralize, Precision: &p}
}

func generalizeBucket(n int64) privacyv1alpha1.MaskingStrategy {
	return privacyv1alpha1.MaskingStrategy{Type: privacyv1alpha1.StrategyGeneralize, Bucket: &n}
}

// preferences are the strategies tried for a category, best first: e-mail
// addresses faked (a realistic address keeps forms and reports working),
// names replaced (or faked where a constant cannot go), free text
// cleared, pictures and network addresses nullified, birth dates kept to
// the year, identifiers and user names turned into pseudonyms, payment
// data masked but for its last digits, and the rest nullified.
func preferences(f classify.Finding) []privacyv1alpha1.MaskingStrategy {
	words := classify.Words(f.Column)
	nameKind := privacyv1alpha1.FakeKind("Name")
	switch {
	case slices.Contains(words, "first") || slices.Contains(words, "given") || slices.Contains(words, "fornamn") ||
		slices.Contains(words, "prenom") || slices.Contains(words, "vorname"):
		nameKind = "FirstName"
	case slices.Contains(words, "last") || slices.Contains(words, "surname") || slices.Contains(words, "family") ||
		slices.Contains(words, "efternamn") || slices.Contains(words, "nachname") || slices.Contains(words, "apellido"):
		nameKind = "LastName"
	}
	switch f.Category {
	case "Email":
		return []privacyv1alpha1.MaskingStrategy{fake("Email"), nullify(), pseudonym("anon-{hex:12}")}
	case "Name":
		return []privacyv1alpha1.MaskingStrategy{replace("Anonymized"), replace("Anon"), fake(nameKind), nullify()}
	case "Phone":
		return []privacyv1alpha1.MaskingStrategy{nullify(), fake("Phone"), replace("0")}
	case "Address":
		city := fake("Address")
		if slices.Contains(words, "city") || slices.Contains(words, "town") || slices.Contains(words, "ort") ||
			slices.Contains(words, "ville") || slices.Contains(words, "stadt") || slices.Contains(words, "ciudad") {
			city = fake("City")
		}
		return []privacyv1alpha1.MaskingStrategy{nullify(), replace("Anonymized"), replace("Anon"), city}
	case "Identifier":
		return []privacyv1alpha1.MaskingStrategy{pseudonym("ANON-{n}"), pseudonym("A{n}"), pseudonym("{n}"), nullify(), replace("0")}
	case "UserName":
		return []privacyv1alpha1.MaskingStrategy{pseudonym("user-{hex:8}"), fake("UserName"), nullify()}
	case "FreeText":
		return []privacyv1alpha1.MaskingStrategy{clearText(), nullify(), replace("Anonymized")}
	case "IPAddress":
		return []privacyv1alpha1.MaskingStrategy{nullify(), replace("0.0.0.0"), clearText()}
	case "Image":
		return []privacyv1alpha1.MaskingStrategy{nullify(), clearText()}
	case "BirthDate":
		return []privacyv1alpha1.MaskingStrategy{generalizeYear(), nullify()}
	case "Financial":
		return []privacyv1alpha1.MaskingStrategy{partialSuffix(4), nullify(), pseudonym("anon-{hex:16}")}
	}
	return []privacyv1alpha1.MaskingStrategy{nullify(), replace("Anonymized"), clearText(), pseudonym("anon-{hex:16}")}
}

// fallbacks are tried after a category's preferences, for a column whose
// type or constraints none of them fit.
var fallbacks = []privacyv1alpha1.MaskingStrategy{nullify(), clearText(), replace("Anonymized"), replace("0"),
	pseudonym("anon-{n}"), pseudonym("{n}"), generalizeYear(), generalizeBucket(10)}

// choice is the strategy chosen for a column, and why better-liked ones
// were passed over.
type choice struct {
	strategy privacyv1alpha1.MaskingStrategy
	// passed says, for the first preference passed over, why masking.Check
	// refused it ("not Nullify: the column is NOT NULL").
	passed string
}

// chooseStrategy picks the first strategy, of the category's preferences
// and then the fallbacks, that masking.Check (the one judge, which the
// TenantDatabase and every run apply too) accepts for the column. ok is
// false when none fits.
func chooseStrategy(f classify.Finding, c tenantdb.Column) (ch choice, ok bool) {
	for _, s := range slices.Concat(preferences(f), fallbacks) {
		why := masking.Check(s, c)
		if why == "" {
			ch.strategy = s
			return ch, true
		}
		if ch.passed == "" {
			// Check may append what would fit instead; the draft says what
			// it chose, so keep the reason only.
			why, _, _ = strings.Cut(why, "; ")
			ch.passed = "not " + Describe(s) + ": " + why
		}
	}
	return ch, false
}

// Describe renders a strategy as a person reads it: Replace "Anonymized",
// Pseudonym "ANON-{n}", Fake Email, Generalize to the Year.
func Describe(s privacyv1alpha1.MaskingStrategy) string {
	out := string(s.Type)
	switch {
	case s.Value != nil:
		out += ` "` + *s.Value + `"`
	case s.Format != nil:
		out += ` "` + *s.Format + `"`
	case s.Fake != nil:
		out += " " + string(*s.Fake)
	case s.Precision != nil:
		out += " to the " + string(*s.Precision)
	case s.Bucket != nil:
		out += " in buckets"
	case s.KeepPrefix != nil && s.KeepSuffix != nil:
		out += fmt.Sprintf(" keeping the first %d and last %d characters", *s.KeepPrefix, *s.KeepSuffix)
	case s.KeepPrefix != nil:
		out += fmt.Sprintf(" keeping the first %d characters", *s.KeepPrefix)
	case s.KeepSuffix != nil:
		out += fmt.Sprintf(" keeping the last %d characters", *s.KeepSuffix)
	}
	return out
}

package masking

import (
	"strings"
	"testing"

	"k8s.io/utils/ptr"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

func col(typ string, cat byte, notNull, unique bool) Column {
	return Column{Name: "c", Type: typ, Category: cat, NotNull: notNull, Unique: unique}
}

var (
	text        = col("text", 'S', false, false)
	textNotNull = col("text", 'S', true, false)
	textUnique  = col("text", 'S', false, true)
	textKey     = col("text", 'S', true, true)
	varchar5    = col("character varying(5)", 'S', false, false)
	date        = col("date", 'D', false, false)
	timeOfDay   = col("time without time zone", 'D', false, false)
	integer     = col("integer", 'N', false, false)
	intKey      = col("bigint", 'N', true, true)
	numeric     = col("numeric(10,2)", 'N', false, false)
	boolean     = col("boolean", 'B', false, false)
)

func strategy(t privacyv1alpha1.StrategyType) privacyv1alpha1.MaskingStrategy {
	return privacyv1alpha1.MaskingStrategy{Type: t}
}

func replaceWith(v string) privacyv1alpha1.MaskingStrategy {
	return privacyv1alpha1.MaskingStrategy{Type: privacyv1alpha1.StrategyReplace, Value: ptr.To(v)}
}

func hashed() privacyv1alpha1.MaskingStrategy {
	return privacyv1alpha1.MaskingStrategy{Type: privacyv1alpha1.StrategyHash,
		KeySecretRef: &privacyv1alpha1.SecretKeyReference{Name: "hash-key", Key: "key"}}
}

func pseudonym(f string) privacyv1alpha1.MaskingStrategy {
	return privacyv1alpha1.MaskingStrategy{Type: privacyv1alpha1.StrategyPseudonym, Format: ptr.To(f)}
}

func faked(k privacyv1alpha1.FakeKind) privacyv1alpha1.MaskingStrategy {
	return privacyv1alpha1.MaskingStrategy{Type: privacyv1alpha1.StrategyFake, Fake: ptr.To(k)}
}

func partial(prefix, suffix int32) privacyv1alpha1.MaskingStrategy {
	return privacyv1alpha1.MaskingStrategy{Type: privacyv1alpha1.StrategyPartial, KeepPrefix: ptr.To(prefix), KeepSuffix: ptr.To(suffix)}
}

func byPrecision(p string) privacyv1alpha1.MaskingStrategy {
	return privacyv1alpha1.MaskingStrategy{Type: privacyv1alpha1.StrategyGeneralize, Precision: ptr.To(privacyv1alpha1.Precision(p))}
}

func byBucket(b int64) privacyv1alpha1.MaskingStrategy {
	return privacyv1alpha1.MaskingStrategy{Type: privacyv1alpha1.StrategyGeneralize, Bucket: ptr.To(b)}
}

func TestCheckAcceptsWhatFits(t *testing.T) {
	tests := []struct {
		name string
		s    privacyv1alpha1.MaskingStrategy
		c    Column
	}{
		{"Nullify on a nullable unique column", strategy(privacyv1alpha1.StrategyNullify), textUnique},
		{"Replace on text", replaceWith("Anonymized"), textNotNull},
		{"Replace that fits varchar(5)", replaceWith("anon"), varchar5},
		{"Replace on an integer", replaceWith("-0"), integer},
		{"Replace on a numeric", replaceWith("1.5e2"), numeric},
		{"Hash on a unique key", hashed(), textKey},
		{"Pseudonym on a unique key", pseudonym("EMP-{n}"), textKey},
		{"Pseudonym that fits varchar(5)", pseudonym("L{n}"), varchar5},
		{"Fake Email on a unique key", faked("Email"), textKey},
		{"Fake City on varchar(5), cut", faked("City"), varchar5},
		{"Partial on text", partial(1, 2), textNotNull},
		{"Generalize a date", byPrecision("Month"), date},
		{"Generalize a timestamptz", byPrecision("Year"), col("timestamp(3) with time zone", 'D', true, false)},
		{"Generalize a number", byBucket(10), numeric},
		{"Clear on a nullable unique column (writes NULL)", strategy(privacyv1alpha1.StrategyClear), textUnique},
		{"Clear on char(3)", strategy(privacyv1alpha1.StrategyClear), col("character(3)", 'S', true, false)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if why := Check(tt.s, tt.c); why != "" {
				t.Fatalf("refused: %s", why)
			}
		})
	}
}

func TestCheckRefusesWithWhatToUseInstead(t *testing.T) {
	tests := []struct {
		name string
		s    privacyv1alpha1.MaskingStrategy
		c    Column
		want string
	}{
		{"Nullify on NOT NULL text", strategy(privacyv1alpha1.StrategyNullify), textNotNull,
			"the column is NOT NULL; use Clear, Replace or Pseudonym"},
		{"Nullify on a NOT NULL number", strategy(privacyv1alpha1.StrategyNullify), col("integer", 'N', true, false),
			"the column is NOT NULL; use Replace or Generalize with bucket"},
		{"Replace on a unique NOT NULL column", replaceWith("Anonymized"), textKey,
			"the column is unique and Replace writes the same value into every row; use Pseudonym, Hash or Fake"},
		{"Replace on a nullable unique column", replaceWith("Anonymized"), textUnique,
			"the column is unique and Replace writes the same value into every row; use Nullify, Clear or Pseudonym"},
		{"Replace on a unique NOT NULL number", replaceWith("0"), intKey,
			"the column is unique and Replace writes the same value into every row; no strategy fits it: leave the column out of personalColumns or relax its constraint"},
		{"Replace too long", replaceWith("Anonymized"), varchar5,
			"the value has 10 characters and the column holds at most 5"},
		{"Replace a fraction into an integer", replaceWith("1.5"), integer,
			"the column is an integer and the value is not a whole number"},
		{"Replace text into a number", replaceWith("Anonymized"), numeric,
			"the column is numeric and the value is not a number"},
		{"Replace on a boolean", replaceWith("false"), boolean,
			"Replace needs a text or numeric column; use Nullify"},
		{"Replace without value", strategy(privacyv1alpha1.StrategyReplace), text, "Replace needs a value"},
		{"Clear on a unique NOT NULL column", strategy(privacyv1alpha1.StrategyClear), textKey,
			"the column is unique and NOT NULL, so it cannot be emptied; use Pseudonym, Hash or Fake"},
		{"Clear on a date", strategy(privacyv1alpha1.StrategyClear), date,
			"it needs a text column; use Nullify or Generalize with precision"},
		{"Generalize precision on text", byPrecision("Year"), text,
			"precision needs a date or timestamp column; use Nullify, Clear or Replace"},
		{"Generalize precision on a time of day", byPrecision("Month"), timeOfDay,
			"precision needs a date or timestamp column; use Nullify"},
		{"Generalize bucket on a date", byBucket(5), date,
			"bucket needs a numeric column; use Nullify or Generalize with precision"},
		{"Generalize on a unique column", byBucket(5), col("integer", 'N', false, true),
			"the column is unique and generalized values collide; use Nullify"},
		{"Generalize with both", privacyv1alpha1.MaskingStrategy{Type: privacyv1alpha1.StrategyGeneralize,
			Precision: ptr.To(privacyv1alpha1.Precision("Year")), Bucket: ptr.To(int64(5))}, date,
			"Generalize needs exactly one of precision (dates) or bucket (numbers)"},
		{"Hash without key", privacyv1alpha1.MaskingStrategy{Type: privacyv1alpha1.StrategyHash}, text,
			"Hash needs keySecretRef, the Secret key that holds the HMAC key"},
		{"Hash on a number", hashed(), integer, "it needs a text column; use Nullify, Replace or Generalize with bucket"},
		{"Hash on a short unique column", hashed(), col("character varying(8)", 'S', true, true),
			"the column is unique and holds 8 characters: a hash cut that short can collide (it needs 16); no strategy fits it"},
		{"Pseudonym without placeholder", pseudonym("anonymous"), text,
			`format "anonymous" needs a placeholder {n} or {hex:N}`},
		{"Pseudonym with too many hex digits", pseudonym("u-{hex:65}"), text,
			`format "u-{hex:65}": {hex:N} takes 1 to 64 digits`},
		{"Pseudonym longer than the column", pseudonym("user-{hex:8}"), varchar5,
			"the pseudonym has at least 13 characters and the column holds at most 5"},
		{"Pseudonym on a number", pseudonym("{n}"), integer, "it needs a text column"},
		{"Fake Email on a short column", faked("Email"), col("character varying(20)", 'S', false, false),
			"the column holds 20 characters and Fake Email needs at least 24"},
		{"Fake Email on a short unique column", faked("Email"), col("character varying(32)", 'S', true, true),
			"the column is unique and holds 32 characters and Fake Email needs at least 40; use Pseudonym or Hash"},
		{"Fake of an unknown kind", faked("Planet"), text, `unknown fake kind "Planet"`},
		{"Partial on a unique column", partial(0, 2), textKey,
			"the column is unique and partly masked values can collide; use Pseudonym, Hash or Fake"},
		{"Partial with a long mask", privacyv1alpha1.MaskingStrategy{Type: privacyv1alpha1.StrategyPartial,
			KeepSuffix: ptr.To(int32(2)), MaskChar: ptr.To("**")}, text, "maskChar must be exactly one character"},
		{"Partial keeping nothing", strategy(privacyv1alpha1.StrategyPartial), text, "Partial needs keepPrefix or keepSuffix"},
		{"unknown strategy", strategy("Shred"), text, `unknown strategy "Shred"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Check(tt.s, tt.c)
			if !strings.HasPrefix(got, tt.want) {
				t.Fatalf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

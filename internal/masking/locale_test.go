package masking

import (
	"fmt"
	"regexp"
	"testing"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

// Every fake of every locale must look masked to PendingSQL, or a second
// retention run would fake it again; e-mails and user names stay ASCII.
func TestEveryLocalesFakesMatchTheirPendingPattern(t *testing.T) {
	ascii := regexp.MustCompile(`^[\x21-\x7e]+$`)
	for name := range locales {
		l := name
		s := privacyv1alpha1.MaskingStrategy{Type: privacyv1alpha1.StrategyFake, Locale: &l}
		for _, k := range []privacyv1alpha1.FakeKind{fakeName, fakeFirstName, fakeLastName, fakeEmail, fakePhone,
			fakeAddress, fakeCity, fakeCompany, fakeUserName} {
			re := regexp.MustCompile(fakePattern(k, s))
			for i := range 200 {
				head, tail := fakeInLocale(k, locales[l], fmt.Sprint("input ", i), []byte("salt"))
				v := head + tail
				if !re.MatchString(v) {
					t.Fatalf("%s %s: %q does not match its pending pattern", l, k, v)
				}
				if (k == fakeEmail || k == fakeUserName) && !ascii.MatchString(v) {
					t.Fatalf("%s %s: %q is not plain ASCII", l, k, v)
				}
			}
		}
	}
}

func TestLocaleAppliesOnlyToFake(t *testing.T) {
	l := privacyv1alpha1.FakeLocale("de-DE")
	s := privacyv1alpha1.MaskingStrategy{Type: privacyv1alpha1.StrategyNullify, Locale: &l}
	if why := Check(s, col("text", 'S', false, false)); why != "locale applies only to strategy Fake" {
		t.Fatalf("Check = %q", why)
	}
	bad := privacyv1alpha1.FakeLocale("xx-XX")
	kind := fakeName
	s = privacyv1alpha1.MaskingStrategy{Type: privacyv1alpha1.StrategyFake, Fake: &kind, Locale: &bad}
	if why := Check(s, col("text", 'S', false, false)); why != `unknown locale "xx-XX"` {
		t.Fatalf("Check = %q", why)
	}
}

package masking

import (
	"crypto/sha256"
	"fmt"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

// fakeInGo is what Fake writes for an input, computed in Go from the
// documented derivation, without cutting or discriminator: head and tail as
// in fakeParts.
func fakeInGo(kind privacyv1alpha1.FakeKind, input string, salt []byte) (head, tail string) {
	return fakeInLocale(kind, international, input, salt)
}

// fakeInLocale is fakeInGo for a locale's lists, address order and phone
// range.
func fakeInLocale(kind privacyv1alpha1.FakeKind, loc fakeLocale, input string, salt []byte) (head, tail string) {
	h := sha256.Sum256(append(append([]byte{}, salt...), input...))
	pick := func(words []string, at int) string {
		return words[(int(h[at])<<8|int(h[at+1]))%len(words)]
	}
	first, last, number := pick(loc.first, 0), pick(loc.last, 2), fmt.Sprint(int(h[4])%100)
	switch kind {
	case fakeFirstName:
		return first, ""
	case fakeLastName:
		return last, ""
	case fakeName:
		return first + " " + last, ""
	case fakeEmail:
		return fold(first) + "." + fold(last) + number, "@example.invalid"
	case fakeUserName:
		return string([]rune(fold(first))[:1]) + fold(last) + number, ""
	case fakePhone:
		return fmt.Sprintf("%s%0*d", loc.phonePrefix, loc.phoneDigits, (int(h[5])<<8|int(h[6]))%pow10(loc.phoneDigits)), ""
	case fakeAddress:
		if loc.numberAfter {
			return fmt.Sprintf("%s %d", pick(loc.streets, 8), int(h[7])%199+1), ""
		}
		return fmt.Sprintf("%d %s", int(h[7])%199+1, pick(loc.streets, 8)), ""
	case fakeCity:
		return pick(loc.cities, 10), ""
	default:
		return pick(companies, 12), ""
	}
}

func fake(kind privacyv1alpha1.FakeKind, input string, salt []byte) string {
	head, tail := fakeInGo(kind, input, salt)
	return head + tail
}

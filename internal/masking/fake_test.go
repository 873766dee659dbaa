package masking

import (
	"crypto/sha256"
	"fmt"
	"strings"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

// fakeInGo is what Fake writes for an input, computed in Go from the
// documented derivation, without cutting or discriminator: head and tail as
// in fakeParts.
func fakeInGo(kind privacyv1alpha1.FakeKind, input string, salt []byte) (head, tail string) {
	h := sha256.Sum256(append(append([]byte{}, salt...), input...))
	pick := func(words []string, at int) string {
		return words[(int(h[at])<<8|int(h[at+1]))%len(words)]
	}
	first, last, number := pick(firstNames, 0), pick(lastNames, 2), fmt.Sprint(int(h[4])%100)
	switch kind {
	case fakeFirstName:
		return first, ""
	case fakeLastName:
		return last, ""
	case fakeName:
		return first + " " + last, ""
	case fakeEmail:
		return strings.ToLower(first) + "." + strings.ToLower(last) + number, "@example.invalid"
	case fakeUserName:
		return strings.ToLower(first[:1] + last + number), ""
	case fakePhone:
		return fmt.Sprintf("+44 7700 900%03d", (int(h[5])<<8|int(h[6]))%1000), ""
	case fakeAddress:
		return fmt.Sprintf("%d %s", int(h[7])%199+1, pick(streets, 8)), ""
	case fakeCity:
		return pick(cities, 10), ""
	default:
		return pick(companies, 12), ""
	}
}

func fake(kind privacyv1alpha1.FakeKind, input string, salt []byte) string {
	head, tail := fakeInGo(kind, input, salt)
	return head + tail
}

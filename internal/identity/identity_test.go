package identity

import (
	"testing"
	"time"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 2, 9, 0, 0, 500, time.FixedZone("CET", 3600))
	id := New("alice", "u-1", []string{"system:authenticated", "dpo", "dpo"}, at)
	want := `{"username":"alice","uid":"u-1","groups":["dpo","system:authenticated"],"at":"2026-11-02T08:00:00Z"}`
	if got := id.Encode(); got != want {
		t.Fatalf("Encode() = %s, want %s", got, want)
	}
	back, err := Decode(want)
	if err != nil {
		t.Fatal(err)
	}
	if back.Username != "alice" || back.UID != "u-1" || len(back.Groups) != 2 || !back.At.Equal(id.At) {
		t.Fatalf("Decode() = %+v", back)
	}
}

func TestNewBoundsGroups(t *testing.T) {
	groups := make([]string, 100)
	for i := range groups {
		groups[i] = string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	if n := len(New("bob", "", groups, time.Now()).Groups); n != maxGroups {
		t.Fatalf("kept %d groups, want %d", n, maxGroups)
	}
}

func TestActor(t *testing.T) {
	for _, tc := range []struct{ annotation, want string }{
		{"", "lethe-operator"},
		{"not json", "lethe-operator"},
		{`{"uid":"x"}`, "lethe-operator"},
		{`{"username":"system:serviceaccount:argocd:argocd-application-controller","at":"2026-11-02T08:00:00Z"}`,
			"system:serviceaccount:argocd:argocd-application-controller"},
	} {
		if got := Actor(tc.annotation, "lethe-operator"); got != tc.want {
			t.Errorf("Actor(%q) = %q, want %q", tc.annotation, got, tc.want)
		}
	}
}

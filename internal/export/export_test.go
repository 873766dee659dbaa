package export

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"
)

func TestBuildWritesDocumentCSVsAndAManifestThatChecksOut(t *testing.T) {
	at := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	tables := []Table{
		{Tenant: "globex", Entity: "customer", Columns: []string{"id", "name", "vip"},
			Rows: []json.RawMessage{json.RawMessage(`{"id": 7, "name": "Åsa, \"A\"", "vip": true}`)}},
		{Tenant: "acme", Entity: "customer", Columns: []string{"id", "name", "vip"},
			Rows: []json.RawMessage{json.RawMessage(`{"id": 1, "name": "Ann", "vip": null}`), json.RawMessage(`{"id": 12345678901234567, "name": "Bo", "vip": false}`)}},
	}
	data, m, err := Build("sha256:abc", at, tables)
	if err != nil {
		t.Fatal(err)
	}
	again, _, _ := Build("sha256:abc", at, tables)
	if !bytes.Equal(data, again) {
		t.Error("the same input must give the same zip")
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, f := range zr.File {
		rc, _ := f.Open()
		files[f.Name], _ = io.ReadAll(rc)
		_ = rc.Close()
	}
	if got := string(files["csv/acme/customer.csv"]); got != "id,name,vip\n1,Ann,\n12345678901234567,Bo,false\n" {
		t.Errorf("acme CSV:\n%s", got)
	}
	if got := string(files["csv/globex/customer.csv"]); got != "id,name,vip\n7,\"Åsa, \"\"A\"\"\",true\n" {
		t.Errorf("globex CSV:\n%s", got)
	}
	var doc struct {
		Tenants map[string]map[string][]map[string]any `json:"tenants"`
	}
	if err := json.Unmarshal(files[DocumentName], &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Tenants["acme"]["customer"]) != 2 || doc.Tenants["globex"]["customer"][0]["name"] != `Åsa, "A"` {
		t.Errorf("document: %+v", doc.Tenants)
	}
	var manifest Manifest
	if err := json.Unmarshal(files[ManifestName], &manifest); err != nil {
		t.Fatal(err)
	}
	if len(manifest.Files) != 3 || manifest.Tenants[0] != "acme" || manifest.Entities[0].Rows != 2 {
		t.Fatalf("manifest: %+v", manifest)
	}
	for _, f := range manifest.Files {
		sum := sha256.Sum256(files[f.Name])
		if hex.EncodeToString(sum[:]) != f.SHA256 || int64(len(files[f.Name])) != f.Size {
			t.Errorf("%s: checksum or size does not match the manifest", f.Name)
		}
	}
	if m.SubjectDigest != "sha256:abc" {
		t.Error(m.SubjectDigest)
	}
}

// rezip writes files into a new zip, in the given order.
func rezip(t *testing.T, names []string, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, n := range names {
		w, err := zw.Create(n)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(files[n]); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestVerifyChecksEveryFileOfTheManifest(t *testing.T) {
	tables := []Table{{Tenant: "acme", Entity: "customer", Columns: []string{"id", "email"},
		Rows: []json.RawMessage{json.RawMessage(`{"id": 1, "email": "ann@example.com"}`)}}}
	data, built, err := Build("sha256:abc", time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC), tables)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Verify(data)
	if err != nil {
		t.Fatalf("a package as built: %v", err)
	}
	if len(m.Files) != 2 || m.SubjectDigest != built.SubjectDigest {
		t.Errorf("manifest %+v; want the one built, %+v", m, built)
	}

	zr, _ := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	files := map[string][]byte{}
	var names []string
	for _, f := range zr.File {
		rc, _ := f.Open()
		files[f.Name], _ = io.ReadAll(rc)
		_ = rc.Close()
		names = append(names, f.Name)
	}
	changed := map[string][]byte{}
	for k, v := range files {
		changed[k] = v
	}
	changed["csv/acme/customer.csv"] = []byte("id,email\n1,someone-else@example.com\n")
	extra := map[string][]byte{"notes.txt": []byte("x")}
	for k, v := range files {
		extra[k] = v
	}
	for _, c := range []struct {
		name string
		data []byte
		says string
	}{
		{"a changed file", rezip(t, names, changed), "csv/acme/customer.csv has 36 bytes with SHA-256 "},
		{"a file left out", rezip(t, []string{DocumentName, ManifestName}, files), "lists csv/acme/customer.csv, which the zip does not hold"},
		{"a file added", rezip(t, append([]string{"notes.txt"}, names...), extra), "the zip holds notes.txt, which manifest.json does not list"},
		{"no manifest", rezip(t, names[:2], files), "the zip holds no manifest.json"},
		{"not a zip", []byte("PK not really"), "not a zip"},
	} {
		_, err := Verify(c.data)
		if err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v; want an error saying %q", c.name, err, c.says)
		}
	}
}

// Package export builds access packages: one zip holding a JSON document
// with every row of the subject (machine-readable, for portability), one CSV
// per entity and tenant, and a manifest with row counts and the SHA-256 of
// each file.
package export

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// Table is one entity's rows in one tenant. Each row is a JSON object as the
// database rendered it (row_to_json), so values keep their types.
type Table struct {
	Tenant  string
	Entity  string
	Columns []string
	Rows    []json.RawMessage
}

// File is one file of the package.
type File struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// EntityCount is how many rows of an entity a tenant exported.
type EntityCount struct {
	Tenant string `json:"tenant"`
	Entity string `json:"entity"`
	Rows   int    `json:"rows"`
}

// Manifest describes a package.
type Manifest struct {
	SubjectDigest string        `json:"subjectDigest"`
	GeneratedAt   time.Time     `json:"generatedAt"`
	Tenants       []string      `json:"tenants"`
	Entities      []EntityCount `json:"entities"`
	Files         []File        `json:"files"`
}

// Names of the files in the zip.
const (
	DocumentName = "export.json"
	ManifestName = "manifest.json"
)

// Build writes the package. Files are ordered and stamped with generatedAt,
// so the same input gives the same bytes.
func Build(subjectDigest string, generatedAt time.Time, tables []Table) ([]byte, *Manifest, error) {
	generatedAt = generatedAt.UTC().Truncate(time.Second)
	sort.Slice(tables, func(i, j int) bool {
		if tables[i].Tenant != tables[j].Tenant {
			return tables[i].Tenant < tables[j].Tenant
		}
		return tables[i].Entity < tables[j].Entity
	})
	m := &Manifest{SubjectDigest: subjectDigest, GeneratedAt: generatedAt, Tenants: []string{}, Entities: []EntityCount{}}

	doc := map[string]map[string][]json.RawMessage{}
	type namedFile struct {
		name string
		data []byte
	}
	var files []namedFile
	for _, t := range tables {
		if _, ok := doc[t.Tenant]; !ok {
			doc[t.Tenant] = map[string][]json.RawMessage{}
			m.Tenants = append(m.Tenants, t.Tenant)
		}
		doc[t.Tenant][t.Entity] = t.Rows
		m.Entities = append(m.Entities, EntityCount{Tenant: t.Tenant, Entity: t.Entity, Rows: len(t.Rows)})
		data, err := toCSV(t)
		if err != nil {
			return nil, nil, fmt.Errorf("tenant %s, entity %s: %w", t.Tenant, t.Entity, err)
		}
		files = append(files, namedFile{name: fmt.Sprintf("csv/%s/%s.csv", safeName(t.Tenant), safeName(t.Entity)), data: data})
	}
	body, err := json.MarshalIndent(struct {
		SubjectDigest string                                  `json:"subjectDigest"`
		GeneratedAt   time.Time                               `json:"generatedAt"`
		Tenants       map[string]map[string][]json.RawMessage `json:"tenants"`
	}{subjectDigest, generatedAt, doc}, "", "  ")
	if err != nil {
		return nil, nil, err
	}
	files = append([]namedFile{{name: DocumentName, data: body}}, files...)

	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	write := func(name string, data []byte) error {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: generatedAt})
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	}
	for _, f := range files {
		sum := sha256.Sum256(f.data)
		m.Files = append(m.Files, File{Name: f.name, Size: int64(len(f.data)), SHA256: hex.EncodeToString(sum[:])})
		if err := write(f.name, f.data); err != nil {
			return nil, nil, err
		}
	}
	manifest, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, nil, err
	}
	if err := write(ManifestName, manifest); err != nil {
		return nil, nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, nil, err
	}
	return buf.Bytes(), m, nil
}

// toCSV renders rows with a header of the table's columns, in order.
func toCSV(t Table) ([]byte, error) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	if err := w.Write(t.Columns); err != nil {
		return nil, err
	}
	for _, raw := range t.Rows {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var row map[string]any
		if err := dec.Decode(&row); err != nil {
			return nil, err
		}
		rec := make([]string, len(t.Columns))
		for i, c := range t.Columns {
			rec[i] = cell(row[c])
		}
		if err := w.Write(rec); err != nil {
			return nil, err
		}
	}
	w.Flush()
	return buf.Bytes(), w.Error()
}

func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		if x {
			return "true"
		}
		return "false"
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

// safeName keeps file names inside their folder.
func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 {
			return '_'
		}
		return r
	}, strings.TrimLeft(s, "."))
}

// maxFileSize bounds what Verify reads of one file: a package lives in a
// Secret (1 MiB), so anything larger is not one of ours.
const maxFileSize = 64 << 20

// Verify checks a package against its own manifest: every file the
// manifest lists is in the zip with that size and SHA-256, and the zip holds
// no other file. It returns the manifest, or an error naming the first file
// that does not check out.
func Verify(data []byte) (*Manifest, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("not a zip: %w", err)
	}
	files := map[string]*zip.File{}
	for _, f := range zr.File {
		if _, dup := files[f.Name]; dup {
			return nil, fmt.Errorf("the zip holds %s twice", f.Name)
		}
		files[f.Name] = f
	}
	mf, ok := files[ManifestName]
	if !ok {
		return nil, fmt.Errorf("the zip holds no %s", ManifestName)
	}
	raw, err := readFile(mf)
	if err != nil {
		return nil, err
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: %w", ManifestName, err)
	}
	if len(m.Files) == 0 {
		return nil, fmt.Errorf("%s lists no file", ManifestName)
	}
	listed := map[string]bool{ManifestName: true}
	for _, want := range m.Files {
		listed[want.Name] = true
		f, ok := files[want.Name]
		if !ok {
			return nil, fmt.Errorf("%s lists %s, which the zip does not hold", ManifestName, want.Name)
		}
		body, err := readFile(f)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(body)
		if got := hex.EncodeToString(sum[:]); got != want.SHA256 || int64(len(body)) != want.Size {
			return nil, fmt.Errorf("%s has %d bytes with SHA-256 %s; %s says %d bytes with SHA-256 %s",
				want.Name, len(body), got, ManifestName, want.Size, want.SHA256)
		}
	}
	for name := range files {
		if !listed[name] {
			return nil, fmt.Errorf("the zip holds %s, which %s does not list", name, ManifestName)
		}
	}
	return &m, nil
}

// readFile reads one file of a zip, at most maxFileSize bytes.
func readFile(f *zip.File) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name, err)
	}
	defer func() { _ = rc.Close() }()
	body, err := io.ReadAll(io.LimitReader(rc, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name, err)
	}
	if len(body) > maxFileSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", f.Name, maxFileSize)
	}
	return body, nil
}

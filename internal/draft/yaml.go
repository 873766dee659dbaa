package draft

import (
	"bytes"
	"strconv"
	"strings"
	"unicode"

	"go.yaml.in/yaml/v3"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

// YAML renders the draft as one YAML document with its comments, in the
// field order the API documents. It parses strictly into a DataInventory
// (sigs.k8s.io/yaml, as kubectl reads it).
func (d *Draft) YAML() ([]byte, error) {
	inv := d.Inventory
	spec := mapping(false)
	spec.add("subjects", d.subjects(), nil)
	spec.add("entities", d.entities(), nil)

	meta := mapping(false)
	meta.add("name", str(inv.Name), nil)
	root := mapping(false)
	root.add("apiVersion", str(inv.APIVersion), nil)
	root.add("kind", str(inv.Kind), nil)
	root.add("metadata", meta.Node, nil)
	root.add("spec", spec.Node, nil)

	doc := &yaml.Node{Kind: yaml.DocumentNode, HeadComment: comment(d.notes.header), Content: []*yaml.Node{root.Node}}
	if len(d.notes.leftOut) > 0 {
		doc.FootComment = comment(append([]string{"Left out:"}, bullets(d.notes.leftOut)...))
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func (d *Draft) subjects() *yaml.Node {
	seq := &yaml.Node{Kind: yaml.SequenceNode}
	for _, s := range d.Inventory.Spec.Subjects {
		m := mapping(false)
		m.add("name", str(s.Name), nil)
		m.add("identifiers", strs(s.Identifiers), nil)
		m.HeadComment = comment(d.notes.subjects[s.Name])
		seq.Content = append(seq.Content, m.Node)
	}
	return seq
}

func (d *Draft) entities() *yaml.Node {
	seq := &yaml.Node{Kind: yaml.SequenceNode}
	for _, e := range d.Inventory.Spec.Entities {
		en := d.notes.entities[e.Name]
		m := mapping(false)
		m.add("name", str(e.Name), nil)
		m.add("table", str(e.Table), nil)
		m.add("primaryKey", strs(e.PrimaryKey), nil)
		if s := e.Subject; s != nil {
			ids := &yaml.Node{Kind: yaml.SequenceNode}
			for i, id := range s.Identifiers {
				im := mapping(true)
				im.add("name", str(id.Name), nil)
				im.add("column", str(id.Column), nil)
				if i < len(en.identifiers) {
					im.LineComment = en.identifiers[i]
				}
				ids.Content = append(ids.Content, im.Node)
			}
			sm := mapping(false)
			sm.add("type", str(s.Type), nil)
			sm.add("identifiers", ids, nil)
			m.add("subject", sm.Node, nil)
		}
		if len(e.Relations) > 0 {
			rels := &yaml.Node{Kind: yaml.SequenceNode}
			for i, r := range e.Relations {
				rm := relation(r)
				if i < len(en.relations) && en.relations[i] != "" {
					rm.HeadComment = comment([]string{en.relations[i]})
				}
				rels.Content = append(rels.Content, rm.Node)
			}
			m.add("relations", rels, nil)
		}
		if len(e.PersonalColumns) > 0 || len(en.personal) > 0 {
			cols := &yaml.Node{Kind: yaml.SequenceNode, Style: styleOf(len(e.PersonalColumns) == 0)}
			for _, pc := range e.PersonalColumns {
				cm := mapping(true)
				cm.add("column", str(pc.Column), nil)
				cm.add("category", str(string(pc.Category)), nil)
				cm.add("strategy", strategy(pc.Strategy), nil)
				cm.HeadComment = comment(en.columns[pc.Column])
				cols.Content = append(cols.Content, cm.Node)
			}
			m.add("personalColumns", cols, en.personal)
		}
		if len(e.ReportingColumns) > 0 || len(en.reporting) > 0 {
			m.add("reportingColumns", strs(e.ReportingColumns), en.reporting)
		}
		m.HeadComment = comment(en.head)
		seq.Content = append(seq.Content, m.Node)
	}
	return seq
}

func relation(r privacyv1alpha1.EntityRelation) mapNode {
	m := mapping(true)
	m.add("entity", str(r.Entity), nil)
	m.add("direction", str(string(r.Direction)), nil)
	if len(r.Columns) > 0 {
		m.add("columns", strs(r.Columns), nil)
	}
	if len(r.References) > 0 {
		m.add("references", strs(r.References), nil)
	}
	if r.Exclusive != nil {
		m.add("exclusive", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(*r.Exclusive)}, nil)
	}
	return m
}

func strategy(s privacyv1alpha1.MaskingStrategy) *yaml.Node {
	m := mapping(true)
	m.add("type", str(string(s.Type)), nil)
	switch {
	case s.Value != nil:
		m.add("value", str(*s.Value), nil)
	case s.Format != nil:
		m.add("format", str(*s.Format), nil)
	case s.Fake != nil:
		m.add("fake", str(string(*s.Fake)), nil)
	case s.KeepSuffix != nil:
		m.add("keepSuffix", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(int(*s.KeepSuffix))}, nil)
	case s.Precision != nil:
		m.add("precision", str(string(*s.Precision)), nil)
	case s.Bucket != nil:
		m.add("bucket", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(*s.Bucket, 10)}, nil)
	}
	return m.Node
}

// mapNode builds a mapping node.
type mapNode struct{ *yaml.Node }

func mapping(flow bool) mapNode {
	return mapNode{&yaml.Node{Kind: yaml.MappingNode, Style: styleOf(flow)}}
}

func styleOf(flow bool) yaml.Style {
	if flow {
		return yaml.FlowStyle
	}
	return 0
}

// add appends a key and its value, with a comment above the key.
func (m mapNode) add(key string, value *yaml.Node, head []string) {
	k := str(key)
	k.HeadComment = comment(head)
	m.Content = append(m.Content, k, value)
}

// yaml11Words are the plain words YAML 1.1 reads as booleans or null.
// kubectl and sigs.k8s.io/yaml read YAML 1.1, the encoder writes YAML 1.2:
// such a word, or a string that does not start with a letter (a number in
// YAML 1.1 may look like none in 1.2: 1_000, 1:20), is double-quoted. The
// encoder quotes what YAML 1.2 needs quoted itself.
var yaml11Words = map[string]bool{"y": true, "yes": true, "n": true, "no": true, "true": true, "false": true,
	"on": true, "off": true, "null": true}

func str(v string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v}
	if v == "" || !unicode.IsLetter(rune(v[0])) && v[0] != '_' || yaml11Words[strings.ToLower(v)] {
		n.Style = yaml.DoubleQuotedStyle
	}
	return n
}

func strs(vs []string) *yaml.Node {
	seq := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
	for _, v := range vs {
		seq.Content = append(seq.Content, str(v))
	}
	return seq
}

// comment joins lines into a comment, each line made printable (a name
// may hold control characters).
func comment(lines []string) string {
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		out = append(out, strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f {
				return '?'
			}
			return r
		}, l))
	}
	return strings.Join(out, "\n")
}

func bullets(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = "- " + l
	}
	return out
}

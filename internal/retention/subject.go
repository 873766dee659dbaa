package retention

import (
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/engine"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// archiveSubject finds whose rows an archive of entity e holds: e itself
// when it is a subject's root, else the nearest root its relations of
// direction Child lead to (a case to its customer, an invoice line to its
// invoice's customer), joined through their foreign-key columns. A row
// whose foreign key is NULL belongs to no subject. An entity that reaches
// no root (or only through rows shared by several subjects, direction
// Referenced) has none: nil. inv must be resolved.
func archiveSubject(inv *privacyv1alpha1.DataInventorySpec, cat *tenantdb.Catalog, e *privacyv1alpha1.Entity) *engine.ArchiveSubject {
	byName := map[string]*privacyv1alpha1.Entity{}
	for i := range inv.Entities {
		byName[inv.Entities[i].Name] = &inv.Entities[i]
	}
	type hop struct {
		entity *privacyv1alpha1.Entity
		alias  string
		joins  []string
	}
	seen := map[string]bool{e.Name: true}
	queue := []hop{{entity: e, alias: engine.Row}}
	for len(queue) > 0 {
		h := queue[0]
		queue = queue[1:]
		if s := h.entity.Subject; s != nil && len(s.Identifiers) > 0 {
			out := &engine.ArchiveSubject{Type: s.Type, Root: h.alias, Joins: strings.Join(h.joins, " ")}
			for _, id := range s.Identifiers {
				out.Identifiers = append(out.Identifiers, engine.ArchiveIdentifier{Name: id.Name, Column: id.Column})
			}
			return out
		}
		for _, r := range h.entity.Relations {
			p := byName[r.Entity]
			if p == nil || seen[p.Name] || r.Direction != privacyv1alpha1.RelationChild || len(r.Columns) == 0 || len(r.Columns) != len(r.References) {
				continue
			}
			t, ok := cat.Table(p.Table)
			if !ok {
				continue
			}
			seen[p.Name] = true
			alias := fmt.Sprintf("lethe_s%d", len(h.joins)+1)
			conds := make([]string, len(r.Columns))
			for i := range r.Columns {
				conds[i] = fmt.Sprintf("%s.%s = %s.%s", alias, pgx.Identifier{r.References[i]}.Sanitize(), h.alias, pgx.Identifier{r.Columns[i]}.Sanitize())
			}
			name := tenantdb.TableName{Schema: t.Schema, Name: t.Name}
			joins := append(append([]string{}, h.joins...), fmt.Sprintf("LEFT JOIN %s AS %s ON %s", name.Sanitize(), alias, strings.Join(conds, " AND ")))
			queue = append(queue, hop{entity: p, alias: alias, joins: joins})
		}
	}
	return nil
}

package rbac

import (
	"slices"
	"sort"
)

// Added is a permission the closure added to a role, and the effective
// permissions that require it directly.
type Added struct {
	Permission string
	RequiredBy []string
}

// Closure returns the chosen permissions and every permission they require,
// directly or not, sorted; and, sorted by permission, the ones it added with
// the effective permissions that require each directly. Names the catalog
// lacks are left out (Resolve reports them).
func (c *Catalog) Closure(chosen []string) (effective []string, added []Added) {
	in := map[string]bool{}
	var queue []string
	for _, name := range chosen {
		if c.permissions[name] != nil && !in[name] {
			in[name] = true
			queue = append(queue, name)
		}
	}
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		for _, r := range c.permissions[name].Requires {
			if c.permissions[r] != nil && !in[r] {
				in[r] = true
				queue = append(queue, r)
			}
		}
	}
	effective = make([]string, 0, len(in))
	for name := range in {
		effective = append(effective, name)
	}
	sort.Strings(effective)

	for _, name := range effective {
		if slices.Contains(chosen, name) {
			continue
		}
		a := Added{Permission: name}
		for _, by := range effective {
			if slices.Contains(c.permissions[by].Requires, name) {
				a.RequiredBy = append(a.RequiredBy, by)
			}
		}
		added = append(added, a)
	}
	return effective, added
}

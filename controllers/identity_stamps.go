package controllers

import (
	"fmt"
	"reflect"
	"time"

	admissionv1 "k8s.io/api/admission/v1"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/identity"
)

// stampedFields are the fields of a DataSubjectRequest's spec that only the
// identity webhook writes and the API server keeps immutable (CEL rules on
// the spec): the controller reads who requested and who approved from
// them, so a manager run without its webhook, or an annotation written by
// hand, cannot make a requester their own approver.
var stampedFields = [][]string{{"requestedBy"}, {"approval", "approvedBy"}}

// stampRequest stamps a DataSubjectRequest, as JSON, with the identity of
// the user making the change: spec.requestedBy on create, and
// spec.approval.approvedBy when the change releases the request (approves
// it, or waives the approval of a request that changes data). A stamp the
// change leaves out (an apply from a manifest that never had it) is kept;
// one set or changed by hand is refused, with the reason returned.
func stampRequest(op admissionv1.Operation, obj, old map[string]any, who identity.Identity) string {
	spec := specChild(obj, "spec")
	oldSpec, _ := old["spec"].(map[string]any)
	if denied := keepStamps(spec, oldSpec, stampedFields); denied != "" {
		return denied
	}
	stamp := stampOfIdentity(who)
	switch op {
	case admissionv1.Create:
		put(spec, stampedFields[0], stamp)
		if releasedIn(spec) {
			put(spec, stampedFields[1], stamp)
		}
	case admissionv1.Update:
		if _, had := lookup(oldSpec, stampedFields[1]); !had && !releasedIn(oldSpec) && releasedIn(spec) {
			put(spec, stampedFields[1], stamp)
		}
	}
	return ""
}

// policyStamps are the fields of a RetentionPolicy's spec that only the
// identity webhook writes: who last changed the spec other than its
// approval, and who last approved.
var policyStamps = [][]string{{"approval", "changedBy"}, {"approval", "approvedBy"}}

// stampPolicy stamps a RetentionPolicy with spec.approval.required, as
// JSON: spec.approval.changedBy when anything but the approval changes (or
// nobody was stamped yet), spec.approval.approvedBy when
// approvedGeneration changes. Stamps left out are kept; stamps set or
// changed by hand are refused, with the reason returned.
func stampPolicy(op admissionv1.Operation, obj, old map[string]any, who identity.Identity) string {
	spec := specChild(obj, "spec")
	oldSpec, _ := old["spec"].(map[string]any)
	if denied := keepStamps(spec, oldSpec, policyStamps); denied != "" {
		return denied
	}
	if required, _ := lookup(spec, []string{"approval", "required"}); required != true {
		return ""
	}
	stamp := stampOfIdentity(who)
	_, stamped := lookup(oldSpec, policyStamps[0])
	if op == admissionv1.Create || !stamped || !reflect.DeepEqual(withoutKey(spec, "approval"), withoutKey(oldSpec, "approval")) {
		put(spec, policyStamps[0], stamp)
	}
	given, _ := lookup(spec, []string{"approval", "approvedGeneration"})
	stored, _ := lookup(oldSpec, []string{"approval", "approvedGeneration"})
	if given != nil && !reflect.DeepEqual(given, stored) {
		put(spec, policyStamps[1], stamp)
	}
	return ""
}

// keepStamps refuses stamps set or changed by hand and puts back those a
// change leaves out.
func keepStamps(spec, oldSpec map[string]any, paths [][]string) string {
	for _, path := range paths {
		given, set := lookup(spec, path)
		stored, had := lookup(oldSpec, path)
		if set && (!had || !reflect.DeepEqual(given, stored)) {
			return fmt.Sprintf("spec.%s is written by Lethe from the identity the API server authenticated and cannot be set "+
				"or changed by hand: remove it from the request", joinPath(path))
		}
		if had && !set {
			put(spec, path, stored)
		}
	}
	return ""
}

// stampOfIdentity is an identity as a StampedIdentity's JSON.
func stampOfIdentity(who identity.Identity) map[string]any {
	stamp := map[string]any{"username": who.Username, "at": who.At.UTC().Format(time.RFC3339)}
	if who.UID != "" {
		stamp["uid"] = who.UID
	}
	return stamp
}

// withoutKey is a shallow copy of m without key.
func withoutKey(m map[string]any, key string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if k != key {
			out[k] = v
		}
	}
	return out
}

// releasedIn says whether a DataSubjectRequest's spec, as JSON, lets the
// request run after a second look: spec.approval.approved is true, or the
// approval of a request that changes data is waived (required: false).
func releasedIn(spec map[string]any) bool {
	approval, _ := spec["approval"].(map[string]any)
	if approved, _ := approval["approved"].(bool); approved {
		return true
	}
	typ, _ := spec["type"].(string)
	required, set := approval["required"].(bool)
	return privacyv1alpha1.RequestType(typ).ChangesData() && set && !required
}

// specChild returns obj[key] as a map, adding an empty one when there is none.
func specChild(obj map[string]any, key string) map[string]any {
	m, _ := obj[key].(map[string]any)
	if m == nil {
		m = map[string]any{}
		obj[key] = m
	}
	return m
}

// lookup reads a nested field.
func lookup(m map[string]any, path []string) (any, bool) {
	for i, key := range path {
		v, ok := m[key]
		if !ok || v == nil {
			return nil, false
		}
		if i == len(path)-1 {
			return v, true
		}
		if m, ok = v.(map[string]any); !ok {
			return nil, false
		}
	}
	return nil, false
}

// put writes a nested field, adding the maps on the way.
func put(m map[string]any, path []string, v any) {
	for _, key := range path[:len(path)-1] {
		m = specChild(m, key)
	}
	m[path[len(path)-1]] = v
}

func joinPath(path []string) string {
	s := path[0]
	for _, p := range path[1:] {
		s += "." + p
	}
	return s
}

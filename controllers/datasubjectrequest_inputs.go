package controllers

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

// saltSecretName is the Secret, per namespace, that salts subject digests.
const (
	saltSecretName = "lethe-subject-salt"
	saltKey        = "salt"
)

// requestError is a reason and a message for the request's conditions,
// safe to show: it names Secrets, keys and objects, never values.
type requestError struct {
	reason  string
	message string
	stalled bool
}

func (e *requestError) Error() string { return e.message }

func waiting(reason, format string, args ...any) *requestError {
	return &requestError{reason: reason, message: fmt.Sprintf(format, args...)}
}

func stalled(reason, format string, args ...any) *requestError {
	return &requestError{reason: reason, message: fmt.Sprintf(format, args...), stalled: true}
}

// identifiers reads the subject's identifiers from the request's Secret or
// its inline map.
func (r *DataSubjectRequestReconciler) identifiers(ctx context.Context, dsr *privacyv1alpha1.DataSubjectRequest) (map[string]string, error) {
	s := dsr.Spec.Subject
	if s.IdentifiersSecretRef == nil {
		return s.Identifiers, nil
	}
	var secret corev1.Secret
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: dsr.Namespace, Name: s.IdentifiersSecretRef.Name}, &secret); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, waiting(privacyv1alpha1.ReasonIdentifiersSecretNotFound,
				"identifiers secret %s not found in namespace %s: create it with one key per identifier (for example \"email\")",
				s.IdentifiersSecretRef.Name, dsr.Namespace)
		}
		return nil, err
	}
	ids := map[string]string{}
	for k, v := range secret.Data {
		if len(v) > 0 {
			ids[k] = string(v)
		}
	}
	if len(ids) == 0 {
		return nil, stalled(privacyv1alpha1.ReasonIdentifierKeyMissing,
			"identifiers secret %s has no identifier: give it one key per identifier of subject type %s (for example \"email\")",
			s.IdentifiersSecretRef.Name, s.Type)
	}
	return ids, nil
}

// checkIdentifiers refuses identifier names the inventory does not declare
// for the subject type.
func checkIdentifiers(inv *privacyv1alpha1.DataInventory, subjectType string, ids map[string]string) error {
	for _, st := range inv.Spec.Subjects {
		if st.Name != subjectType {
			continue
		}
		var unknown []string
		for k := range ids {
			if !contains(st.Identifiers, k) {
				unknown = append(unknown, k)
			}
		}
		if len(unknown) > 0 {
			sort.Strings(unknown)
			return stalled(privacyv1alpha1.ReasonUnknownIdentifier,
				"identifier %s is not declared for subject type %s in DataInventory %s (declared: %s)",
				strings.Join(unknown, ", "), subjectType, inv.Name, strings.Join(st.Identifiers, ", "))
		}
		return nil
	}
	return stalled(privacyv1alpha1.ReasonUnknownSubjectType,
		"DataInventory %s declares no subject type %q", inv.Name, subjectType)
}

// salt returns the namespace's digest salt, creating it on first use. A
// salt never changes once created, so it is cached.
func (r *DataSubjectRequestReconciler) salt(ctx context.Context, namespace string) ([]byte, error) {
	if v, ok := r.salts.Load(namespace); ok {
		return v.([]byte), nil
	}
	salt, err := r.readOrCreateSalt(ctx, namespace)
	if err == nil {
		r.salts.Store(namespace, salt)
	}
	return salt, err
}

// blindKey returns the namespace's blind-index key, creating it on first
// use; like the salt, it never changes once created.
func (r *DataSubjectRequestReconciler) blindKey(ctx context.Context, namespace string) ([]byte, error) {
	if v, ok := r.blindKeys.Load(namespace); ok {
		return v.([]byte), nil
	}
	key, err := readOrCreateKey(ctx, r.Client, r.APIReader, namespace, blindKeySecretName, blindKeyKey)
	if err == nil {
		r.blindKeys.Store(namespace, key)
	}
	return key, err
}

func (r *DataSubjectRequestReconciler) readOrCreateSalt(ctx context.Context, namespace string) ([]byte, error) {
	return readOrCreateSalt(ctx, r.Client, r.APIReader, namespace)
}

// readOrCreateSalt reads the namespace's digest salt, creating it when it
// does not exist yet.
func readOrCreateSalt(ctx context.Context, c client.Client, reader client.Reader, namespace string) ([]byte, error) {
	return readOrCreateKey(ctx, c, reader, namespace, saltSecretName, saltKey)
}

// readOrCreateKey reads a random 32-byte key the manager keeps per
// namespace in the Secret name under key, creating it when it does not
// exist yet: the digest salt, the blind-index key. It never changes once
// created.
func readOrCreateKey(ctx context.Context, c client.Client, reader client.Reader, namespace, name, key string) ([]byte, error) {
	var secret corev1.Secret
	ref := types.NamespacedName{Namespace: namespace, Name: name}
	err := reader.Get(ctx, ref, &secret)
	if err == nil && len(secret.Data[key]) > 0 {
		return secret.Data[key], nil
	}
	if err == nil {
		return nil, stalled(privacyv1alpha1.ReasonHashKeyMissing, "secret %s has no key %q: delete it, and Lethe creates it again", name, key)
	}
	if !apierrors.IsNotFound(err) {
		return nil, err
	}
	value := make([]byte, 32)
	if _, err := rand.Read(value); err != nil {
		return nil, err
	}
	secret = corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "lethe"}},
		Data: map[string][]byte{key: value},
	}
	if err := c.Create(ctx, &secret); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return readOrCreateKey(ctx, c, reader, namespace, name, key)
		}
		return nil, err
	}
	return value, nil
}

// targets lists the TenantDatabases a request selects, by name and label.
func (r *DataSubjectRequestReconciler) targets(ctx context.Context, dsr *privacyv1alpha1.DataSubjectRequest) ([]privacyv1alpha1.TenantDatabase, error) {
	return selectTargets(ctx, r.Client, dsr.Namespace, dsr.Spec.Targets)
}

// selectTargets resolves spec.targets: the union of names and selector.
func selectTargets(ctx context.Context, c client.Client, namespace string, t privacyv1alpha1.Targets) ([]privacyv1alpha1.TenantDatabase, error) {
	byName := map[string]privacyv1alpha1.TenantDatabase{}
	for _, n := range t.Names {
		var tdb privacyv1alpha1.TenantDatabase
		if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: n}, &tdb); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, waiting(privacyv1alpha1.ReasonTargetNotFound, "TenantDatabase %s not found in namespace %s", n, namespace)
			}
			return nil, err
		}
		byName[n] = tdb
	}
	if t.Selector != nil {
		sel, err := metav1.LabelSelectorAsSelector(t.Selector)
		if err != nil {
			return nil, stalled(privacyv1alpha1.ReasonNoTargets, "spec.targets.selector is invalid: %v", err)
		}
		var list privacyv1alpha1.TenantDatabaseList
		if err := c.List(ctx, &list, client.InNamespace(namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
			return nil, err
		}
		for _, tdb := range list.Items {
			byName[tdb.Name] = tdb
		}
	}
	if len(byName) == 0 {
		return nil, stalled(privacyv1alpha1.ReasonNoTargets, "spec.targets selects no TenantDatabase in namespace %s", namespace)
	}
	out := make([]privacyv1alpha1.TenantDatabase, 0, len(byName))
	for _, tdb := range byName {
		out = append(out, tdb)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// hashKeys reads the keys of every Hash strategy of an inventory.
func (r *DataSubjectRequestReconciler) hashKeys(ctx context.Context, namespace string, inv *privacyv1alpha1.DataInventory) (map[string][]byte, error) {
	return readHashKeys(ctx, r.APIReader, namespace, inventoryHashKeys(&inv.Spec))
}

// hashKeyUse is where a Hash strategy names its key.
type hashKeyUse struct {
	entity, column string
	ref            *privacyv1alpha1.SecretKeyReference
}

// inventoryHashKeys lists the Hash keys of an inventory's strategies.
func inventoryHashKeys(inv *privacyv1alpha1.DataInventorySpec) []hashKeyUse {
	var out []hashKeyUse
	for _, e := range inv.Entities {
		for _, pc := range e.PersonalColumns {
			if pc.Strategy.KeySecretRef != nil {
				out = append(out, hashKeyUse{entity: e.Name, column: pc.Column, ref: pc.Strategy.KeySecretRef})
			}
		}
	}
	return out
}

// readHashKeys reads each named key once, by "secret/key".
func readHashKeys(ctx context.Context, reader client.Reader, namespace string, uses []hashKeyUse) (map[string][]byte, error) {
	keys := map[string][]byte{}
	for _, u := range uses {
		ref := u.ref
		id := ref.Name + "/" + ref.Key
		if _, done := keys[id]; done {
			continue
		}
		var secret corev1.Secret
		if err := reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: ref.Name}, &secret); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, waiting(privacyv1alpha1.ReasonHashKeyMissing, "hash key secret %s not found (entity %s, column %s)", ref.Name, u.entity, u.column)
			}
			return nil, err
		}
		if len(secret.Data[ref.Key]) == 0 {
			return nil, stalled(privacyv1alpha1.ReasonHashKeyMissing, "hash key secret %s has no key %q (entity %s, column %s)", ref.Name, ref.Key, u.entity, u.column)
		}
		keys[id] = secret.Data[ref.Key]
	}
	return keys, nil
}

// rectificationValues reads the new values of a rectification.
func (r *DataSubjectRequestReconciler) rectificationValues(ctx context.Context, dsr *privacyv1alpha1.DataSubjectRequest) (map[string]string, error) {
	if dsr.Spec.Rectification == nil {
		return nil, nil
	}
	name := dsr.Spec.Rectification.ValuesSecretRef.Name
	var secret corev1.Secret
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: dsr.Namespace, Name: name}, &secret); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, waiting(privacyv1alpha1.ReasonRectificationInvalid, "rectification secret %s not found", name)
		}
		return nil, err
	}
	values := map[string]string{}
	for k, v := range secret.Data {
		values[k] = string(v)
	}
	if len(values) == 0 {
		return nil, stalled(privacyv1alpha1.ReasonRectificationInvalid, "rectification secret %s has no key (use entity.column keys)", name)
	}
	return values, nil
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// asRequestError returns err as a requestError, or nil.
func asRequestError(err error) *requestError {
	var re *requestError
	if errors.As(err, &re) {
		return re
	}
	return nil
}

package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// deleteOwnedSecret deletes the Secret name in owner's namespace only if
// owner controls it (the manager writes only the Secrets it made: an
// export, a job's key), and only the very object read, so a Secret made in
// its place by someone else is left alone. It says whether the Secret is
// gone; false with a nil error means it exists and belongs to someone
// else.
func deleteOwnedSecret(ctx context.Context, reader client.Reader, c client.Writer, owner client.Object, name string) (bool, error) {
	var s corev1.Secret
	if err := reader.Get(ctx, types.NamespacedName{Namespace: owner.GetNamespace(), Name: name}, &s); err != nil {
		return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
	}
	if !metav1.IsControlledBy(&s, owner) {
		return false, nil
	}
	uid, rv := s.UID, s.ResourceVersion
	err := c.Delete(ctx, &s, client.Preconditions{UID: &uid, ResourceVersion: &rv})
	if apierrors.IsNotFound(err) {
		return true, nil
	}
	return err == nil, err
}

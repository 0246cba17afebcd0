package k8sctl

import (
	"context"
	"errors"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestDecideTermination(t *testing.T) {
	tests := []struct {
		ordinal  int
		replicas int32
		err      error
		want     Termination
	}{
		{2, 3, nil, Restart}, // a restart, a rolling update, a node drain
		{3, 3, nil, Drain},   // scaled 4 → 3
		{4, 2, nil, Drain},   // scaled 5 → 2
		{0, 0, nil, Drain},   // scaled to zero
		{4, 2, errors.New("connection refused"), Restart}, // unknown: never drain
	}
	for _, tc := range tests {
		got, why := DecideTermination(tc.ordinal, tc.replicas, tc.err)
		if got != tc.want || why == "" {
			t.Errorf("ordinal %d, replicas %d, err %v: %s (%s), want %s", tc.ordinal, tc.replicas, tc.err, got, why, tc.want)
		}
	}
}

func TestPodIdentity(t *testing.T) {
	sts, n, err := PodIdentity("my-nfsgw-12")
	if err != nil || sts != "my-nfsgw" || n != 12 {
		t.Errorf("PodIdentity = %q, %d, %v", sts, n, err)
	}
	for _, bad := range []string{"nfsgw", "nfsgw-", "-3", "nfsgw-x", "nfsgw-03", "nfsgw-99999999999999999999"} {
		if _, _, err := PodIdentity(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestStatefulSetReplicas(t *testing.T) {
	ctx := context.Background()
	five := int32(5)
	deleting := metav1.Now()
	c := fake.NewClientset(
		&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "nfsgw", Namespace: "ns"}, Spec: appsv1.StatefulSetSpec{Replicas: &five}},
		&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "unset", Namespace: "ns"}},
		&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "going", Namespace: "ns", DeletionTimestamp: &deleting,
			Finalizers: []string{"foregroundDeletion"}}, Spec: appsv1.StatefulSetSpec{Replicas: &five}},
	)
	if n, err := StatefulSetReplicas(ctx, c, "ns", "nfsgw", time.Second); err != nil || n != 5 {
		t.Errorf("nfsgw: %d, %v", n, err)
	}
	if n, err := StatefulSetReplicas(ctx, c, "ns", "unset", time.Second); err != nil || n != 1 {
		t.Errorf("unset: %d, %v", n, err)
	}
	if _, err := StatefulSetReplicas(ctx, c, "ns", "going", time.Second); err == nil {
		t.Error("a StatefulSet being deleted: no error (its pods would drain)")
	}
	if _, err := StatefulSetReplicas(ctx, c, "ns", "missing", time.Second); err == nil {
		t.Error("missing: no error")
	}
}

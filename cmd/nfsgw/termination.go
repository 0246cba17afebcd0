package main

import (
	"context"
	"time"

	"github.com/hashicorp/go-hclog"

	"nfsgw/internal/k8sctl"
)

// podName is the StatefulSet pod this gateway runs as, set by
// --node-id-from-ordinal: on SIGTERM it asks whether its ordinal is gone.
var podName string

// replicasTimeout bounds the question: a SIGTERM must not wait long on an
// API server that does not answer (the answer is then "restart").
const replicasTimeout = 3 * time.Second

// replicas asks the API server for the StatefulSet's spec.replicas (a
// variable so that tests can replace it).
var replicas = func(ctx context.Context, pod string) (int32, error) {
	return k8sctl.Replicas(ctx, pod, replicasTimeout)
}

// termination decides, on SIGTERM, whether this gateway was scaled down
// (drain) or is being restarted.
func termination(log hclog.Logger) k8sctl.Termination {
	_, ord, err := k8sctl.PodIdentity(podName)
	var n int32
	if err == nil {
		n, err = replicas(context.Background(), podName)
	}
	t, why := k8sctl.DecideTermination(ord, n, err)
	if err != nil {
		log.Warn("SIGTERM: "+t.String(), "why", why)
	} else {
		log.Info("SIGTERM: "+t.String(), "why", why)
	}
	return t
}

package k8sctl

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// Config is what the controller runs with.
type Config struct {
	Client       kubernetes.Interface
	Namespace    string
	StatefulSet  string
	NodeIDPrefix string
	Services     ServiceConfig
	Members      Members // nil: no grace database
	Log          hclog.Logger
	// Identity names this instance in the leader lease and its events (the
	// pod's name).
	Identity string
	// Lease is the leader lease's name; "" runs without leader election
	// (one instance only, as in tests).
	Lease string
	// Resync is how often the controller reconciles without a change it
	// was told of: the grace database is polled, not watched (default 5 s).
	Resync time.Duration
}

// Leader election timings: client-go's usual ones. A new leader may act
// up to LeaseDuration after the old one stopped renewing; every action is
// idempotent and preconditioned, so two leaders for a moment do no harm.
const (
	leaseDuration = 15 * time.Second
	renewDeadline = 10 * time.Second
	retryPeriod   = 2 * time.Second
	// graceDBTimeout bounds one read of the grace database.
	graceDBTimeout = 10 * time.Second
)

// Run runs the controller until ctx ends or, with leader election, until
// this instance loses the lease (an error: the process should exit and be
// restarted, not go on with a stale view).
func Run(ctx context.Context, c Config) error {
	if c.Resync <= 0 {
		c.Resync = 5 * time.Second
	}
	if c.Lease == "" {
		return c.loop(ctx)
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Name: c.Lease, Namespace: c.Namespace},
		Client:     c.Client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: c.Identity},
	}
	var runErr error
	lost := false
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: lock, LeaseDuration: leaseDuration, RenewDeadline: renewDeadline, RetryPeriod: retryPeriod,
		ReleaseOnCancel: true, Name: c.Lease,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				c.Log.Info("leading", "lease", c.Lease, "identity", c.Identity)
				runErr = c.loop(ctx)
			},
			OnStoppedLeading: func() { lost = true },
			OnNewLeader: func(id string) {
				if id != c.Identity {
					c.Log.Info("another instance leads; standing by", "leader", id)
				}
			},
		},
	})
	if err != nil {
		return err
	}
	le.Run(ctx)
	if ctx.Err() != nil {
		return nil
	}
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		return runErr
	}
	if lost {
		return errors.New("lost the leader lease")
	}
	return nil
}

// loop watches the StatefulSet, its pods and Services, and reconciles on
// every change and every Resync.
func (c *Config) loop(ctx context.Context) error {
	sts, err := c.waitStatefulSet(ctx)
	if err != nil {
		return err
	}
	sel, err := metav1.LabelSelectorAsSelector(sts.Spec.Selector)
	if err != nil || len(sts.Spec.Selector.MatchLabels) == 0 {
		// A Service selects by labels only.
		return fmt.Errorf("statefulset %s: selector %v: the controller needs matchLabels", c.StatefulSet, sts.Spec.Selector)
	}
	byLabels := informers.NewSharedInformerFactoryWithOptions(c.Client, 0, informers.WithNamespace(c.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = sel.String() }))
	byName := informers.NewSharedInformerFactoryWithOptions(c.Client, 0, informers.WithNamespace(c.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", c.StatefulSet).String()
		}))
	pods := byLabels.Core().V1().Pods()
	svcs := byLabels.Core().V1().Services()
	stss := byName.Apps().V1().StatefulSets()
	kick := make(chan struct{}, 1)
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { poke(kick) },
		UpdateFunc: func(any, any) { poke(kick) },
		DeleteFunc: func(any) { poke(kick) },
	}
	for _, inf := range []cache.SharedIndexInformer{pods.Informer(), svcs.Informer(), stss.Informer()} {
		if _, err := inf.AddEventHandler(h); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		byLabels.Shutdown()
		byName.Shutdown()
	}()
	byLabels.Start(ctx.Done())
	byName.Start(ctx.Done())
	for typ, ok := range byLabels.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("informer of %v did not sync", typ)
		}
	}
	for typ, ok := range byName.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("informer of %v did not sync", typ)
		}
	}
	c.Log.Info("watching", "namespace", c.Namespace, "statefulset", c.StatefulSet, "selector", sel.String(),
		"service type", c.Services.Type, "grace database", c.Members != nil)
	r := &Runner{Client: c.Client, Namespace: c.Namespace, Members: c.Members, Log: c.Log, Host: c.Identity}
	t := time.NewTicker(c.Resync)
	defer t.Stop()
	var lastMembersErr string
	for {
		o, ok := c.observe(ctx, stss.Lister().StatefulSets(c.Namespace), pods.Lister().Pods(c.Namespace).List,
			svcs.Lister().Services(c.Namespace).List, sel, &lastMembersErr)
		if ok {
			if acts := Plan(o); len(acts) > 0 {
				// Failures are logged and reported by the runner, and
				// retried at the next reconcile.
				_ = r.Run(ctx, o, acts)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-kick:
		case <-t.C:
		}
	}
}

func poke(c chan<- struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// waitStatefulSet reads the StatefulSet, waiting for it to exist: the
// controller may be installed before it.
func (c *Config) waitStatefulSet(ctx context.Context) (*appsv1.StatefulSet, error) {
	logged := false
	for {
		sts, err := c.Client.AppsV1().StatefulSets(c.Namespace).Get(ctx, c.StatefulSet, metav1.GetOptions{})
		if err == nil {
			return sts, nil
		}
		if !logged || !apierrors.IsNotFound(err) {
			c.Log.Warn("waiting for the StatefulSet", "namespace", c.Namespace, "name", c.StatefulSet, "error", err)
			logged = true
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(retryPeriod):
		}
	}
}

type statefulSetGetter interface {
	Get(name string) (*appsv1.StatefulSet, error)
}

// observe builds one observation from the informers' caches and the grace
// database; false when there is nothing to reconcile (the StatefulSet is
// gone: its Services go with it by their owner reference).
func (c *Config) observe(ctx context.Context, stss statefulSetGetter, listPods podLister, listSvcs serviceLister,
	sel labels.Selector, lastErr *string) (Observed, bool) {
	sts, err := stss.Get(c.StatefulSet)
	if err != nil || sts.DeletionTimestamp != nil {
		return Observed{}, false
	}
	o := Observed{StatefulSet: sts.Name, StatefulSetUID: sts.UID, Replicas: 1, Selector: sts.Spec.Selector.MatchLabels,
		NodeIDPrefix: c.NodeIDPrefix, Config: c.Services}
	if sts.Spec.Replicas != nil {
		o.Replicas = *sts.Spec.Replicas
	}
	if o.Pods, err = listPods(sel); err != nil {
		return Observed{}, false
	}
	if o.Services, err = listSvcs(sel); err != nil {
		return Observed{}, false
	}
	if c.Members != nil {
		mctx, cancel := context.WithTimeout(ctx, graceDBTimeout)
		o.Members, err = c.Members.Read(mctx)
		cancel()
		if err != nil {
			if err.Error() != *lastErr {
				c.Log.Warn("reading the grace database; no member is removed and no drained Service deleted until it answers", "error", err)
				*lastErr = err.Error()
			}
		} else {
			*lastErr = ""
			o.MembersKnown = true
		}
	}
	return o, true
}

type (
	podLister     func(labels.Selector) ([]*corev1.Pod, error)
	serviceLister func(labels.Selector) ([]*corev1.Service, error)
)

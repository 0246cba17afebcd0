package k8sctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Members is the grace database as the controller needs it. The real one
// (cmd/nfsgw) is in RADOS; tests use a map.
type Members interface {
	// Read returns every member and whether it is live.
	Read(ctx context.Context) (map[string]Member, error)
	// Remove takes a member that is not live out of the database, the way
	// a fencing peer would: it refuses (an error) if the member is live.
	Remove(ctx context.Context, node string) error
}

// Runner performs Plan's actions.
type Runner struct {
	Client    kubernetes.Interface
	Namespace string
	Members   Members // nil: no grace database (Plan then removes none)
	Log       hclog.Logger
	// Now stamps events and conditions (time.Now when nil).
	Now func() time.Time
	// Host names this controller instance in its events.
	Host string

	seq atomic.Uint64
	// reported is the last failure reported per action, so that one that
	// fails the same way at every reconcile is one event, not one every
	// few seconds.
	reported map[string]string
}

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Run performs acts in order. Once an action of an ordinal fails, the rest
// of that ordinal's actions are skipped (its Event would report what did
// not happen; a Service must not go when its member could not be removed)
// and the failure is reported as a Warning event on the StatefulSet; the
// other ordinals go on. It returns the failures joined.
func (r *Runner) Run(ctx context.Context, o Observed, acts []Action) error {
	failed := map[int]bool{}
	var errs []error
	if r.reported == nil {
		r.reported = map[string]string{}
	}
	for _, a := range acts {
		if failed[a.Ordinal()] {
			continue
		}
		err := r.do(ctx, a)
		if err == nil {
			if _, ev := a.(Event); !ev {
				r.Log.Info("done", "action", a.String())
				delete(r.reported, a.String())
			}
			continue
		}
		failed[a.Ordinal()] = true
		err = fmt.Errorf("%s: %w", a, err)
		errs = append(errs, err)
		if _, ev := a.(Event); ev {
			r.Log.Warn("recording an event", "error", err)
			continue // not again as an event
		}
		if apierrors.IsConflict(err) {
			// Someone else wrote the Service since it was observed: the
			// informer brings the new version, and the next plan starts
			// from it. Not a failure to report.
			r.Log.Debug("conflict; planned again from the new version", "error", err)
			continue
		}
		if r.reported[a.String()] == err.Error() {
			continue
		}
		r.reported[a.String()] = err.Error()
		r.Log.Warn("action failed; retried at the next reconcile", "error", err)
		ref := corev1.ObjectReference{Kind: "StatefulSet", APIVersion: "apps/v1", Name: o.StatefulSet, UID: o.StatefulSetUID}
		if eerr := r.event(ctx, Event{Object: ref, Type: corev1.EventTypeWarning, Reason: "Failed" + kind(a), Message: err.Error()}); eerr != nil {
			r.Log.Warn("recording the failure", "error", eerr)
		}
	}
	return errors.Join(errs...)
}

func kind(a Action) string {
	switch a.(type) {
	case CreateService:
		return "CreateService"
	case UpdateService:
		return "UpdateService"
	case DeleteService:
		return "DeleteService"
	case RemoveMember:
		return "RemoveMember"
	case SetPodCondition:
		return "SetPodCondition"
	}
	return "Event"
}

func (r *Runner) do(ctx context.Context, a Action) error {
	svcs := r.Client.CoreV1().Services(r.Namespace)
	switch a := a.(type) {
	case CreateService:
		_, err := svcs.Create(ctx, a.Service, metav1.CreateOptions{FieldManager: ManagedBy})
		return err
	case UpdateService:
		_, err := svcs.Update(ctx, a.Service, metav1.UpdateOptions{FieldManager: ManagedBy})
		return err
	case DeleteService:
		uid := a.UID
		err := svcs.Delete(ctx, a.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if apierrors.IsNotFound(err) {
			return nil // already gone: what was wanted
		}
		return err
	case RemoveMember:
		if r.Members == nil {
			return errors.New("no grace database")
		}
		return r.Members.Remove(ctx, a.Node)
	case SetPodCondition:
		return r.setCondition(ctx, a)
	case Event:
		return r.event(ctx, a)
	}
	return fmt.Errorf("unknown action %T", a)
}

// setCondition patches the one condition into the pod's status: a
// strategic merge keyed by the condition type leaves the kubelet's
// conditions alone, and no resourceVersion is needed.
func (r *Runner) setCondition(ctx context.Context, a SetPodCondition) error {
	c := a.Condition
	c.LastTransitionTime = metav1.NewTime(r.now())
	patch, err := json.Marshal(map[string]any{"status": map[string]any{"conditions": []corev1.PodCondition{c}}})
	if err != nil {
		return err
	}
	_, err = r.Client.CoreV1().Pods(r.Namespace).Patch(ctx, a.Pod, types.StrategicMergePatchType, patch,
		metav1.PatchOptions{FieldManager: ManagedBy}, "status")
	return err
}

func (r *Runner) event(ctx context.Context, e Event) error {
	now := metav1.NewTime(r.now())
	ref := e.Object
	ref.Namespace = r.Namespace
	// Named as client-go's recorder names them: object, then a number
	// unique to this instance.
	name := fmt.Sprintf("%s.%x%s", ref.Name, now.UnixNano(), strconv.FormatUint(r.seq.Add(1), 36))
	ev := &corev1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: name, Namespace: r.Namespace},
		InvolvedObject:      ref,
		Reason:              e.Reason,
		Message:             clip(e.Message, 1024),
		Type:                e.Type,
		Source:              corev1.EventSource{Component: ManagedBy, Host: r.Host},
		FirstTimestamp:      now,
		LastTimestamp:       now,
		Count:               1,
		ReportingController: "nfsgw.io/controller",
		ReportingInstance:   r.Host,
	}
	_, err := r.Client.CoreV1().Events(r.Namespace).Create(ctx, ev, metav1.CreateOptions{})
	return err
}

// clip bounds an event message: an error from the API server or RADOS can
// be long, and the API server refuses messages over 1 KiB in events/v1.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	n -= 3
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

package reltest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/decco-dev/decco/space"
	"github.com/decco-dev/decco/test/deccotest"
)

// Churn is steady pod traffic through the apiserver, as a busy cluster
// makes: workers create pods in a space (each one an admission request to
// the webhook) and delete them again, and every failed creation is
// recorded with when it happened.
type Churn struct {
	c     client.Client
	ns    string
	pause time.Duration
	start time.Time
	stop  chan struct{}
	wg    sync.WaitGroup

	mu          sync.Mutex
	created     int
	errors      []string
	notInjected []string
	latencies   []time.Duration
}

// ChurnResult is what a Churn saw.
type ChurnResult struct {
	// Created counts pods the apiserver admitted.
	Created int
	// Errors are the failed creations, "+<offset> <error>".
	Errors []string
	// NotInjected names admitted pods without decco's sidecar.
	NotInjected []string
	// P50, P99 and Max are creation latencies (the apiserver's round trip,
	// admission included).
	P50, P99, Max time.Duration
	// Duration is how long the churn ran.
	Duration time.Duration
}

// String summarizes r for a test log.
func (r ChurnResult) String() string {
	return fmt.Sprintf("%d pods admitted in %s (%.1f/s), %d errors, %d not injected, create latency p50 %s p99 %s max %s",
		r.Created, r.Duration.Round(time.Millisecond), float64(r.Created)/r.Duration.Seconds(), len(r.Errors), len(r.NotInjected),
		r.P50.Round(time.Millisecond), r.P99.Round(time.Millisecond), r.Max.Round(time.Millisecond))
}

// StartChurn starts workers that each create a pod in space ns, check it
// was injected, delete it, and pause before the next.
func StartChurn(c client.Client, ns string, workers int, pause time.Duration) *Churn {
	ch := &Churn{c: c, ns: ns, pause: pause, start: time.Now(), stop: make(chan struct{})}
	for i := range workers {
		ch.wg.Add(1)
		go ch.work(i)
	}
	return ch
}

func (ch *Churn) work(worker int) {
	defer ch.wg.Done()
	for {
		select {
		case <-ch.stop:
			return
		default:
		}
		ch.once(worker)
		select {
		case <-ch.stop:
			return
		case <-time.After(ch.pause):
		}
	}
}

func (ch *Churn) once(worker int) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	pod := churnPod(ch.ns, worker)
	began := time.Now()
	err := ch.c.Create(ctx, pod)
	took := time.Since(began)
	ch.mu.Lock()
	switch {
	case err != nil:
		ch.errors = append(ch.errors, fmt.Sprintf("+%s %v", began.Sub(ch.start).Round(time.Millisecond), err))
	case !deccotest.Injected(pod):
		ch.notInjected = append(ch.notInjected, pod.Name)
		fallthrough
	default:
		ch.created++
		ch.latencies = append(ch.latencies, took)
	}
	ch.mu.Unlock()
	if err == nil {
		_ = ch.c.Delete(ctx, pod, client.GracePeriodSeconds(0))
	}
}

// churnPod is a small pod of the space with one port to put TLS on.
func churnPod(ns string, worker int) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: fmt.Sprintf("churn-%d-", worker),
			Labels: map[string]string{space.LabelSpace: ns, "app": "churn"}},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To[int64](0),
			Containers: []corev1.Container{{Name: "app", Image: "app:1",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}},
		},
	}
}

// Result is what the churn has seen so far.
func (ch *Churn) Result() ChurnResult {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	r := ChurnResult{Created: ch.created, Errors: slices.Clone(ch.errors), NotInjected: slices.Clone(ch.notInjected),
		Duration: time.Since(ch.start)}
	if n := len(ch.latencies); n > 0 {
		sorted := slices.Clone(ch.latencies)
		slices.Sort(sorted)
		r.P50, r.P99, r.Max = sorted[n/2], sorted[n*99/100], sorted[n-1]
	}
	return r
}

// Stop ends the churn, waits for the workers and returns the result.
func (ch *Churn) Stop() ChurnResult {
	close(ch.stop)
	ch.wg.Wait()
	return ch.Result()
}

// WaitCreated waits until the churn has created n more pods than when it
// was called: evidence that admission kept working over a stretch, where
// a sleep would only be time.
func (ch *Churn) WaitCreated(t testing.TB, n int, timeout time.Duration) {
	t.Helper()
	from := ch.Result().Created
	WaitFor(t, timeout, fmt.Sprintf("%d more pods created", n), func() error {
		if got := ch.Result().Created - from; got < n {
			return fmt.Errorf("%d created", got)
		}
		return nil
	})
}

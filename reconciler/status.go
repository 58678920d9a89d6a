package reconciler

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/decco-dev/decco/dns"
	"github.com/decco-dev/decco/route"
	"github.com/decco-dev/decco/space"
)

// Reasons in the status annotation and on Events. Route conflicts carry
// route's own reasons (HostnameTaken, ...), and the pki part pki's.
const (
	ReasonInvalidSpace   = "InvalidSpace"
	ReasonApplied        = "Applied"
	ReasonApplyFailed    = "ApplyFailed"
	ReasonNameInUse      = "NameInUse"
	ReasonServiceInvalid = "ServiceInvalid"
	ReasonDNSDisabled    = "Disabled"
	ReasonNoAddress      = "NoAddress"
	ReasonDNSFailed      = "ProviderFailed"
	ReasonNameConflict   = "NameConflict"
	ReasonNoZone         = "NoZone"
	ReasonPublished      = "Published"
	ReasonSpaceRemoved   = "SpaceRemoved"
)

// errNameInUse marks an object decco wants whose name a user's object
// already has: decco never takes it over.
var errNameInUse = errors.New("name in use by an object decco did not create")

// invalidStatus is the status of a namespace whose decco annotations don't
// parse: every part is down for the same reason, naming each bad key and
// its fix.
func invalidStatus(err error) space.Status {
	msgs := []string{}
	for _, fe := range space.FieldErrors(err) {
		msgs = append(msgs, fe.Error())
	}
	if len(msgs) == 0 {
		msgs = append(msgs, err.Error())
	}
	c := space.Condition{Reason: ReasonInvalidSpace, Message: strings.Join(msgs, "; ") +
		" (decco changes nothing in this namespace until the space is valid)"}
	return allParts(c)
}

func allParts(c space.Condition) space.Status {
	st := space.Status{Parts: map[string]space.Condition{}}
	for _, p := range space.Parts {
		st.Parts[p] = c
	}
	return st
}

// appliedCondition is a part's state after applying its objects.
func appliedCondition(applyErr error) space.Condition {
	switch {
	case applyErr == nil:
		return space.Condition{Ready: true, Reason: ReasonApplied}
	case errors.Is(applyErr, errNameInUse):
		return space.Condition{Reason: ReasonNameInUse, Message: applyErr.Error() +
			"; rename or delete that object, or remove its name from the space, and decco creates its own"}
	default:
		return space.Condition{Reason: ReasonApplyFailed, Message: applyErr.Error()}
	}
}

// policiesCondition: applied, and every Service's ports understood.
func policiesCondition(applyErr, portsErr error) space.Condition {
	c := appliedCondition(applyErr)
	if c.Ready && portsErr != nil {
		return space.Condition{Reason: ReasonServiceInvalid, Message: portsErr.Error()}
	}
	return c
}

// routesCondition: applied and nothing refused. Hostname collisions come
// first in the message: they are the ones another tenant causes.
func routesCondition(applyErr error, conflicts []route.Conflict) space.Condition {
	if c := appliedCondition(applyErr); !c.Ready {
		return c
	}
	if len(conflicts) == 0 {
		return space.Condition{Ready: true, Reason: ReasonApplied}
	}
	cs := slices.Clone(conflicts)
	slices.SortStableFunc(cs, func(a, b route.Conflict) int {
		return cmp.Compare(rank(a), rank(b))
	})
	msgs := make([]string, len(cs))
	for i, c := range cs {
		msgs[i] = c.Message
	}
	return space.Condition{Reason: cs[0].Reason, Message: strings.Join(msgs, "; ")}
}

func rank(c route.Conflict) int {
	switch c.Reason {
	case route.ReasonLimitExceeded, route.ReasonNestedDomain:
		return 0
	case route.ReasonHostnameTaken:
		return 1
	}
	return 2
}

// dnsCondition: off, waiting for an address, failed, or published.
func dnsCondition(enabled bool, targets []string, where string, err error, records int) space.Condition {
	switch {
	case !enabled:
		return space.Condition{Ready: true, Reason: ReasonDNSDisabled, Message: "decco publishes no DNS records in this installation"}
	case errors.Is(err, dns.ErrConflict):
		return space.Condition{Reason: ReasonNameConflict, Message: err.Error()}
	case errors.Is(err, dns.ErrNoZone):
		return space.Condition{Reason: ReasonNoZone, Message: err.Error()}
	case err != nil:
		return space.Condition{Reason: ReasonDNSFailed, Message: err.Error()}
	case len(targets) == 0:
		return space.Condition{Reason: ReasonNoAddress, Message: fmt.Sprintf(
			"%s has no address yet, so there is nowhere to point DNS at; it gets one when its load balancer is provisioned (or the installation sets --dns-target)", where)}
	default:
		return space.Condition{Ready: true, Reason: ReasonPublished,
			Message: fmt.Sprintf("%d record(s) pointing at %s", records, strings.Join(targets, ", "))}
	}
}

// nsEvent is one Event to record on the namespace.
type nsEvent struct {
	Type, Reason, Note string
}

// transitions are the Events for parts whose state changed from old to
// new, in the order of space.Parts: a Warning when a part is down, Normal
// when it is up. A part whose readiness and reason stay the same records
// nothing, even if its message moves on (cert-manager working through a
// space's certificates one by one is one Issuing, not three). Parts that
// change to the same condition share one Event (an invalid space is one
// InvalidSpace warning, not four).
func transitions(old, new space.Status) []nsEvent {
	var out []nsEvent
	var parts [][]string // parts of out[i]
	conds := []space.Condition{}
	for _, p := range space.Parts {
		o, n := old.Parts[p], new.Parts[p]
		if o.Ready == n.Ready && o.Reason == n.Reason {
			continue
		}
		if i := slices.Index(conds, n); i >= 0 {
			parts[i] = append(parts[i], p)
			continue
		}
		conds = append(conds, n)
		parts = append(parts, []string{p})
	}
	for i, c := range conds {
		who := strings.Join(parts[i], ", ")
		ev := nsEvent{Type: corev1.EventTypeNormal, Reason: c.Reason, Note: who + " ready"}
		if c.Message != "" {
			ev.Note += ": " + c.Message
		}
		if !c.Ready {
			ev.Type = corev1.EventTypeWarning
			ev.Note = who + " not ready: " + c.Message
		}
		ev.Note = truncate(ev.Note, maxNote)
		out = append(out, ev)
	}
	return out
}

// ReasonPortMismatch is the Event reason for Service ports no pod serves.
const ReasonPortMismatch = "PortMismatch"

// mismatchEvent is the Warning for the Service ports that new reports and
// old did not; nil when there are none.
func mismatchEvent(old, new space.Status) *nsEvent {
	var notes []string
	for _, m := range new.Mismatches {
		if !slices.Contains(old.Mismatches, m) {
			notes = append(notes, m.Message())
		}
	}
	if len(notes) == 0 {
		return nil
	}
	return &nsEvent{Type: corev1.EventTypeWarning, Reason: ReasonPortMismatch, Note: truncate(strings.Join(notes, "; "), maxNote)}
}

// maxNote keeps an Event's note under the apiserver's 1 kB limit.
const maxNote = 1000

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

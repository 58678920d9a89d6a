package reconciler

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/decco-dev/decco/dns"
	"github.com/decco-dev/decco/pki"
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
	// ReasonReady is the Event of a status change that brought parts up
	// for different reasons (a first convergence: Issued, Applied,
	// Published).
	ReasonReady = "Ready"
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
	case errors.Is(err, errNameInUse):
		return appliedCondition(err)
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

// transition is the one Event for a change of status: however many parts
// moved, a space records one Event per status write, so converging a space
// costs one Event, not one per part. It is a Warning when a changed part is
// down, with that part's reason: a refusal the user must act on (a hostname
// taken, an invalid space) before one that resolves itself (certificates
// issuing, no address yet), then in the order of space.Parts. When every
// changed part is up, the reason is theirs if they share one, else Ready.
// The note names every changed part, the down ones first; parts that
// changed to the same condition share a clause. A part whose readiness and
// reason stay the same records nothing, even if its message moves on
// (cert-manager working through a space's certificates one by one is one
// Issuing, not three).
func transition(old, new space.Status) (nsEvent, bool) {
	var groups []changeGroup
	for _, p := range space.Parts {
		o, n := old.Parts[p], new.Parts[p]
		if o.Ready == n.Ready && o.Reason == n.Reason {
			continue
		}
		if i := slices.IndexFunc(groups, func(g changeGroup) bool { return g.cond == n }); i >= 0 {
			groups[i].parts = append(groups[i].parts, p)
			continue
		}
		groups = append(groups, changeGroup{cond: n, parts: []string{p}})
	}
	if len(groups) == 0 {
		return nsEvent{}, false
	}
	// Down before up; among the down, what the user must fix first.
	slices.SortStableFunc(groups, func(a, b changeGroup) int { return cmp.Compare(a.rank(), b.rank()) })
	ev := nsEvent{Type: corev1.EventTypeNormal, Reason: groups[0].cond.Reason}
	if !groups[0].cond.Ready {
		ev.Type = corev1.EventTypeWarning
	} else if len(groups) > 1 {
		ev.Reason = ReasonReady
	}
	notes := make([]string, len(groups))
	for i, g := range groups {
		notes[i] = g.note()
	}
	ev.Note = truncate(strings.Join(notes, "; "), maxNote)
	return ev, true
}

// changeGroup is the parts that changed to one condition.
type changeGroup struct {
	cond  space.Condition
	parts []string
}

// rank orders groups for the Event: refusals, then progress, then ready.
func (g changeGroup) rank() int {
	switch {
	case g.cond.Ready:
		return 2
	case g.cond.Reason == pki.ReasonIssuing || g.cond.Reason == ReasonNoAddress:
		return 1
	}
	return 0
}

func (g changeGroup) note() string {
	who := strings.Join(g.parts, ", ")
	switch {
	case !g.cond.Ready:
		return who + " not ready: " + g.cond.Message
	case g.cond.Message != "":
		return who + " ready: " + g.cond.Message
	}
	return who + " ready"
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

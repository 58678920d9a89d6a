package dns

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func rec(name string, ttl int64, targets ...string) Record {
	return Record{Name: name, Targets: targets, TTL: ttl}
}

func TestPlan(t *testing.T) {
	for _, tc := range []struct {
		name             string
		desired, current []Record
		want             Changes
	}{
		{name: "nothing", want: Changes{}},
		{
			name:    "create all",
			desired: []Record{rec("b.example.com", 60, "192.0.2.1"), rec("a.example.com", 60, "192.0.2.1")},
			want:    Changes{Create: []Record{rec("a.example.com", 60, "192.0.2.1"), rec("b.example.com", 60, "192.0.2.1")}},
		},
		{
			name:    "equal as sets, case and trailing dot",
			desired: []Record{rec("a.example.com", 60, "192.0.2.1", "192.0.2.2"), rec("c.example.com", 60, "lb.example.net")},
			current: []Record{rec("A.example.com.", 60, "192.0.2.2", "192.0.2.1"), rec("c.example.com", 60, "LB.example.net.")},
			want:    Changes{},
		},
		{
			name:    "one entry per target, as RFC2136 lists them",
			desired: []Record{rec("a.example.com", 60, "192.0.2.1", "192.0.2.2")},
			current: []Record{rec("a.example.com", 60, "192.0.2.2"), rec("a.example.com", 60, "192.0.2.1")},
			want:    Changes{},
		},
		{
			name:    "desired TTL 0 matches any current TTL",
			desired: []Record{rec("a.example.com", 0, "192.0.2.1")},
			current: []Record{rec("a.example.com", 300, "192.0.2.1")},
			want:    Changes{},
		},
		{
			name:    "targets changed",
			desired: []Record{rec("a.example.com", 60, "192.0.2.9")},
			current: []Record{rec("a.example.com", 60, "192.0.2.1")},
			want:    Changes{Update: []Record{rec("a.example.com", 60, "192.0.2.9")}},
		},
		{
			name:    "TTL changed",
			desired: []Record{rec("a.example.com", 30, "192.0.2.1")},
			current: []Record{rec("a.example.com", 60, "192.0.2.1")},
			want:    Changes{Update: []Record{rec("a.example.com", 30, "192.0.2.1")}},
		},
		{
			name:    "CNAME becomes A: delete one type, create the other",
			desired: []Record{rec("a.example.com", 60, "192.0.2.1")},
			current: []Record{rec("a.example.com", 60, "lb.example.net")},
			want: Changes{
				Create: []Record{rec("a.example.com", 60, "192.0.2.1")},
				Delete: []Record{rec("a.example.com", 60, "lb.example.net")},
			},
		},
		{
			name:    "mixed current record splits by type",
			desired: []Record{rec("a.example.com", 60, "192.0.2.1")},
			current: []Record{rec("a.example.com", 60, "192.0.2.1", "2001:db8::1")},
			want:    Changes{Delete: []Record{rec("a.example.com", 60, "2001:db8::1")}},
		},
		{
			name:    "gone",
			desired: []Record{rec("a.example.com", 60, "192.0.2.1")},
			current: []Record{rec("a.example.com", 60, "192.0.2.1"), rec("old.example.com", 60, "192.0.2.1")},
			want:    Changes{Delete: []Record{rec("old.example.com", 60, "192.0.2.1")}},
		},
		{
			name:    "records without valid targets or names are ignored",
			desired: []Record{rec("a.example.com", 60), rec("192.0.2.1", 60, "192.0.2.1"), rec("*.example.com", 60, "192.0.2.1")},
			current: []Record{rec("b.example.com", 60, "not a target")},
			want:    Changes{},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Plan(tc.desired, tc.current)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.want.Empty(), got.Empty())
		})
	}
}

// Applying a plan's changes to current gives desired: Plan(desired,
// apply(Plan(desired, current), current)) is empty.
func TestPlanConverges(t *testing.T) {
	desired := []Record{rec("a.example.com", 60, "192.0.2.1"), rec("b.example.com", 0, "lb.example.net"), rec("c.example.com", 60, "2001:db8::2")}
	current := []Record{rec("a.example.com", 60, "lb.example.net"), rec("b.example.com", 300, "lb2.example.net"), rec("d.example.com", 60, "192.0.2.4")}
	ch := Plan(desired, current)
	state := normalize(current)
	for _, r := range ch.Delete {
		delete(state, key{r.Name, r.Type()})
	}
	for _, r := range append(ch.Update, ch.Create...) {
		state[key{r.Name, r.Type()}] = r
	}
	var after []Record
	for _, r := range state {
		after = append(after, r)
	}
	assert.True(t, Plan(desired, after).Empty(), "%+v", Plan(desired, after))
}

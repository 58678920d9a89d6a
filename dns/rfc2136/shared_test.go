package rfc2136

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSharedMarkerRoundTrip(t *testing.T) {
	m := sharedMarker{Owner: "east", Space: "foo-east", Trust: "ab12", Targets: []string{"192.0.2.1", "2001:db8::1"}}
	got, ok := parseSharedMarker(m.String())
	assert.True(t, ok)
	assert.Equal(t, m, got)
	for _, bad := range []string{
		"heritage=decco,owner=east,space=foo-east",                                // an exclusive marker
		"heritage=decco,owner=east,space=foo-east,name=foo.decco.test",            // an index entry
		"heritage=decco,owner=east,space=foo-east,trust=ab,targets=not-an-ip",     // a hostname target
		"heritage=decco,space=foo-east,owner=east,trust=ab,targets=192.0.2.1",     // keys out of order
		"heritage=decco,owner=,space=foo-east,trust=ab,targets=192.0.2.1",         // empty owner
		"heritage=other,owner=east,space=foo-east,trust=ab,targets=192.0.2.1",     // another tool
		"heritage=decco,owner=east,space=foo-east,trust=ab,targets=192.0.2.1,x=y", // extra key
	} {
		_, ok := parseSharedMarker(bad)
		assert.False(t, ok, bad)
	}
}

func TestPlanShared(t *testing.T) {
	const name = "foo.decco.test."
	east := sharedMarker{Owner: "east", Space: "foo-east", Trust: "ca1", Targets: []string{"192.0.2.1"}}
	west := sharedMarker{Owner: "west", Space: "foo-west", Trust: "ca1", Targets: []string{"192.0.2.2"}}
	rival := sharedMarker{Owner: "south", Space: "bar", Trust: "ca2", Targets: []string{"192.0.2.9"}}
	ready := &sharedWant{Targets: []string{"192.0.2.1"}, Trust: "ca1", TTL: 60}
	standby := &sharedWant{Targets: []string{"192.0.2.1"}, Trust: "ca1", Standby: true, TTL: 60}
	moved := &sharedWant{Targets: []string{"192.0.2.3"}, Trust: "ca1", TTL: 60}
	type want struct {
		conflict   string
		add, rm    []string
		published  bool
		keptAsLast bool
		others     []string
		noop       bool
	}
	tests := []struct {
		name   string
		want   *sharedWant
		values []string
		out    want
	}{
		{"first region joins an empty name", ready, nil,
			want{add: []string{"192.0.2.1"}, published: true}},
		{"second region joins beside the first", ready, []string{west.String()},
			want{add: []string{"192.0.2.1"}, published: true, others: []string{"west/foo-west"}}},
		{"already published: nothing to do", ready, []string{east.String(), west.String()},
			want{add: []string{"192.0.2.1"}, published: true, others: []string{"west/foo-west"}, noop: true}},
		{"the gateway moved: the old address goes, the new one comes", moved, []string{east.String(), west.String()},
			want{add: []string{"192.0.2.3"}, rm: []string{"192.0.2.1"}, published: true, others: []string{"west/foo-west"}}},
		{"not ready with another region: withdrawn", standby, []string{east.String(), west.String()},
			want{rm: []string{"192.0.2.1"}, others: []string{"west/foo-west"}}},
		{"not ready and alone: the last address stays", standby, []string{east.String()},
			want{add: []string{"192.0.2.1"}, published: true, keptAsLast: true, noop: true}},
		{"not ready and not there, another region is: stays out", standby, []string{west.String()},
			want{others: []string{"west/foo-west"}, noop: true}},
		{"another customer's global name: left alone", ready, []string{rival.String()},
			want{conflict: "another trust domain", others: []string{"south/bar"}, noop: true}},
		{"another installation's own name: left alone", ready, []string{"heritage=decco,owner=south,space=foo"},
			want{conflict: "as a name of its own", noop: true}},
		{"another space of this installation: left alone", ready, []string{sharedMarker{Owner: "east", Space: "foo-2", Trust: "ca1", Targets: []string{"192.0.2.1"}}.String()},
			want{conflict: "space foo-2 of this installation", noop: true}},
		{"a TXT decco did not write: left alone", ready, []string{"v=spf1 -all"},
			want{conflict: "that decco did not write", noop: true}},
		{"no longer wanted: only this region's address goes", nil, []string{east.String(), west.String()},
			want{rm: []string{"192.0.2.1"}, others: []string{"west/foo-west"}}},
		{"no longer wanted, the address shared with another region: the record stays for it", nil,
			[]string{east.String(), sharedMarker{Owner: "west", Space: "foo-west", Trust: "ca1", Targets: []string{"192.0.2.1"}}.String()},
			want{others: []string{"west/foo-west"}}},
		{"no longer wanted beside a foreign TXT: ours still goes", nil, []string{east.String(), "v=spf1 -all"},
			want{rm: []string{"192.0.2.1"}}},
		{"CA unknown for now, with others: withdrawn like an unready region", &sharedWant{Targets: []string{"192.0.2.1"}, TTL: 60}, []string{east.String(), west.String()},
			want{rm: []string{"192.0.2.1"}, others: []string{"west/foo-west"}}},
		{"CA unknown for now, alone: kept with the trust on record", &sharedWant{Targets: []string{"192.0.2.1"}, TTL: 60}, []string{east.String()},
			want{add: []string{"192.0.2.1"}, published: true, keptAsLast: true, noop: true}},
		{"CA unknown and never published: joins nothing", &sharedWant{Targets: []string{"192.0.2.1"}, TTL: 60}, nil,
			want{noop: true}},
		{"no longer wanted and never there", nil, []string{west.String()},
			want{others: []string{"west/foo-west"}, noop: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := planShared(name, "east", "foo-east", tt.want, tt.values)
			if tt.out.conflict == "" {
				assert.Empty(t, s.Conflict)
			} else {
				assert.Contains(t, s.Conflict, tt.out.conflict)
			}
			if s.New != nil {
				assert.Equal(t, tt.out.add, s.Add)
			} else {
				assert.Empty(t, tt.out.add)
			}
			assert.Equal(t, tt.out.rm, s.Remove)
			assert.Equal(t, tt.out.published, s.State.Published)
			assert.Equal(t, tt.out.keptAsLast, s.State.KeptAsLast)
			assert.Equal(t, tt.out.others, s.State.Others)
			assert.Equal(t, tt.out.noop, s.noop())
		})
	}
}

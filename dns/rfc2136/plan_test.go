package rfc2136

import (
	"reflect"
	"testing"
)

func TestPlan(t *testing.T) {
	a := func(name, ip string) rrset { return rrset{Name: name, A: []string{ip}, TTL: 60} }
	for _, tc := range []struct {
		name    string
		desired map[string]rrset
		state   map[string]nameState
		want    []action
	}{
		{"new name is created", map[string]rrset{"a.": a("a.", "192.0.2.1")}, map[string]nameState{"a.": {}},
			[]action{{Kind: actCreate, Name: "a.", Want: a("a.", "192.0.2.1")}}},
		{"indexed but unowned name: create, and drop the entry if it conflicts", map[string]rrset{"a.": a("a.", "192.0.2.1")},
			map[string]nameState{"a.": {Indexed: true}},
			[]action{{Kind: actCreate, Name: "a.", Want: a("a.", "192.0.2.1"), Unindex: true}}},
		{"ours and current: nothing", map[string]rrset{"a.": a("a.", "192.0.2.1")},
			map[string]nameState{"a.": {Owner: ours, Current: a("a.", "192.0.2.1"), Indexed: true}}, nil},
		{"ours and current but not indexed: index", map[string]rrset{"a.": a("a.", "192.0.2.1")},
			map[string]nameState{"a.": {Owner: ours, Current: a("a.", "192.0.2.1")}},
			[]action{{Kind: actIndex, Name: "a.", Want: a("a.", "192.0.2.1")}}},
		{"ours and moved: update", map[string]rrset{"a.": a("a.", "192.0.2.2")},
			map[string]nameState{"a.": {Owner: ours, Current: a("a.", "192.0.2.1"), Indexed: true}},
			[]action{{Kind: actUpdate, Name: "a.", Want: a("a.", "192.0.2.2")}}},
		{"TTL change: update", map[string]rrset{"a.": {Name: "a.", A: []string{"192.0.2.1"}, TTL: 30}},
			map[string]nameState{"a.": {Owner: ours, Current: a("a.", "192.0.2.1"), Indexed: true}},
			[]action{{Kind: actUpdate, Name: "a.", Want: rrset{Name: "a.", A: []string{"192.0.2.1"}, TTL: 30}}}},
		{"foreign: conflict, never a write", map[string]rrset{"a.": a("a.", "192.0.2.1")},
			map[string]nameState{"a.": {Owner: foreign, Holder: "is owned by x"}},
			[]action{{Kind: actConflict, Name: "a.", Reason: "is owned by x"}}},
		{"other space's: conflict, stale entry dropped", map[string]rrset{"a.": a("a.", "192.0.2.1")},
			map[string]nameState{"a.": {Owner: otherSpace, Holder: "is published by space b", Indexed: true}},
			[]action{{Kind: actConflict, Name: "a.", Reason: "is published by space b", Unindex: true}}},
		{"no longer wanted and ours: remove", nil,
			map[string]nameState{"a.": {Owner: ours, Indexed: true}},
			[]action{{Kind: actRemove, Name: "a."}}},
		{"no longer wanted and not ours: only the index entry goes", nil,
			map[string]nameState{"a.": {Owner: unowned, Indexed: true}, "b.": {Owner: foreign, Indexed: true}},
			[]action{{Kind: actUnindex, Name: "a."}, {Kind: actUnindex, Name: "b."}}},
		{"sorted by name", map[string]rrset{"c.": a("c.", "192.0.2.1"), "a.": a("a.", "192.0.2.1")},
			map[string]nameState{"c.": {}, "a.": {}, "b.": {Owner: ours, Indexed: true}},
			[]action{{Kind: actCreate, Name: "a.", Want: a("a.", "192.0.2.1")}, {Kind: actRemove, Name: "b."}, {Kind: actCreate, Name: "c.", Want: a("c.", "192.0.2.1")}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := plan(tc.desired, tc.state); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("plan:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values []string
		want   ownership
	}{
		{"no marker", nil, unowned},
		{"ours", []string{"heritage=decco,owner=me,space=shop"}, ours},
		{"our other space", []string{"heritage=decco,owner=me,space=blog"}, otherSpace},
		{"other installation", []string{"heritage=decco,owner=them,space=shop"}, foreign},
		{"not decco's", []string{"v=spf1 -all"}, foreign},
		{"an index entry is no marker", []string{"heritage=decco,owner=me,space=shop,name=a.example"}, foreign},
		{"two markers", []string{"heritage=decco,owner=me,space=shop", "heritage=decco,owner=them,space=shop"}, foreign},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, holder := classify(tc.values, "me", "shop")
			if got != tc.want {
				t.Fatalf("classify = %v (%q), want %v", got, holder, tc.want)
			}
			if (got == foreign || got == otherSpace) && holder == "" {
				t.Fatal("a name we may not touch needs a reason")
			}
		})
	}
}

func TestIndexedNames(t *testing.T) {
	values := []string{
		"heritage=decco,owner=me,space=shop,name=b.shop.example.com",
		"heritage=decco,owner=me,space=shop,name=a.shop.example.com",
		"heritage=decco,owner=them,space=shop,name=c.shop.example.com", // other installation
		"heritage=decco,owner=me,space=blog,name=d.shop.example.com",   // other space
		"heritage=decco,owner=me,space=shop,name=www.elsewhere.org",    // outside the zone
		"heritage=decco,owner=me,space=shop,name=example.com",          // the apex
		"heritage=decco,owner=me,space=shop",                           // no name
		"garbage",
	}
	got := indexedNames(values, "me", "shop", "example.com.")
	want := []string{"a.shop.example.com.", "b.shop.example.com."}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("indexedNames = %v, want %v", got, want)
	}
}

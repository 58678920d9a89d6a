package manager

import "testing"

func TestSupportsNativeSidecars(t *testing.T) {
	for _, tt := range []struct {
		major, minor string
		want         bool
	}{
		{"1", "36", true}, {"1", "29", true}, {"1", "29+", true}, {"1", "28", false},
		{"1", "28+", false}, {"2", "0", true}, {"", "", false}, {"1", "x", false},
	} {
		if got := supportsNativeSidecars(tt.major, tt.minor); got != tt.want {
			t.Errorf("supportsNativeSidecars(%q, %q) = %v, want %v", tt.major, tt.minor, got, tt.want)
		}
	}
}

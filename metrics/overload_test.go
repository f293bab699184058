package metrics

import (
	"slices"
	"testing"

	"hotline/sip/overload"
)

// TestOverloadReasonsMatch: the reason label's values that metrics
// pre-creates are overload control's reasons, in the same order (the
// list is kept here too, so that metrics does not import sip/overload).
func TestOverloadReasonsMatch(t *testing.T) {
	var want []string
	for _, r := range overload.Reasons() {
		want = append(want, string(r))
	}
	if got := overloadReasons(); !slices.Equal(got, want) {
		t.Errorf("overloadReasons() = %v, want sip/overload's Reasons() %v", got, want)
	}
}

package sip

import (
	"errors"
	"fmt"
	"testing"

	"hotline/callflow"
	"hotline/metrics"
)

// TestNoAnswerReasonOfSIPErrors: the SIP side's reasons for an agent not
// taking a call are counted as before the classification moved to
// callflow (the metrics' own values), and keep their own texts.
func TestNoAnswerReasonOfSIPErrors(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&refusedError{code: 486, reason: "Busy Here"}, metrics.NoAnswerBusy},
		{&refusedError{code: 603, reason: "Decline"}, metrics.NoAnswerDeclined},
		{&refusedError{code: 480, reason: "Temporarily Unavailable"}, metrics.NoAnswerUnreachable},
		{&refusedError{code: 500, reason: "Server Internal Error"}, metrics.NoAnswerError},
		{errNoAnswer, metrics.NoAnswerTimeout},
		{fmt.Errorf("dial: %w", errUnreachable), metrics.NoAnswerUnreachable},
		{errors.New("agent SDP: no audio"), metrics.NoAnswerError},
	} {
		if got := callflow.NoAnswerReason(tc.err); got != tc.want {
			t.Errorf("NoAnswerReason(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
	if errNoAnswer.Error() != "agent did not answer in time" || errUnreachable.Error() != "agent not registered" ||
		(&refusedError{code: 486, reason: "Busy Here"}).Error() != "agent answered 486 Busy Here" {
		t.Error("the SIP side's errors changed their texts")
	}
}

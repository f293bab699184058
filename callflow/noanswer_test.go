package callflow_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"hotline/callflow"
)

// TestNoAnswerReason: how an agent's failure to take a call is counted.
func TestNoAnswerReason(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&callflow.Refused{Code: 486, Reason: "Busy Here"}, callflow.NoAnswerBusy},
		{&callflow.Refused{Code: 600, Reason: "Busy Everywhere"}, callflow.NoAnswerBusy},
		{&callflow.Refused{Code: 603, Reason: "Decline"}, callflow.NoAnswerDeclined},
		{fmt.Errorf("ringing bob: %w", callflow.ErrNoAnswer), callflow.NoAnswerTimeout},
		{callflow.ErrUnreachable, callflow.NoAnswerUnreachable},
		{&callflow.Refused{Code: 404, Reason: "Not Found"}, callflow.NoAnswerUnreachable},
		{&callflow.Refused{Code: 408, Reason: "Request Timeout"}, callflow.NoAnswerUnreachable},
		{&callflow.Refused{Code: 480, Reason: "Temporarily Unavailable"}, callflow.NoAnswerUnreachable},
		{&callflow.Refused{Code: 500, Reason: "Server Internal Error"}, callflow.NoAnswerError},
		{errors.New("agent SDP: no common codec"), callflow.NoAnswerError},
		{context.Canceled, callflow.NoAnswerError},
	} {
		if got := callflow.NoAnswerReason(tc.err); got != tc.want {
			t.Errorf("NoAnswerReason(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

package callflow_test

import (
	"testing"

	"hotline/callflow"
	"hotline/metrics"
)

// TestTransferValuesAreMetricsValues: the transfer targets and outcomes
// the transfer policy counts are the values the metrics count.
func TestTransferValuesAreMetricsValues(t *testing.T) {
	for _, p := range [][2]string{
		{callflow.TransferToAgent, metrics.TransferToAgent}, {callflow.TransferToQueue, metrics.TransferToQueue},
		{callflow.TransferToNumber, metrics.TransferToNumber},
		{callflow.TransferCompleted, metrics.TransferCompleted}, {callflow.TransferReturned, metrics.TransferReturned},
		{callflow.TransferFailed, metrics.TransferFailed}, {callflow.TransferAbandoned, metrics.TransferAbandoned},
		{callflow.TransferBlind, metrics.TransferBlind},
	} {
		if p[0] != p[1] {
			t.Errorf("callflow %q, metrics %q", p[0], p[1])
		}
	}
}

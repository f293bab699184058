package metrics

import "github.com/prometheus/client_golang/prometheus"

// CRM lookup failure reasons for Metrics.CRMLookupFailed.
const (
	CRMTimeout = "timeout" // no answer within directory.crm.timeout
	CRMError   = "error"   // refused, an error status, an answer that is not a customer
)

// newCRMFailures registers hotline_crm_lookup_failures_total, both
// reasons at zero from the start.
func newCRMFailures(reg *prometheus.Registry) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: NameCRMFailures,
		Help: "Customer lookups in the CRM that failed, by reason (timeout, error); those callers were routed as unknown."},
		[]string{lReason})
	c.WithLabelValues(CRMTimeout)
	c.WithLabelValues(CRMError)
	reg.MustRegister(c)
	return c
}

// CRMLookupFailed counts a failed CRM lookup (the caller was treated as
// unknown); reason is CRMTimeout or CRMError (anything else counts as
// error).
func (m *Metrics) CRMLookupFailed(reason string) {
	if m == nil {
		return
	}
	if reason != CRMTimeout {
		reason = CRMError
	}
	m.crmFailures.WithLabelValues(reason).Inc()
}

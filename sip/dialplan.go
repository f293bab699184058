package sip

// DialKind is what a dialled number (a Request-URI's user part) is.
type DialKind int

// What a number dialled to Hotline can be.
const (
	DialUnknown DialKind = iota // nothing Hotline knows: 404
	DialHotline                 // a hotline number: a customer's call
	DialFeature                 // *21-*24: an agent's state
	DialMonitor                 // *31<agent>#: a supervisor monitors Agent's call
	DialAgent                   // an agent's username: an internal call (e.g. an attended transfer's consultation)
	DialQueue                   // a queue's transfer number: an internal call into Queue
)

// Dialled is a classified number.
type Dialled struct {
	Kind DialKind
	// Code is the feature code (DialFeature, DialMonitor).
	Code string
	// Agent is the agent called or monitored (DialAgent, DialMonitor).
	Agent string
	// Queue is the queue of a transfer number (DialQueue).
	Queue string
}

// Internal reports whether only an authenticated agent may dial it:
// everything but a hotline number.
func (d Dialled) Internal() bool { return d.Kind != DialHotline && d.Kind != DialUnknown }

// Dial classifies a dialled user part: hotline numbers first (a customer
// calling), then feature codes, the monitoring code, agents' usernames
// and queues' transfer numbers (the configuration keeps these apart).
// Callers from outside may only reach hotline numbers: whoever handles
// an Internal number must authenticate the caller as an agent first.
func (t *Transfers) Dial(user string, isHotline func(string) bool) Dialled {
	switch {
	case isHotline(user):
		return Dialled{Kind: DialHotline}
	case featureCodes[user] != 0:
		return Dialled{Kind: DialFeature, Code: user}
	}
	if agent, ok := ParseMonitorCode(user); ok {
		return Dialled{Kind: DialMonitor, Code: FeatureMonitor, Agent: agent}
	}
	switch {
	case t.agents[user]:
		return Dialled{Kind: DialAgent, Agent: user}
	case t.numbers[user] != "":
		return Dialled{Kind: DialQueue, Queue: t.numbers[user]}
	}
	return Dialled{Kind: DialUnknown}
}

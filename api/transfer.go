package api

import (
	"net/http"
)

// Transfers is what the API needs to transfer a call (*sip.Server).
type Transfers interface {
	// Transfer moves call callID's caller to to (agent:bob,
	// queue:complaints, number:+84...) as a blind transfer; by is who
	// asked; agent, when not empty, must be the call's agent.
	Transfer(callID, by, agent, to string) error
}

// TransferState answers POST /api/v1/calls/{id}/transfer: the transfer
// was handed to the call (the caller is being moved).
type TransferState struct {
	CallID string `json:"call_id"`
	To     string `json:"to"`
	By     string `json:"by"`
}

// transfer handles POST /api/v1/calls/{id}/transfer {"to": "agent:bob"}:
// supervisor tokens for any call, agent tokens for their own call only.
func (s *Server) transfer(w http.ResponseWriter, r *http.Request) {
	var body struct {
		To string `json:"to"`
	}
	const example = `{"to": "agent:bob" | "queue:complaints" | "number:+84..."}`
	if !decodeBody(w, r, &body, example) {
		return
	}
	if body.To == "" {
		writeError(w, http.StatusBadRequest, CodeBadRequest, "to is required: "+example)
		return
	}
	if s.deps.Transfers == nil {
		notAvailable(w, "call transfer")
		return
	}
	p := principalOf(r)
	by, agent := p.name, ""
	if p.scope == ScopeAgent {
		by, agent = p.agent, p.agent
	}
	id := r.PathValue("id")
	if err := s.deps.Transfers.Transfer(id, by, agent, body.To); err != nil {
		s.callError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, TransferState{CallID: id, To: body.To, By: by})
}

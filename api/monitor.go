package api

import (
	"context"
	"net/http"
	"time"
)

// Monitors is what the API needs to join a supervisor to a call
// (*sip.Server).
type Monitors interface {
	// Monitor rings supervisor's phone and joins it to call callID in
	// mode (listen, whisper, barge); it returns once the phone answered.
	Monitor(ctx context.Context, callID, supervisor, mode string) error
}

// MonitorState answers POST /api/v1/calls/{id}/monitor.
type MonitorState struct {
	CallID     string `json:"call_id"`
	Supervisor string `json:"supervisor"`
	Mode       string `json:"mode"`
}

// monitorTimeout bounds a monitoring request: the supervisor's phone
// rings up to 30 s.
const monitorTimeout = 40 * time.Second

// monitor handles POST /api/v1/calls/{id}/monitor {"supervisor": "sue",
// "mode": "listen"} (supervisor tokens only).
func (s *Server) monitor(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Supervisor string `json:"supervisor"`
		Mode       string `json:"mode"`
	}
	const example = `{"supervisor": "sue", "mode": "listen"}`
	if !decodeBody(w, r, &body, example) {
		return
	}
	if body.Mode == "" {
		body.Mode = "listen"
	}
	switch {
	case body.Supervisor == "":
		writeError(w, http.StatusBadRequest, CodeBadRequest, "supervisor is required: "+example)
		return
	case body.Mode != "listen" && body.Mode != "whisper" && body.Mode != "barge":
		writeError(w, http.StatusBadRequest, CodeBadRequest, "mode is listen, whisper or barge")
		return
	}
	if s.deps.Monitors == nil {
		notAvailable(w, "call monitoring")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), monitorTimeout)
	defer cancel()
	id := r.PathValue("id")
	if err := s.deps.Monitors.Monitor(ctx, id, body.Supervisor, body.Mode); err != nil {
		s.callError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, MonitorState{CallID: id, Supervisor: body.Supervisor, Mode: body.Mode})
}

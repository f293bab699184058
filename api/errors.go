package api

import (
	"net/http"
)

// Error is the body of every error answer:
//
//	{"error": "no agent \"zoe\"", "code": "unknown_agent"}
//
// Code is stable and meant for programs (one of the Code* constants);
// Message is for people and may change.
type Error struct {
	// Status is the HTTP status to answer with.
	Status  int    `json:"-"`
	Message string `json:"error"`
	Code    string `json:"code"`
}

func (e *Error) Error() string { return e.Message }

// Error codes. Adding one: add it here and to the ErrorCode enum in
// openapi.json (TestOpenAPIEnums compares them).
const (
	CodeUnauthorized      = "unauthorized"
	CodeForbidden         = "forbidden"
	CodeNotFound          = "not_found" // no such endpoint
	CodeMethodNotAllowed  = "method_not_allowed"
	CodeBadRequest        = "bad_request"
	CodeNotAvailable      = "not_available" // the feature is not configured
	CodeUnknownAgent      = "unknown_agent"
	CodeNotRegistered     = "not_registered"
	CodeNotLoggedIn       = "not_logged_in"
	CodeConflict          = "conflict"
	CodeNoLastCall        = "no_last_call"
	CodeUnknownCode       = "unknown_disposition"
	CodeNoSuchCall        = "no_such_call"
	CodeUnknownTarget     = "unknown_transfer_target"
	CodeNotRecorded       = "not_recorded"
	CodeNoRecording       = "no_recording"
	CodeRecordingNotReady = "recording_not_stored"
	CodeBadSignature      = "bad_signature"
	CodeExpired           = "expired"
	CodeStorage           = "storage_unavailable"
	CodeInternal          = "internal"
)

// ErrorCodes returns every code an answer may carry.
func ErrorCodes() []string {
	return []string{CodeUnauthorized, CodeForbidden, CodeNotFound, CodeMethodNotAllowed, CodeBadRequest,
		CodeNotAvailable, CodeUnknownAgent, CodeNotRegistered, CodeNotLoggedIn, CodeConflict, CodeNoLastCall, CodeUnknownCode, CodeNoSuchCall, CodeUnknownTarget,
		CodeNotRecorded, CodeNoRecording, CodeRecordingNotReady, CodeBadSignature, CodeExpired, CodeStorage, CodeInternal}
}

// writeError answers with a JSON error.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, &Error{Message: msg, Code: code})
}

func writeErr(w http.ResponseWriter, e *Error) {
	writeJSON(w, e.Status, e)
}

// notAvailable answers for a feature this deployment has not configured.
func notAvailable(w http.ResponseWriter, what string) {
	writeError(w, http.StatusNotImplemented, CodeNotAvailable, what+" is not configured")
}

package api_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"hotline/api"
	"hotline/api/wire"
	"hotline/routing/callbacks"
)

// TestAddCallback: POST /api/v1/callbacks stores a callback the list then
// shows; bad input is answered 400 with what is wrong, and nothing is
// stored.
func TestAddCallback(t *testing.T) {
	store, err := callbacks.OpenStore("", nil)
	if err != nil {
		t.Fatal(err)
	}
	base := startAPIWith(t, api.Config{Listen: "127.0.0.1:0"}, api.Deps{Log: slog.New(slog.DiscardHandler),
		ListCallbacks: func() []api.Callback { return wire.List(store.List(), wire.Callback) },
		AddCallback: func(r api.CallbackRequest) (api.Callback, error) {
			if r.Queue != "support" {
				return api.Callback{}, &api.Error{Status: http.StatusBadRequest, Code: api.CodeBadRequest, Message: "no queue " + r.Queue}
			}
			if r.Reason == "fail" {
				return api.Callback{}, errors.New("redis down")
			}
			cb, err := store.Add(callbacks.Callback{Kind: callbacks.Queued, Number: r.Number, Queue: r.Queue, Due: r.Due, Reason: r.Reason})
			return wire.Callback(cb), err
		}})
	post := func(body string) (int, []byte) {
		t.Helper()
		resp, err := http.Post(base+"/api/v1/callbacks", "application/json", bytes.NewBufferString(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	for _, bad := range []struct{ body, want string }{
		{"", "must be JSON"},
		{`{"number": "sip:evil@example.com", "queue": "support"}`, "number must be"},
		{`{"number": "12", "queue": "support"}`, "number must be"},
		{`{"number": "+84912345678", "queue": "nope"}`, "no queue nope"},
		{`{"number": "+84912345678", "queue": "support", "reason": "fail"}`, "callback not stored"},
	} {
		code, b := post(bad.body)
		if (code != 400 && code != 500) || !bytes.Contains(b, []byte(bad.want)) {
			t.Errorf("POST %s: %d %s, want an error saying %q", bad.body, code, b, bad.want)
		}
	}
	if n := len(store.List()); n != 0 {
		t.Fatalf("bad requests stored %d callbacks", n)
	}
	due := time.Date(2026, 1, 2, 9, 0, 0, 0, time.UTC)
	code, b := post(`{"number": "+84912345678", "queue": "support", "due": "2026-01-02T09:00:00Z", "reason": "asked by email"}`)
	var got api.Callback
	if code != 200 || json.Unmarshal(b, &got) != nil || got.ID == "" || got.Status != callbacks.Pending || !got.Due.Equal(due) {
		t.Fatalf("POST: %d %s, want the pending callback due %v", code, b, due)
	}
	var list []api.Callback
	if c := getJSON(t, base+"/api/v1/callbacks", &list); c != 200 || len(list) != 1 || list[0].ID != got.ID || list[0].Number != "+84912345678" {
		t.Fatalf("GET after POST: %d %+v", c, list)
	}
}

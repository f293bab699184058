package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler serves the metrics in the Prometheus text format or, when the
// scraper asks for it, OpenMetrics (the only format carrying exemplars).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		EnableOpenMetrics: true,
		ErrorLog:          errorLogger{m.log},
		ErrorHandling:     promhttp.ContinueOnError,
		Registry:          m.reg, // promhttp_metric_handler_errors_total
		Timeout:           10 * time.Second,
	})
}

// Server serves /metrics on its own listener.
type Server struct {
	cfg Config
	log *slog.Logger
	srv *http.Server
	ln  net.Listener
}

// NewServer builds the metrics endpoint (and, with c.Pprof, the profiles
// under /debug/pprof/); nothing listens until Start.
func NewServer(c Config, m *Metrics, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+c.Path, m.Handler())
	if c.Pprof {
		// The handlers of net/http/pprof, on this mux only (never
		// http.DefaultServeMux). Index serves every named profile
		// (heap, goroutine, allocs, block, mutex...) under its path.
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not found: metrics are at "+c.Path, http.StatusNotFound)
	})
	return &Server{cfg: c, log: log, srv: &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}}
}

// Start listens and serves in the background.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("metrics: listen %s: %w", s.cfg.Listen, err)
	}
	s.ln = ln
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("metrics server stopped", "error", err)
		}
	}()
	s.log.Info("metrics listening", "addr", ln.Addr().String(), "path", s.cfg.Path, "pprof", s.cfg.Pprof)
	return nil
}

// Addr is the bound address (after Start).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Shutdown stops the server, letting scrapes in progress finish.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"
)

// runHealth asks a running Hotline's GET /healthz, for container health
// checks in images without a shell or curl: exit 0 when it answers 200,
// 1 otherwise (draining: 503).
func runHealth(args []string, io stdio) int {
	fs := flag.NewFlagSet("hotline health", flag.ContinueOnError)
	fs.SetOutput(io.err)
	url := fs.String("url", "http://127.0.0.1:8080/healthz", "the health endpoint (api.listen)")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(io.err, "hotline health: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		fmt.Fprintf(io.err, "hotline health: -url: %v\n", err)
		return exitUsage
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(io.err, "hotline health: %v\n", err)
		return exitFailed
	}
	defer res.Body.Close()
	body, _ := readSome(res.Body)
	fmt.Fprintf(io.out, "%d %s\n", res.StatusCode, body)
	if res.StatusCode != http.StatusOK {
		return exitFailed
	}
	return exitOK
}

func readSome(r io.Reader) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, 512))
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return string(b), err
}

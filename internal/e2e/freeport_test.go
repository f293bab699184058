package e2e

import (
	"sync"
	"testing"
)

// Helpers started at once never get the same port: 1,000 ports asked
// for from 8 goroutines, none bound meanwhile (the kernel's own choice
// of port 0 repeats among so many), are all different.
func TestFreePortNeverTwice(t *testing.T) {
	var mu sync.Mutex
	seen := map[int]bool{}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			network := []string{"tcp", "udp"}[g%2]
			for range 125 {
				p := FreePort(t, network)
				mu.Lock()
				if seen[p] {
					t.Errorf("port %d handed out twice", p)
				}
				seen[p] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

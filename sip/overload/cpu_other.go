//go:build !unix

package overload

// processCPU is 0 where getrusage does not exist: the CPU signal stays
// quiet (Hotline runs on Linux; this lets the package build elsewhere).
func processCPU() int64 { return 0 }

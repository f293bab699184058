//go:build !linux

package main

// syncFS does nothing where syncfs is not available.
func syncFS(string) {}

//go:build !linux

package main

func journallessExt4(string) bool { return false }

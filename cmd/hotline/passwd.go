package main

import (
	"bufio"
	"flag"
	"fmt"
	"strings"

	"hotline/sip/registrar"
)

// runPasswd prints the digest HA1 of a SIP password read from standard
// input (one line), for agents[].ha1 or ha1_sha256:
//
//	printf '%s\n' 'alice-secret' | hotline passwd -user alice
func runPasswd(args []string, io stdio) int {
	fs := flag.NewFlagSet("hotline passwd", flag.ContinueOnError)
	fs.SetOutput(io.err)
	user := fs.String("user", "", "the agent's username (required)")
	realm := fs.String("realm", "hotline", "the digest realm: sip.registrar.realm")
	alg := fs.String("algorithm", "MD5", "MD5 (for ha1) or SHA-256 (for ha1_sha256)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: hotline passwd -user NAME [-realm REALM] [-algorithm MD5|SHA-256] < password\n\n"+
			"Reads the password from the first line of standard input and prints its HA1.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			fs.SetOutput(io.out)
			fs.Usage()
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(io.err, "hotline passwd: unexpected argument %q (the password is read from standard input)\n", fs.Arg(0))
		return exitUsage
	}
	if *user == "" {
		fmt.Fprintln(io.err, "hotline passwd: -user is required")
		return exitUsage
	}
	line, err := bufio.NewReader(io.in).ReadString('\n')
	password := strings.TrimRight(line, "\r\n")
	if password == "" {
		if err != nil && line == "" {
			fmt.Fprintln(io.err, "hotline passwd: no password on standard input")
		} else {
			fmt.Fprintln(io.err, "hotline passwd: the password is empty")
		}
		return exitUsage
	}
	ha1, err := registrar.HA1(*alg, *user, *realm, password)
	if err != nil {
		fmt.Fprintf(io.err, "hotline passwd: -algorithm: %v\n", err)
		return exitUsage
	}
	fmt.Fprintln(io.out, ha1)
	return exitOK
}

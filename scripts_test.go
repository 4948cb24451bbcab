package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestScriptsHaveHelp: every shell script answers --help (and -h) with a
// usage text at once, exit code 0, without building or running anything;
// every Go program under scripts/ parses its flags with package flag, which
// answers -help and --help.
func TestScriptsHaveHelp(t *testing.T) {
	scripts, _ := filepath.Glob("scripts/*.sh")
	scripts = append(scripts, ".ci/run")
	if len(scripts) < 6 {
		t.Fatalf("found only %v", scripts)
	}
	for _, script := range scripts {
		for _, flag := range []string{"--help", "-h"} {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			cmd := exec.CommandContext(ctx, "bash", script, flag)
			// A script that ignored --help and went on would find no Go
			// (GOROOT is not a folder) and fail at once: .ci/run must never
			// run the tests, this one among them, from here.
			cmd.Env = append(os.Environ(), "GOROOT=/nonexistent/goroot", "GOTOOLCHAIN=local")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			cancel()
			if err != nil || !strings.HasPrefix(stdout.String(), "Usage: "+script) || stderr.Len() > 0 {
				t.Errorf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", script, flag, err, stdout.String(), stderr.String())
			}
		}
	}
	programs, _ := filepath.Glob("scripts/*/main.go")
	if len(programs) < 4 {
		t.Fatalf("found only %v", programs)
	}
	for _, p := range programs {
		if !strings.Contains(readFile(t, p), "flag.Parse()") {
			t.Errorf("%s does not parse its flags with package flag, so -help would not answer", p)
		}
	}
}

// TestDockerfileGoVersion: the image's build stage uses the Go of go.mod.
func TestDockerfileGoVersion(t *testing.T) {
	mod := regexp.MustCompile(`(?m)^go ([0-9]+\.[0-9]+)`).FindStringSubmatch(readFile(t, "go.mod"))
	from := regexp.MustCompile(`(?m)^FROM (?:--platform=\S+ )?golang:([0-9][0-9.]*)\S* AS build$`).FindStringSubmatch(readFile(t, "Dockerfile"))
	if mod == nil || from == nil || mod[1] != from[1] {
		t.Errorf("go.mod says go %v, the Dockerfile's build stage FROM golang:%v", mod, from)
	}
	if !regexp.MustCompile(`(?m)^FROM scratch$`).MatchString(readFile(t, "Dockerfile")) {
		t.Errorf("the Dockerfile's runtime stage is not FROM scratch")
	}
}

// TestExecutableScripts: scripts keep their executable bit, as the README
// runs them by path.
func TestExecutableScripts(t *testing.T) {
	scripts, _ := filepath.Glob("scripts/*.sh")
	for _, s := range append(scripts, ".ci/run") {
		fi, err := os.Stat(s)
		if err != nil || fi.Mode().Perm()&0o111 == 0 {
			t.Errorf("%s: %v %v, want executable", s, fi.Mode(), err)
		}
	}
}

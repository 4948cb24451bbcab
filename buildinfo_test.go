package main

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/ipumon/informatica_exporter/internal/testkit"
)

func TestFromBuildInfo(t *testing.T) {
	const commit = "14fa226f82ffa15539f7440ee770dc9ee823c502"
	const release = "1.4.2"
	info := func(mainVersion string, settings ...string) *debug.BuildInfo {
		bi := &debug.BuildInfo{Main: debug.Module{Path: "github.com/ipumon/informatica_exporter", Version: mainVersion}}
		for i := 0; i+1 < len(settings); i += 2 {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
		}
		return bi
	}
	unknown := buildVersion{Branch: "unknown", BuildUser: "unknown", BuildDate: "unknown"}
	with := func(v, r string) buildVersion { u := unknown; u.Version, u.Revision = v, r; return u }
	for _, c := range []struct {
		name string
		set  buildVersion
		bi   *debug.BuildInfo
		want buildVersion
	}{
		{
			"ldflags win",
			buildVersion{"1.0.0", "abc", "main", "ci", "20260101-00:00:00"},
			info("v0.0.0-20261201221534-14fa226f82ff", "vcs.revision", commit),
			buildVersion{"1.0.0", "abc", "main", "ci", "20260101-00:00:00"},
		},
		{
			"go build, stamped",
			buildVersion{},
			info("v0.0.0-20261201221534-14fa226f82ff", "vcs", "git", "vcs.revision", commit, "vcs.modified", "false"),
			with("v0.0.0-20261201221534-14fa226f82ff", commit),
		},
		{
			"go build, stamped, uncommitted changes",
			buildVersion{},
			info("v0.0.0-20261201221534-14fa226f82ff+dirty", "vcs.revision", commit, "vcs.modified", "true"),
			with("v0.0.0-20261201221534-14fa226f82ff+dirty", commit+"-modified"),
		},
		{
			"go build from a tagged checkout",
			buildVersion{},
			info("v1.4.0", "vcs.revision", commit), with("v1.4.0", commit),
		},
		{
			"go install @pseudo-version",
			buildVersion{},
			info("v0.0.0-20261201221534-14fa226f82ff"), with("v0.0.0-20261201221534-14fa226f82ff", "14fa226f82ff"),
		},
		{
			"go install @pseudo-version after a pre-release",
			buildVersion{},
			info("v1.2.0-rc.1.0.20261201221534-14fa226f82ff"), with("v1.2.0-rc.1.0.20261201221534-14fa226f82ff", "14fa226f82ff"),
		},
		{
			"go install @pseudo-version after a release",
			buildVersion{},
			info("v1.2.1-0.20261201221534-14fa226f82ff"), with("v1.2.1-0.20261201221534-14fa226f82ff", "14fa226f82ff"),
		},
		{"go install @tag", buildVersion{}, info("v1.2.3"), with("v1.2.3", "v1.2.3")},
		{"no version control information: VERSION", buildVersion{}, info("(devel)"), with(release, "unknown")},
		{"no build info: VERSION", buildVersion{}, nil, with(release, "unknown")},
		{"ldflags version only", buildVersion{Version: "2.0.0"}, info("(devel)", "vcs.revision", commit), with("2.0.0", commit)},
	} {
		if got := fromBuildInfo(c.set, c.bi, release); got != c.want {
			t.Errorf("%s:\n got %+v\nwant %+v", c.name, got, c.want)
		}
	}
	if got, want := fromBuildInfo(buildVersion{}, info("(devel)"), ""), with("(devel)", "unknown"); got != want {
		t.Errorf("no version anywhere:\n got %+v\nwant %+v", got, want)
	}
}

// TestVersionFile: VERSION is one semantic version (as the tags, without
// the v), which the builds without version control information report.
func TestVersionFile(t *testing.T) {
	raw := readFile(t, "VERSION")
	v := strings.TrimSpace(raw)
	if raw != v+"\n" || !regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$`).MatchString(v) {
		t.Errorf("VERSION is %q, want one line like 1.2.3", raw)
	}
	if strings.TrimSpace(releaseVersion) != v {
		t.Errorf("the embedded VERSION %q is not the file's %q", releaseVersion, v)
	}
}

// TestBuildsReportVersion builds the exporter the three ways a user does,
// from a copy of this working tree committed to a new repository, with
// GOFLAGS=-buildvcs=false as on the project's machines, and checks that
// --version reports a version and a revision:
//   - the README's `go build -buildvcs=true` and `go run -buildvcs=true`;
//   - plain `go build`, which stamps nothing: the VERSION file's version;
//   - `go install module@version`, from a module proxy made by the test in a
//     folder (GOPROXY=file://...), the dependencies coming from the local
//     module cache.
func TestBuildsReportVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the exporter three times")
	}
	t.Parallel()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go is not on PATH: %v", err)
	}
	git := testkit.RequireProgram(t, "git", "git")
	src := copyWorkingTree(t)
	gitEnv := []string{
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t",
		"GIT_COMMITTER_EMAIL=t@example.com", "GIT_AUTHOR_DATE=2026-01-02T03:04:05Z", "GIT_COMMITTER_DATE=2026-01-02T03:04:05Z",
		"GIT_CONFIG_NOSYSTEM=1", "HOME=" + t.TempDir(),
	}
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "-A"}, {"commit", "-q", "-m", "test"}} {
		runIn(t, src, gitEnv, git, args...)
	}
	commit := strings.TrimSpace(runIn(t, src, gitEnv, git, "rev-parse", "HEAD"))
	pseudo := "v0.0.0-20260102030405-" + commit[:12]
	goEnv := []string{"GOFLAGS=-buildvcs=false", "GOTOOLCHAIN=local"}

	readme := readFile(t, "README.md")
	for _, cmd := range []string{"go build -buildvcs=true -o informatica_exporter .", "go run -buildvcs=true . --demo"} {
		if !strings.Contains(readme, cmd) {
			t.Errorf("README.md does not say %q, which this test runs", cmd)
		}
	}

	bin := filepath.Join(t.TempDir(), "informatica_exporter")
	runIn(t, src, goEnv, goBin, "build", "-buildvcs=true", "-o", bin, ".")
	checkVersion(t, "go build -buildvcs=true", runIn(t, src, nil, bin, "--version"), pseudo, commit)

	checkVersion(t, "go run -buildvcs=true", runIn(t, src, goEnv, goBin, "run", "-buildvcs=true", ".", "--version"), pseudo, commit)

	// Without version control information: the VERSION file's version.
	plain := filepath.Join(t.TempDir(), "informatica_exporter")
	runIn(t, src, goEnv, goBin, "build", "-o", plain, ".")
	checkVersion(t, "go build (-buildvcs=false)", runIn(t, src, nil, plain, "--version"), strings.TrimSpace(readFile(t, "VERSION")), "unknown")

	// go install ...@version: the module at a pseudo-version naming the
	// commit, served from a folder.
	const module = "github.com/ipumon/informatica_exporter"
	proxy := t.TempDir()
	writeModule(t, proxy, module, pseudo, src)
	modCache := strings.TrimSpace(runIn(t, src, nil, goBin, "env", "GOMODCACHE"))
	gobin := t.TempDir()
	installEnv := append(goEnv,
		"GOPROXY=file://"+filepath.ToSlash(proxy)+",file://"+filepath.ToSlash(filepath.Join(modCache, "cache", "download"))+",off",
		"GOSUMDB=off", "GOMODCACHE="+t.TempDir(), "GOFLAGS=-buildvcs=false -modcacherw", "GOBIN="+gobin)
	runIn(t, t.TempDir(), installEnv, goBin, "install", module+"@"+pseudo)
	checkVersion(t, "go install @"+pseudo, runIn(t, src, nil, filepath.Join(gobin, "informatica_exporter"), "--version"), pseudo, commit[:12])
}

// checkVersion checks the first line of --version.
func checkVersion(t *testing.T, how, out, wantVersion, wantRevision string) {
	t.Helper()
	first := strings.SplitN(out, "\n", 2)[0]
	want := fmt.Sprintf("informatica_exporter, version %s (branch: unknown, revision: %s)", wantVersion, wantRevision)
	if first != want {
		t.Errorf("%s: --version says\n  %s\nwant\n  %s", how, first, want)
	}
}

// runIn runs a program in dir with env added to the test's environment, and
// returns its standard output and standard error (where --version goes);
// a failure fails the test with its output.
func runIn(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s (in %s): %v\n%s%s", name, strings.Join(args, " "), dir, err, stdout.String(), stderr.String())
	}
	return stdout.String() + stderr.String()
}

// copyWorkingTree copies the main module's source files (go.mod, go.sum,
// VERSION and every Go file, except tests and nested modules) into a new
// folder.
func copyWorkingTree(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); path != "." && err == nil {
				return filepath.SkipDir // a nested module
			}
			return nil
		}
		name := d.Name()
		source := name == "go.mod" || name == "go.sum" || path == "VERSION" ||
			strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go")
		if !source {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(dst, filepath.Dir(path)), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, path), b, 0o644)
	})
	if err != nil {
		t.Fatalf("copy the working tree: %v", err)
	}
	return dst
}

// writeModule writes module@version, the files of src, in the layout of a
// module proxy (GOPROXY=file://dir).
func writeModule(t *testing.T, dir, module, version, src string) {
	t.Helper()
	at := filepath.Join(dir, filepath.FromSlash(module), "@v")
	if err := os.MkdirAll(at, 0o755); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			if d != nil && d.IsDir() && d.Name() == ".git" {
				return filepath.SkipDir
			}
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		w, err := zw.Create(module + "@" + version + "/" + filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	})
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		t.Fatalf("module zip: %v", err)
	}
	files := map[string][]byte{
		version + ".zip":  buf.Bytes(),
		version + ".mod":  []byte(readFile(t, filepath.Join(src, "go.mod"))),
		version + ".info": fmt.Appendf(nil, `{"Version":%q,"Time":"2026-01-02T03:04:05Z"}`, version),
		"list":            []byte(version + "\n"),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(at, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

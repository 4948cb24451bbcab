package main

import (
	_ "embed"
	"regexp"
	"runtime/debug"
	"strings"

	"github.com/prometheus/common/version"
)

// buildVersion is what --version, informatica_exporter_build_info and the
// landing page report.
type buildVersion struct {
	Version, Revision, Branch, BuildUser, BuildDate string
}

// releaseVersion is the VERSION file: the version of the release this
// source tree is, for builds that neither -ldflags nor the module build info
// give a version (`go build` without version control information).
//
//go:embed VERSION
var releaseVersion string

// setBuildVersion fills what -ldflags -X left empty in
// github.com/prometheus/common/version from the module build info, so that
// `go build`, `go run` and `go install ...@version` report a version and a
// revision too, and VERSION the version where they do not.
func setBuildVersion() {
	bi, _ := debug.ReadBuildInfo()
	v := fromBuildInfo(buildVersion{
		Version:   version.Version,
		Revision:  version.Revision,
		Branch:    version.Branch,
		BuildUser: version.BuildUser,
		BuildDate: version.BuildDate,
	}, bi, strings.TrimSpace(releaseVersion))
	version.Version, version.Revision, version.Branch = v.Version, v.Revision, v.Branch
	version.BuildUser, version.BuildDate = v.BuildUser, v.BuildDate
}

// fromBuildInfo returns set, with each empty field taken from bi (nil when
// the binary has no build info):
//
//   - version: the main module's version: the tag or pseudo-version of
//     `go install ...@version`, or the one Go derives from the checkout's
//     tags when it stamps version control information (-buildvcs=true);
//     release (the VERSION file) when it knows neither, "(devel)" if that is
//     empty too.
//   - revision: the stamped commit (vcs.revision, "-modified" added for
//     uncommitted changes); else the commit a pseudo-version names; else, for
//     a tagged version, the tag, since a module download carries no commit;
//     else "unknown".
//   - branch, build user, build date: "unknown"; only -ldflags set them.
func fromBuildInfo(set buildVersion, bi *debug.BuildInfo, release string) buildVersion {
	var mainVersion, revision string
	modified := false
	if bi != nil {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			mainVersion = v
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	switch {
	case revision != "" && modified:
		revision += "-modified"
	case revision != "":
	case mainVersion != "":
		if commit := pseudoVersionCommit(mainVersion); commit != "" {
			revision = commit
		} else {
			revision = strings.SplitN(mainVersion, "+", 2)[0]
		}
	}
	fill := func(field *string, value string) {
		if *field == "" {
			*field = value
		}
	}
	fill(&mainVersion, release)
	fill(&mainVersion, "(devel)")
	fill(&revision, "unknown")
	fill(&set.Version, mainVersion)
	fill(&set.Revision, revision)
	fill(&set.Branch, "unknown")
	fill(&set.BuildUser, "unknown")
	fill(&set.BuildDate, "unknown")
	return set
}

// pseudoVersionRE matches the end of a pseudo-version (vX.0.0-yyyymmddhhmmss-
// abcdefabcdef, vX.Y.Z-pre.0.yyyymmddhhmmss-abcdefabcdef or
// vX.Y.Z-0.yyyymmddhhmmss-abcdefabcdef, with optional +build metadata); its
// group is the commit.
var pseudoVersionRE = regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+-(?:[0-9A-Za-z.-]*\.)?[0-9]{14}-([0-9a-f]{12})(?:\+[0-9A-Za-z.-]+)?$`)

// pseudoVersionCommit returns the commit prefix a pseudo-version names, or "".
func pseudoVersionCommit(v string) string {
	if m := pseudoVersionRE.FindStringSubmatch(v); m != nil {
		return m[1]
	}
	return ""
}

package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// docFiles are the user documentation: the README and the pages under docs/
// that it links. A command block or a PromQL expression can move between
// them without a test changing.
func docFiles(t *testing.T, root string) []string {
	t.Helper()
	pages, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	return append([]string{filepath.Join(root, "README.md")}, pages...)
}

// readDocs returns the README and every docs/*.md page, one after the other.
func readDocs(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, f := range docFiles(t, ".") {
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(text)
		b.WriteString("\n")
	}
	return b.String()
}

var (
	fencedBlock = regexp.MustCompile("(?ms)^ *```.*?^ *```")
	codeSpan    = regexp.MustCompile("`[^`\n]*`")
	mdLink      = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	mdHeading   = regexp.MustCompile(`(?m)^#{1,6} +(.+?) *#*$`)
	notInSlug   = regexp.MustCompile(`[^\p{L}\p{N} _-]`)
)

// anchors returns the anchors GitHub makes for a Markdown file's headings:
// lower case, punctuation dropped, spaces as hyphens, repeats numbered.
func anchors(markdown string) map[string]bool {
	seen := map[string]int{}
	out := map[string]bool{}
	for _, m := range mdHeading.FindAllStringSubmatch(fencedBlock.ReplaceAllString(markdown, ""), -1) {
		slug := strings.ReplaceAll(notInSlug.ReplaceAllString(strings.ToLower(m[1]), ""), " ", "-")
		if n := seen[slug]; n > 0 {
			out[slug+"-"+strconv.Itoa(n)] = true
		} else {
			out[slug] = true
		}
		seen[slug]++
	}
	return out
}

// brokenLinks returns every relative link of the Markdown files whose file,
// or whose anchor in a Markdown file, does not exist; links in code are not
// links.
func brokenLinks(t *testing.T, files []string) []string {
	t.Helper()
	var broken []string
	for _, file := range files {
		text, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		prose := codeSpan.ReplaceAllString(fencedBlock.ReplaceAllString(string(text), ""), "")
		for _, m := range mdLink.FindAllStringSubmatch(prose, -1) {
			link := m[1]
			if strings.Contains(link, "://") || strings.HasPrefix(link, "mailto:") {
				continue
			}
			target, anchor, _ := strings.Cut(link, "#")
			path := file
			if target != "" {
				path = filepath.Join(filepath.Dir(file), filepath.FromSlash(target))
			}
			if _, err := os.Stat(path); err != nil {
				broken = append(broken, file+": "+link+": no such file")
				continue
			}
			if anchor == "" || !strings.HasSuffix(path, ".md") {
				continue
			}
			page, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !anchors(string(page))[anchor] {
				broken = append(broken, file+": "+link+": no such heading")
			}
		}
	}
	return broken
}

// TestDocsLinks: every relative link of the README, the docs pages and the
// READMEs that link into them points to a file that exists and, in a
// Markdown file, to a heading it has.
func TestDocsLinks(t *testing.T) {
	files := docFiles(t, ".")
	if len(files) < 2 {
		t.Fatalf("no docs/*.md pages: %v", files)
	}
	files = append(files, "mixin/README.md", "deploy/helm/informatica-exporter/README.md")
	for _, b := range brokenLinks(t, files) {
		t.Error(b)
	}
}

// TestDocsLinksCatch: the check above finds a missing file, a missing
// heading and a link to its own file's missing heading, and passes links
// in code and to headings that exist.
func TestDocsLinksCatch(t *testing.T) {
	dir := t.TempDir()
	writeDoc := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	readme := writeDoc("README.md", "# Title\n\n## Quick start: it, `now`\n\n"+
		"[ok](docs/page.md#the-page) [ok](#quick-start-it-now) [ok](docs/page.md#repeat-1) [ok](https://example.com/x.md)\n"+
		"[gone](docs/gone.md) [no heading](docs/page.md#nowhere)\n"+
		"[no heading\n  here](#missing)\n`[code](docs/gone.md)`\n```\n[code](docs/gone.md)\n```\n")
	page := writeDoc("docs/page.md", "# The page\n\n## Repeat\n\n## Repeat\n\n```sh\n# not a heading\n```\n[up](../README.md#title) [bad](../README.md#not-a-heading)\n")
	got := brokenLinks(t, []string{readme, page})
	want := []string{
		readme + ": docs/gone.md: no such file",
		readme + ": docs/page.md#nowhere: no such heading",
		readme + ": #missing: no such heading",
		page + ": ../README.md#not-a-heading: no such heading",
	}
	if !slices.Equal(got, want) {
		t.Errorf("brokenLinks:\n got %q\nwant %q", got, want)
	}
}

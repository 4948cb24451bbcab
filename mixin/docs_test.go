package mixin_test

import (
	"path/filepath"
	"testing"
)

// readDocs returns the top-level README and every docs/*.md page, one
// after the other: a snippet can move between them without a test changing.
func readDocs(t *testing.T) string {
	t.Helper()
	pages, err := filepath.Glob("../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	text := ""
	for _, f := range append([]string{"../README.md"}, pages...) {
		text += readFile(t, f) + "\n"
	}
	return text
}

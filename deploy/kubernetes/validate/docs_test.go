package main

import (
	"os"
	"path/filepath"
	"testing"
)

// readDocs returns the repository's README and every docs/*.md page, one
// after the other: a snippet can move between them without a test changing.
func readDocs(t *testing.T) []byte {
	t.Helper()
	pages, err := filepath.Glob("../../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	var text []byte
	for _, f := range append([]string{"../../../README.md"}, pages...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		text = append(append(text, b...), '\n')
	}
	return text
}

package informatica

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// ZIPError is a fault in the archive itself rather than in the CSV rows it
// holds: not a ZIP, corrupt, too large, or without a CSV file.
type ZIPError struct {
	Entry string // empty when the archive as a whole is at fault
	Err   error
}

func (e *ZIPError) Error() string {
	if e.Entry == "" {
		return fmt.Sprintf("ZIP archive: %v", e.Err)
	}
	return fmt.Sprintf("ZIP entry %q: %v", e.Entry, e.Err)
}

func (e *ZIPError) Unwrap() error { return e.Err }

// ReadUsageZIP reads every CSV file in an export ZIP, in archive order, and
// calls fn for each usage row. Informatica sends one file per meter, or one
// file when combinedMeterUsage is TRUE; both read the same way. Entries that
// are not .csv files are skipped. The inflated size of all entries together
// is bounded by limits.MaxUncompressedBytes, whatever their headers claim.
func ReadUsageZIP(r io.ReaderAt, size int64, limits Limits, fn func(*UsageRow) error) (int, error) {
	zr, err := zip.NewReader(r, size)
	// ErrInsecurePath only warns about entry names; nothing is written to
	// disk, so such an archive is as readable as any other.
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return 0, &ZIPError{Err: err}
	}
	if limits.MaxZIPEntries > 0 && len(zr.File) > limits.MaxZIPEntries {
		return 0, &ZIPError{Err: fmt.Errorf("%d entries, more than the limit of %d", len(zr.File), limits.MaxZIPEntries)}
	}
	budget := &inflateBudget{left: limits.MaxUncompressedBytes}
	rows, files := 0, 0
	for _, f := range zr.File {
		if !isUsageCSV(f) {
			continue
		}
		files++
		n, err := readEntry(f, budget, fn)
		rows += n
		if err != nil {
			return rows, err
		}
	}
	if files == 0 {
		return 0, &ZIPError{Err: fmt.Errorf("no .csv file among %d entries", len(zr.File))}
	}
	return rows, nil
}

func isUsageCSV(f *zip.File) bool {
	name := f.Name
	base := path.Base(name)
	return !f.FileInfo().IsDir() &&
		strings.EqualFold(path.Ext(base), ".csv") &&
		!strings.HasPrefix(name, "__MACOSX/") &&
		!strings.HasPrefix(base, "._")
}

func readEntry(f *zip.File, budget *inflateBudget, fn func(*UsageRow) error) (int, error) {
	rc, err := f.Open()
	if err != nil {
		return 0, &ZIPError{Entry: f.Name, Err: err}
	}
	defer rc.Close()
	n, err := ReadUsageCSV(f.Name, &entryReader{r: rc, name: f.Name, budget: budget}, fn)
	return n, err
}

// inflateBudget is shared by all entries of one archive, so that many small
// entries cannot add up past the limit.
type inflateBudget struct{ left int64 }

// entryReader counts inflated bytes against the budget and marks every read
// failure as a ZIPError, so that a corrupt archive is told apart from bad CSV.
type entryReader struct {
	r      io.Reader
	name   string
	budget *inflateBudget
}

func (e *entryReader) Read(p []byte) (int, error) {
	if e.budget.left <= 0 {
		// The budget may end exactly where the entry does.
		var probe [1]byte
		if n, err := e.r.Read(probe[:]); n == 0 && err == io.EOF {
			return 0, io.EOF
		}
		return 0, &ZIPError{Entry: e.name, Err: errors.New("inflates past the limit on uncompressed export size")}
	}
	if int64(len(p)) > e.budget.left {
		p = p[:e.budget.left]
	}
	n, err := e.r.Read(p)
	e.budget.left -= int64(n)
	if err != nil && err != io.EOF {
		err = &ZIPError{Entry: e.name, Err: err}
	}
	return n, err
}

package informatica

import "io"

// The readers of one CSV file, as the ZIP readers read each entry: tests
// and benchmarks read CSV text without building a ZIP around it. They are
// not part of the package's API.

// ReadUsageCSV reads a SUMMARY export CSV (csvState.read).
func ReadUsageCSV(file string, r io.Reader, fn func(*UsageRow) error) (int, error) {
	return newCSVState(nil).read(file, r, fn)
}

// ReadAssetCSV reads an ASSET export CSV.
func ReadAssetCSV(file string, r io.Reader, fn func(*AssetRow) error) (int, error) {
	var rr recordReader
	return readAssetCSV(&rr, file, r, fn, nil)
}

// ReadProjectCSV reads a PROJECT_FOLDER export CSV.
func ReadProjectCSV(file string, r io.Reader, fn func(*ProjectRow) error) (int, error) {
	var rr recordReader
	return readProjectCSV(&rr, file, r, fn, nil)
}

// ReadTaskCSV reads one job-level export CSV.
func ReadTaskCSV(file string, r io.Reader, fn func(*TaskRow) error, warn func(msg string, keyvals ...any)) (int, error) {
	if warn == nil {
		warn = func(string, ...any) {}
	}
	var rr recordReader
	return readTaskCSV(&rr, file, r, fn, warn)
}

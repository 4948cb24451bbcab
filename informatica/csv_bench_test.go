package informatica_test

import (
	"archive/zip"
	"bytes"
	"encoding/csv"
	"io"
	"testing"

	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/internal/exportgen"
)

// inflatedExport returns the CSV files of a generated export, inflated.
func inflatedExport(b *testing.B, rows int) ([][]byte, int64) {
	b.Helper()
	var z bytes.Buffer
	if err := exportgen.Write(&z, exportgen.Spec{Rows: rows}); err != nil {
		b.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(z.Bytes()), int64(z.Len()))
	if err != nil {
		b.Fatal(err)
	}
	var files [][]byte
	var size int64
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			b.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			b.Fatal(err)
		}
		files = append(files, data)
		size += int64(len(data))
	}
	return files, size
}

// BenchmarkReadUsageCSV is the CSV parser alone, from inflated bytes in
// memory to rows, with a callback that does nothing; encoding_csv is
// encoding/csv splitting the same bytes into records, the reader
// ReadUsageCSV used before.
func BenchmarkReadUsageCSV(b *testing.B) {
	const rows = 100_000
	files, size := inflatedExport(b, rows)
	b.Run("ReadUsageCSV", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			n := 0
			for _, f := range files {
				k, err := informatica.ReadUsageCSV("x.csv", bytes.NewReader(f), func(*informatica.UsageRow) error { return nil })
				if err != nil {
					b.Fatal(err)
				}
				n += k
			}
			if n != rows {
				b.Fatalf("%d rows", n)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/rows, "ns/row")
	})
	b.Run("encoding_csv", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			for _, f := range files {
				cr := csv.NewReader(bytes.NewReader(f))
				cr.ReuseRecord, cr.LazyQuotes, cr.FieldsPerRecord = true, true, -1
				for {
					if _, err := cr.Read(); err == io.EOF {
						break
					} else if err != nil {
						b.Fatal(err)
					}
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/rows, "ns/row")
	})
}

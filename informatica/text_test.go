package informatica_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"path"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ipumon/informatica_exporter/informatica"
	"github.com/ipumon/informatica_exporter/informatica/fake"
)

func TestValidUTF8(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"Acme, Inc.", "Acme, Inc."},
		{"Société Générale", "Société Générale"},
		{"Soci\xe9t\xe9 G\xe9n\xe9rale", "Société Générale"},
		{"\x80 \x93quoted\x94 \x85 \x99 \x9f", "€ “quoted” … ™ Ÿ"},
		// Bytes Windows-1252 leaves undefined.
		{"\x81\x8d\x8f\x90\x9d", "\ufffd\ufffd\ufffd\ufffd\ufffd"},
		// Valid runes in an otherwise invalid string are kept.
		{"Caf\xe9 \xe2\x80\x93 \xf0\x9f\x93\x88 \u00e9", "Café – 📈 é"},
		{"\ufffd\xe9", "\ufffdé"},
		// Cut, overlong and surrogate sequences are bytes, one by one.
		{"abc\xe2\x80", "abcâ€"},
		{"\xc0\xaf", "À¯"},
		{"\xed\xa0\x80", "í\u00a0€"},
		{"\xff\xfe", "ÿþ"},
	} {
		if got := informatica.ValidUTF8(tc.in); got != tc.want {
			t.Errorf("ValidUTF8(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestValidUTF8DoesNotCopy: valid text, nearly all of it, costs a scan and
// nothing more. Not parallel: AllocsPerRun counts every goroutine's
// allocations.
func TestValidUTF8DoesNotCopy(t *testing.T) {
	valid := strings.Repeat("Société Générale, ", 10)
	if n := testing.AllocsPerRun(100, func() { informatica.ValidUTF8(valid) }); n != 0 {
		t.Errorf("ValidUTF8 of a valid string allocates %v times", n)
	}
}

func FuzzValidUTF8(f *testing.F) {
	for _, s := range []string{"", "ascii", "Société", "Soci\xe9t\xe9", "\x80\x81\x9d\xff", "\xe2\x80", "a\xf0\x9f\x93\x88\xf0\x9f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := informatica.ValidUTF8(s)
		if !utf8.ValidString(got) {
			t.Fatalf("ValidUTF8(%q) = %q, not valid UTF-8", s, got)
		}
		if utf8.ValidString(s) && got != s {
			t.Fatalf("ValidUTF8(%q) = %q changed a valid string", s, got)
		}
		// Every byte is either kept or decoded alone: ASCII stays where
		// it was, and nothing else becomes ASCII.
		if ascii(got) != ascii(s) {
			t.Fatalf("ValidUTF8(%q) = %q changed the ASCII text", s, got)
		}
	})
}

func ascii(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] < utf8.RuneSelf {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// TestCSVStringsValidUTF8: Windows-1252 text in an export's string columns
// comes out as the UTF-8 it means, row after row.
func TestCSVStringsValidUTF8(t *testing.T) {
	t.Parallel()
	const bad = "o\xe91,m\xe91,M\xe9ter \x93One\x94,2024-06-01,2024-06-01,2024-06-30,10,1.5,Unit\xe9s,Cat\x80,\"Soci\xe9t\xe9 G\xe9n\xe9rale\",Typ\xe9,0.15\n"
	// The same row again, then with the org name in UTF-8.
	csv := header + bad + bad + strings.Replace(bad, "Soci\xe9t\xe9 G\xe9n\xe9rale", "Société Générale", 1)
	var got []informatica.UsageRow
	n, err := informatica.ReadUsageCSV("x.csv", strings.NewReader(csv), func(r *informatica.UsageRow) error {
		got = append(got, *r)
		return nil
	})
	if err != nil || n != 3 {
		t.Fatalf("read %d rows: %v", n, err)
	}
	for i, r := range got {
		for _, f := range []struct{ name, got, want string }{
			{"OrgID", r.OrgID, "oé1"},
			{"OrgName", r.OrgName, "Société Générale"},
			{"OrgType", r.OrgType, "Typé"},
			{"MeterID", r.MeterID, "mé1"},
			{"MeterName", r.MeterName, "Méter “One”"},
			{"Scalar", r.Scalar, "Unités"},
			{"MetricCategory", r.MetricCategory, "Cat€"},
		} {
			if f.got != f.want {
				t.Errorf("row %d: %s = %q, want %q", i, f.name, f.got, f.want)
			}
		}
	}

	_, err = informatica.ReadUsageCSV("x.csv", strings.NewReader(header+strings.Replace(bad, "2024-06-01,2024-06-01", "2024-13-\xe9,2024-06-01", 1)),
		func(*informatica.UsageRow) error { return nil })
	var ce *informatica.CSVError
	if !errors.As(err, &ce) || ce.Value != "2024-13-é" {
		t.Errorf("error %v, want a CSVError with value %q", err, "2024-13-é")
	}
}

func TestProjectCSVStringsValidUTF8(t *testing.T) {
	t.Parallel()
	csv := "Date,Project,Folder,Org ID,Org Type,Consumption (IPUs)\n2024-06-01,Proj\xe9t,Dossi\xe9r \x96 A,o\xe91,Sandb\xf6x,1.5\n"
	var got informatica.ProjectRow
	if _, err := informatica.ReadProjectCSV("p.csv", strings.NewReader(csv), func(r *informatica.ProjectRow) error {
		got = *r
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got.Project != "Projét" || got.Folder != "Dossiér – A" || got.OrgID != "oé1" || got.OrgType != "Sandböx" {
		t.Errorf("row %+v", got)
	}
}

func TestZIPEntryNameValidUTF8(t *testing.T) {
	t.Parallel()
	z := makeZIP(t, zipFile{"Soci\xe9t\xe9.csv", "OrgId\n"})
	_, err := informatica.ReadUsageZIP(bytes.NewReader(z), int64(len(z)), informatica.DefaultLimits, func(*informatica.UsageRow) error { return nil })
	var ce *informatica.CSVError
	if !errors.As(err, &ce) || ce.File != "Société.csv" {
		t.Errorf("error %v, want a CSVError for file %q", err, "Société.csv")
	}
}

// TestInformaticaTextValidUTF8: error codes and messages, and the org
// logged in to, come out as valid UTF-8 however Informatica encoded them.
func TestInformaticaTextValidUTF8(t *testing.T) {
	t.Parallel()

	t.Run("v3 error object", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, fake.Options{}, nil)
		e.srv.Inject(fake.Fault{Endpoint: fake.EndpointExport, Handler: serve(400, "application/json",
			[]byte("{\"error\":{\"code\":\"MTR_\xe9\",\"message\":\"Soci\xe9t\xe9 \x93x\x94\",\"requestId\":\"r\xe9\"}}"))})
		_, err := e.client.StartExport(context.Background(), testRange)
		var apiErr *informatica.APIError
		if !errors.As(err, &apiErr) || apiErr.Code != "MTR_é" || apiErr.Message != "Société “x”" || apiErr.RequestID != "ré" {
			t.Errorf("error %v, want an APIError with code MTR_é, message Société “x”, request ID ré", err)
		}
	})

	t.Run("plain text error", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, fake.Options{}, nil)
		e.srv.Inject(fake.Fault{Endpoint: fake.EndpointExport, Handler: serve(403, "text/plain", []byte("Erreur: acc\xe8s refus\xe9"))})
		_, err := e.client.StartExport(context.Background(), testRange)
		var apiErr *informatica.APIError
		if !errors.As(err, &apiErr) || apiErr.Message != "Erreur: accès refusé" {
			t.Errorf("error %v, want an APIError with message %q", err, "Erreur: accès refusé")
		}
	})

	t.Run("job errorMessage", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, fake.Options{}, nil)
		e.srv.Inject(fake.Fault{Endpoint: fake.EndpointStatus, Handler: func(w http.ResponseWriter, r *http.Request) {
			serve(200, "application/json", []byte("{\"jobId\":\""+path.Base(r.URL.Path)+"\",\"status\":\"PARTIAL_SUCCESS\",\"errorMessage\":\"Soci\xe9t\xe9 G\xe9n\xe9rale\"}"))(w, r)
		}})
		_, res, err := e.exportDays()
		if err != nil {
			t.Fatal(err)
		}
		if !res.Partial || res.Message != "Société Générale" {
			t.Errorf("result %+v, want a partial export with message %q", res, "Société Générale")
		}
	})

	t.Run("job failed", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, fake.Options{}, nil)
		e.srv.Inject(fake.Fault{Endpoint: fake.EndpointStatus, Handler: serve(200, "application/json",
			[]byte("{\"jobId\":\"j1\",\"status\":\"FAILED\",\"errorMessage\":\"\x93Soci\xe9t\xe9\x94 failed\"}"))})
		_, _, err := e.exportDays()
		if err == nil || !utf8.ValidString(err.Error()) || !strings.Contains(err.Error(), "“Société” failed") {
			t.Errorf("error %q, want one naming “Société” failed", err)
		}
	})

	t.Run("org ID", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, fake.Options{}, nil)
		e.srv.Inject(fake.Fault{Endpoint: fake.EndpointLogin, Times: 2, Handler: serve(200, "application/json",
			[]byte("{\"products\":[{\"baseApiUrl\":\""+e.srv.URL()+"/saas\"}],\"userInfo\":{\"sessionId\":\"unknown-session\",\"orgId\":\"Org\xe9\"}}"))})
		e.client.StartExport(context.Background(), testRange)
		if got := e.client.OrgID(); got != "Orgé" {
			t.Errorf("OrgID() = %q, want %q", got, "Orgé")
		}
	})
}

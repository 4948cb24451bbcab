package ociimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

type entry struct {
	name     string
	typ      byte
	mode     int64
	body     string
	linkname string
}

func layer(t *testing.T, gz bool, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Size: int64(len(e.body)), Linkname: e.linkname}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	if !gz {
		return buf.Bytes()
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(buf.Bytes())
	zw.Close()
	return z.Bytes()
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// archive writes an OCI archive of one image with the given layers.
func archive(t *testing.T, config map[string]any, layers ...[]byte) string {
	t.Helper()
	blobs := map[string][]byte{}
	var descs []Descriptor
	for i, l := range layers {
		mt := "application/vnd.oci.image.layer.v1.tar+gzip"
		if i%2 == 1 {
			mt = "application/vnd.oci.image.layer.v1.tar"
		}
		d := digest(l)
		blobs[d] = l
		descs = append(descs, Descriptor{MediaType: mt, Digest: d, Size: int64(len(l))})
	}
	cfg, _ := json.Marshal(map[string]any{"os": "linux", "architecture": "amd64", "config": config})
	blobs[digest(cfg)] = cfg
	manifest, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"config":        Descriptor{MediaType: "application/vnd.oci.image.config.v1+json", Digest: digest(cfg), Size: int64(len(cfg))},
		"layers":        descs,
	})
	blobs[digest(manifest)] = manifest
	index, _ := json.Marshal(map[string]any{"schemaVersion": 2, "manifests": []Descriptor{{
		MediaType: "application/vnd.oci.image.manifest.v1+json", Digest: digest(manifest), Size: int64(len(manifest)),
	}}})

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name string, b []byte) {
		tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(b))})
		tw.Write(b)
	}
	add("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`))
	add("index.json", index)
	for d, b := range blobs {
		add("blobs/sha256/"+strings.TrimPrefix(d, "sha256:"), b)
	}
	tw.Close()
	file := filepath.Join(t.TempDir(), "image.tar")
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

func TestReadAndUnpack(t *testing.T) {
	base := layer(t, true,
		entry{name: "bin/", typ: tar.TypeDir, mode: 0o755},
		entry{name: "bin/app", typ: tar.TypeReg, mode: 0o755, body: "binary"},
		entry{name: "tmp/", typ: tar.TypeDir, mode: 0o1777},
		entry{name: "etc/old", typ: tar.TypeReg, mode: 0o644, body: "old"},
		entry{name: "var/cache/a", typ: tar.TypeReg, mode: 0o644, body: "a"},
		entry{name: "../../escaped", typ: tar.TypeReg, mode: 0o644, body: "x"},
	)
	top := layer(t, false,
		entry{name: "etc/.wh.old", typ: tar.TypeReg},
		entry{name: "etc/passwd", typ: tar.TypeReg, mode: 0o644, body: "app:x:65532:65532::/:/sbin/nologin\n"},
		entry{name: "var/cache/.wh..wh..opq", typ: tar.TypeReg},
		entry{name: "var/cache/b", typ: tar.TypeReg, mode: 0o600, body: "b"},
		entry{name: "bin/link", typ: tar.TypeSymlink, linkname: "app"},
	)
	file := archive(t, map[string]any{
		"User": "65532:65532", "ExposedPorts": map[string]any{"9977/tcp": map[string]any{}},
		"Entrypoint": []string{"/bin/app"}, "Cmd": []string{"--flag"}, "Env": []string{"PATH=/bin"},
	}, base, top)

	img, err := ReadArchive(file)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		User: "65532:65532", ExposedPorts: map[string]struct{}{"9977/tcp": {}},
		Entrypoint: []string{"/bin/app"}, Cmd: []string{"--flag"}, Env: []string{"PATH=/bin"},
	}
	if !reflect.DeepEqual(img.Config, want) || img.OS != "linux" || img.Arch != "amd64" {
		t.Errorf("config = %+v %s/%s, want %+v linux/amd64", img.Config, img.OS, img.Arch, want)
	}
	if img.CompressedSize != int64(len(base)+len(top)) || len(img.Layers) != 2 {
		t.Errorf("compressed size %d in %d layers, want %d in 2", img.CompressedSize, len(img.Layers), len(base)+len(top))
	}

	root := filepath.Join(t.TempDir(), "rootfs")
	if _, err := img.Unpack(root); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"bin/app": "binary", "var/cache/b": "b", "escaped": "x", "bin/link": "binary"} {
		if b, err := os.ReadFile(filepath.Join(root, name)); err != nil || string(b) != body {
			t.Errorf("%s = %q, %v; want %q", name, b, err, body)
		}
	}
	for _, gone := range []string{"etc/old", "var/cache/a", "etc/.wh.old"} {
		if _, err := os.Lstat(filepath.Join(root, gone)); !os.IsNotExist(err) {
			t.Errorf("%s is there after a whiteout (%v)", gone, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(root, "tmp")); err != nil || fi.Mode()&os.ModeSticky == 0 || fi.Mode().Perm() != 0o777 {
		t.Errorf("tmp: %v %v, want drwxrwxrwt", fi.Mode(), err)
	}
	if fi, err := os.Stat(filepath.Join(root, "bin/app")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("bin/app: %v %v, want 0755", fi.Mode(), err)
	}
}

func TestUnpackRefusesSymlinkOutOfRoot(t *testing.T) {
	outside := t.TempDir()
	l := layer(t, true,
		entry{name: "out", typ: tar.TypeSymlink, linkname: outside},
		entry{name: "out/planted", typ: tar.TypeReg, mode: 0o644, body: "x"},
	)
	img, err := ReadArchive(archive(t, map[string]any{}, l))
	if err != nil {
		t.Fatal(err)
	}
	_, err = img.Unpack(filepath.Join(t.TempDir(), "rootfs"))
	if err == nil || !strings.Contains(err.Error(), "leads out of the root filesystem") {
		t.Errorf("Unpack = %v, want a refusal", err)
	}
	if _, err := os.Stat(filepath.Join(outside, "planted")); !os.IsNotExist(err) {
		t.Errorf("a file was written outside the root filesystem")
	}
}

func TestReadArchiveErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.tar")
	os.WriteFile(bad, []byte("not a tar"), 0o644)
	if _, err := ReadArchive(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("ReadArchive(not a tar) = %v, want an error naming the file", err)
	}
	empty := filepath.Join(t.TempDir(), "empty.tar")
	var buf bytes.Buffer
	tar.NewWriter(&buf).Close()
	os.WriteFile(empty, buf.Bytes(), 0o644)
	if _, err := ReadArchive(empty); err == nil || !strings.Contains(err.Error(), "index.json is missing") {
		t.Errorf("ReadArchive(empty tar) = %v, want index.json is missing", err)
	}
}

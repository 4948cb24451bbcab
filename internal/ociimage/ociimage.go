// Package ociimage reads a container image from an OCI archive (the tar file
// of an OCI image layout, as `buildah push IMAGE oci-archive:FILE` writes
// it): its configuration, the size of its layers, and its root filesystem
// unpacked into a folder. scripts/imagecheck uses it to run the image
// without a container engine.
package ociimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Config is the part of an image configuration that says how to run it.
type Config struct {
	User         string              `json:"User"`
	ExposedPorts map[string]struct{} `json:"ExposedPorts"`
	Env          []string            `json:"Env"`
	Entrypoint   []string            `json:"Entrypoint"`
	Cmd          []string            `json:"Cmd"`
	WorkingDir   string              `json:"WorkingDir"`
}

// Image is an image read from an OCI archive.
type Image struct {
	Config Config
	OS     string
	Arch   string
	// Layers are the layer blobs' media types and digests, base first.
	Layers []Descriptor
	// CompressedSize is the size of the layer blobs: what a pull downloads.
	CompressedSize int64

	blobs map[string][]byte // by digest
}

// Descriptor points to a blob.
type Descriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
}

// maxBlob bounds one blob of the archive, to read a broken archive safely.
const maxBlob = 1 << 30

// ReadArchive reads the OCI archive at file. It must hold one image.
func ReadArchive(file string) (*Image, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, err := read(f)
	if err != nil {
		return nil, fmt.Errorf("OCI archive %s: %w", file, err)
	}
	return img, nil
}

func read(r io.Reader) (*Image, error) {
	files := map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		if h.Size > maxBlob {
			return nil, fmt.Errorf("%s: %d bytes, more than the %d allowed", h.Name, h.Size, maxBlob)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", h.Name, err)
		}
		files[path.Clean(strings.TrimPrefix(h.Name, "./"))] = b
	}
	var index struct {
		Manifests []Descriptor `json:"manifests"`
	}
	if err := decode(files, "index.json", &index); err != nil {
		return nil, err
	}
	if len(index.Manifests) != 1 {
		return nil, fmt.Errorf("index.json: %d manifests, want 1", len(index.Manifests))
	}
	var manifest struct {
		Config Descriptor   `json:"config"`
		Layers []Descriptor `json:"layers"`
	}
	if err := decode(files, blobPath(index.Manifests[0].Digest), &manifest); err != nil {
		return nil, err
	}
	var config struct {
		OS           string `json:"os"`
		Architecture string `json:"architecture"`
		Config       Config `json:"config"`
	}
	if err := decode(files, blobPath(manifest.Config.Digest), &config); err != nil {
		return nil, err
	}
	img := &Image{Config: config.Config, OS: config.OS, Arch: config.Architecture, Layers: manifest.Layers, blobs: map[string][]byte{}}
	for _, l := range manifest.Layers {
		b, ok := files[blobPath(l.Digest)]
		if !ok {
			return nil, fmt.Errorf("layer %s is missing", l.Digest)
		}
		img.blobs[l.Digest] = b
		img.CompressedSize += int64(len(b))
	}
	return img, nil
}

func blobPath(digest string) string {
	algo, hex, _ := strings.Cut(digest, ":")
	return path.Join("blobs", algo, hex)
}

func decode(files map[string][]byte, name string, v any) error {
	b, ok := files[name]
	if !ok {
		return fmt.Errorf("%s is missing", name)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// Unpack writes the image's root filesystem into dir, which must be empty
// or absent: the layers in order, with their whiteouts (.wh.NAME deletes
// NAME, .wh..wh..opq empties its folder), owners and modes. Owners are set
// only when the process may (as root). It returns the bytes of the files
// written.
func (img *Image) Unpack(dir string) (int64, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	var total int64
	for _, l := range img.Layers {
		n, err := unpackLayer(img.blobs[l.Digest], l.MediaType, dir)
		if err != nil {
			return 0, fmt.Errorf("layer %s: %w", l.Digest, err)
		}
		total += n
	}
	return total, nil
}

func unpackLayer(blob []byte, mediaType, dir string) (int64, error) {
	var r io.Reader = bytes.NewReader(blob)
	switch {
	case strings.HasSuffix(mediaType, "+gzip") || strings.HasSuffix(mediaType, ".gzip"):
		zr, err := gzip.NewReader(r)
		if err != nil {
			return 0, err
		}
		r = zr
	case strings.HasSuffix(mediaType, ".tar"):
	default:
		return 0, fmt.Errorf("media type %q is not a tar or gzipped tar layer", mediaType)
	}
	var total int64
	type dirMode struct {
		path string
		mode os.FileMode
	}
	var dirs []dirMode // set after the files, which a read-only folder would refuse
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, err
		}
		name := path.Clean("/" + h.Name)[1:]
		if name == "" {
			continue
		}
		target := filepath.Join(dir, filepath.FromSlash(name))
		if err := insideRoot(dir, filepath.Dir(target)); err != nil {
			return 0, fmt.Errorf("%s: %w", h.Name, err)
		}
		base := path.Base(name)
		if base == ".wh..wh..opq" {
			parent := filepath.Dir(target)
			entries, _ := os.ReadDir(parent)
			for _, e := range entries {
				if err := os.RemoveAll(filepath.Join(parent, e.Name())); err != nil {
					return 0, err
				}
			}
			continue
		}
		if deleted, ok := strings.CutPrefix(base, ".wh."); ok {
			if err := os.RemoveAll(filepath.Join(filepath.Dir(target), deleted)); err != nil {
				return 0, err
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return 0, err
		}
		mode := os.FileMode(h.Mode).Perm()
		if h.Mode&0o4000 != 0 {
			mode |= os.ModeSetuid
		}
		if h.Mode&0o2000 != 0 {
			mode |= os.ModeSetgid
		}
		if h.Mode&0o1000 != 0 {
			mode |= os.ModeSticky
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return 0, err
			}
			dirs = append(dirs, dirMode{target, mode})
		case tar.TypeReg:
			os.RemoveAll(target)
			f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
			if err != nil {
				return 0, err
			}
			n, err := io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return 0, err
			}
			total += n
			if err := os.Chmod(target, mode); err != nil {
				return 0, err
			}
		case tar.TypeSymlink:
			os.RemoveAll(target)
			if err := os.Symlink(h.Linkname, target); err != nil {
				return 0, err
			}
		case tar.TypeLink:
			src := filepath.Join(dir, filepath.FromSlash(path.Clean("/" + h.Linkname)[1:]))
			if err := insideRoot(dir, src); err != nil {
				return 0, fmt.Errorf("%s: %w", h.Name, err)
			}
			os.RemoveAll(target)
			if err := os.Link(src, target); err != nil {
				return 0, err
			}
		default:
			continue // devices and fifos: not in this project's images
		}
		if os.Geteuid() == 0 {
			if err := os.Lchown(target, h.Uid, h.Gid); err != nil {
				return 0, err
			}
		}
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Chmod(dirs[i].path, dirs[i].mode); err != nil {
			return 0, err
		}
	}
	return total, nil
}

// insideRoot refuses a path that a symbolic link already unpacked would lead
// out of root: it resolves the nearest part of p that exists.
func insideRoot(root, p string) error {
	for {
		if _, err := os.Lstat(p); err == nil || p == root || p == filepath.Dir(p) {
			break
		}
		p = filepath.Dir(p)
	}
	resolved, err := filepath.EvalSymlinks(p)
	if err != nil {
		return err
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return err
	}
	if rel, err := filepath.Rel(realRoot, resolved); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("leads out of the root filesystem to %s", resolved)
	}
	return nil
}

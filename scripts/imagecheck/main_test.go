package main

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeELF writes a minimal 64-bit little-endian ELF executable header for
// machine, with a PT_INTERP program header when dynamic, and returns its path.
func writeELF(t *testing.T, machine elf.Machine, dynamic bool, mode os.FileMode) string {
	t.Helper()
	h := elf.Header64{
		Type: uint16(elf.ET_EXEC), Machine: uint16(machine), Version: uint32(elf.EV_CURRENT),
		Ehsize: 64, Phentsize: 56,
	}
	copy(h.Ident[:], elf.ELFMAG)
	h.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	h.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	h.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	var progs []elf.Prog64
	if dynamic {
		progs = append(progs, elf.Prog64{Type: uint32(elf.PT_INTERP), Off: 64 + 56, Filesz: 1, Memsz: 1})
		h.Phoff, h.Phnum = 64, 1
	}
	var buf bytes.Buffer
	binary.Write(&buf, binary.LittleEndian, h)
	for _, p := range progs {
		binary.Write(&buf, binary.LittleEndian, p)
	}
	buf.WriteByte(0)
	path := filepath.Join(t.TempDir(), "informatica_exporter")
	if err := os.WriteFile(path, buf.Bytes(), mode); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestStaticExecutable: the entrypoint must be a static ELF executable of
// the image's architecture: an amd64 binary in the arm64 image (a build
// stage that ignored TARGETARCH) fails, as a dynamic one does.
func TestStaticExecutable(t *testing.T) {
	for _, c := range []struct {
		name    string
		machine elf.Machine
		dynamic bool
		mode    os.FileMode
		arch    string
		wantErr string // "" for none
	}{
		{"static arm64 for arm64", elf.EM_AARCH64, false, 0o755, "arm64", ""},
		{"static amd64 for amd64", elf.EM_X86_64, false, 0o755, "amd64", ""},
		{"amd64 binary in the arm64 image", elf.EM_X86_64, false, 0o755, "arm64", "EM_X86_64"},
		{"arm64 binary in the amd64 image", elf.EM_AARCH64, false, 0o755, "amd64", "EM_AARCH64"},
		{"dynamically linked", elf.EM_AARCH64, true, 0o755, "arm64", "dynamically linked"},
		{"not executable", elf.EM_AARCH64, false, 0o644, "arm64", "not executable"},
	} {
		err := staticExecutable(writeELF(t, c.machine, c.dynamic, c.mode), c.arch)
		switch {
		case c.wantErr == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("%s: error %v, want one saying %q", c.name, err, c.wantErr)
		}
	}
}

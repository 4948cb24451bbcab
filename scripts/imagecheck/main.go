// Command imagecheck checks the exporter's container image without a
// container engine: it reads the image from an OCI archive, checks its
// platform and configuration (USER, EXPOSE, ENTRYPOINT) and root filesystem
// (a static binary of the image's architecture, a CA bundle, a writable
// /tmp, the user in /etc/passwd), unpacks it, and, for an image of this
// machine's architecture, runs its entrypoint from that root filesystem as
// the image's user (chroot --userspec, so as root) in --demo mode, scraping
// /metrics until the demo account's first refresh has succeeded. An image of
// another architecture is checked without running it (no emulation).
// scripts/image.sh runs it.
package main

import (
	"bufio"
	"bytes"
	"crypto/x509"
	"debug/elf"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ipumon/informatica_exporter/internal/ociimage"
)

const (
	entrypoint = "/bin/informatica_exporter"
	port       = "9977/tcp"
	caBundle   = "/etc/ssl/certs/ca-certificates.crt"
	// storagePath is the default --storage.path of the image's CMD.
	storagePath = "/var/lib/informatica_exporter"
)

func main() {
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), `Usage: imagecheck -archive IMAGE.tar -rootfs DIR [-arch A] [-version V] [-revision R]

Checks the exporter's image from an OCI archive and, when it is for this machine's
architecture, runs it from its unpacked root filesystem as the image's user, in --demo
mode (needs root, for chroot). An image for another architecture (-arch) is checked
without running it: platform, USER, EXPOSE, ENTRYPOINT (a static ELF executable of that
architecture), CA bundle, /tmp and the storage folder. Exits 1 on the first failed check.

`)
		flag.PrintDefaults()
	}
	archive := flag.String("archive", "", "OCI archive of the image (buildah push IMAGE oci-archive:FILE)")
	arch := flag.String("arch", runtime.GOARCH, "architecture the image must be for (GOARCH: "+strings.Join(slices.Sorted(maps.Keys(elfMachines)), ", ")+"); it runs only if this machine's")
	rootfs := flag.String("rootfs", "", "folder to unpack the root filesystem into; must not exist")
	wantVersion := flag.String("version", "", "version the image must report; empty: any but (devel)")
	wantRevision := flag.String("revision", "", "revision the image must report; empty: any but unknown")
	timeout := flag.Duration("timeout", 2*time.Minute, "how long the demo account may take to be up")
	flag.Parse()
	if *archive == "" || *rootfs == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if _, ok := elfMachines[*arch]; !ok {
		fmt.Fprintf(os.Stderr, "imagecheck: -arch %q: want one of %v\n", *arch, slices.Sorted(maps.Keys(elfMachines)))
		os.Exit(2)
	}
	ran, err := check(*archive, *rootfs, *arch, *wantVersion, *wantRevision, *timeout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		os.Exit(1)
	}
	if !ran {
		fmt.Printf("PASS: the linux/%s image's configuration and files (not run: this machine is %s)\n", *arch, runtime.GOARCH)
		return
	}
	fmt.Println("PASS: the image runs as its non-root user, writes its temp dir and serves /metrics")
}

// check checks the image and, when it is for this machine's architecture,
// runs it (ran).
func check(archive, rootfs, arch, wantVersion, wantRevision string, timeout time.Duration) (ran bool, err error) {
	img, err := ociimage.ReadArchive(archive)
	if err != nil {
		return false, err
	}
	if img.OS != "linux" || img.Arch != arch {
		return false, fmt.Errorf("image for %s/%s, want linux/%s", img.OS, img.Arch, arch)
	}
	fmt.Printf("ok: platform linux/%s\n", arch)
	if err := checkFiles(img, rootfs, arch); err != nil {
		return false, err
	}
	if arch != runtime.GOARCH {
		return false, nil
	}
	if os.Geteuid() != 0 {
		return false, errors.New("running the image needs root (chroot); run as root")
	}
	uid, gid, _, _ := resolveUser(rootfs, img.Config.User) // checked by checkFiles
	if err := runVersion(rootfs, img.Config, uid, gid, wantVersion, wantRevision); err != nil {
		return false, err
	}
	return true, runDemo(rootfs, img.Config, uid, gid, wantVersion, wantRevision, timeout)
}

// checkFiles unpacks the image into rootfs and checks its configuration and
// files, without running anything.
func checkFiles(img *ociimage.Image, rootfs, arch string) error {
	if _, err := os.Stat(rootfs); err == nil {
		return fmt.Errorf("-rootfs %s exists; give a new folder", rootfs)
	}
	unpacked, err := img.Unpack(rootfs)
	if err != nil {
		return fmt.Errorf("unpack into %s: %w", rootfs, err)
	}
	c := img.Config
	fmt.Printf("image: %s/%s, %d layer(s), %.1f MiB compressed (what a pull downloads), %.1f MiB unpacked\n",
		img.OS, img.Arch, len(img.Layers), mib(img.CompressedSize), mib(unpacked))
	fmt.Printf("config: USER %s, EXPOSE %s, ENTRYPOINT %q, CMD %q, ENV %q\n",
		c.User, strings.Join(keys(c.ExposedPorts), " "), c.Entrypoint, c.Cmd, c.Env)

	// USER: not root, and known to /etc/passwd.
	uid, gid, name, err := resolveUser(rootfs, c.User)
	if err != nil {
		return fmt.Errorf("USER %q: %w", c.User, err)
	}
	if uid == 0 {
		return fmt.Errorf("USER %q is root", c.User)
	}
	fmt.Printf("ok: USER is %s, uid %d, gid %d, not root\n", name, uid, gid)

	if _, ok := c.ExposedPorts[port]; !ok || len(c.ExposedPorts) != 1 {
		return fmt.Errorf("EXPOSE: %v, want only %s", keys(c.ExposedPorts), port)
	}
	fmt.Println("ok: EXPOSE", port)

	if !slices.Equal(c.Entrypoint, []string{entrypoint}) {
		return fmt.Errorf("ENTRYPOINT %q, want [%q]", c.Entrypoint, entrypoint)
	}
	if err := staticExecutable(filepath.Join(rootfs, entrypoint), arch); err != nil {
		return fmt.Errorf("ENTRYPOINT %s: %w", entrypoint, err)
	}
	fmt.Println("ok: ENTRYPOINT", entrypoint, "is a static", arch, "ELF executable")

	if err := certificates(filepath.Join(rootfs, caBundle)); err != nil {
		return fmt.Errorf("CA bundle %s: %w", caBundle, err)
	}
	fmt.Println("ok: CA bundle", caBundle)

	tmp := filepath.Join(rootfs, "tmp")
	fi, err := os.Stat(tmp)
	if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o777 || fi.Mode()&os.ModeSticky == 0 {
		return fmt.Errorf("/tmp: %v (%w), want a folder of mode 1777 (drwxrwxrwt)", modeOf(fi), err)
	}
	fmt.Println("ok: /tmp is drwxrwxrwt")

	state := filepath.Join(rootfs, storagePath)
	fi, err = os.Stat(state)
	if err != nil || !fi.IsDir() || fi.Mode().Perm()&0o700 != 0o700 {
		return fmt.Errorf("%s: %v (%w), want a folder the user can write", storagePath, modeOf(fi), err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || int(st.Uid) != uid {
		return fmt.Errorf("%s is not owned by the image's user, uid %d", storagePath, uid)
	}
	if !slices.Contains(c.Cmd, "--storage.path="+storagePath) {
		return fmt.Errorf("CMD %q does not set --storage.path=%s", c.Cmd, storagePath)
	}
	fmt.Printf("ok: %s (CMD's --storage.path) belongs to uid %d, mode %v\n", storagePath, uid, fi.Mode().Perm())
	return nil
}

// chroot returns the command that runs the image's entrypoint with args from
// rootfs, as uid:gid, with the image's environment only.
func chroot(rootfs string, c ociimage.Config, uid, gid int, args ...string) *exec.Cmd {
	argv := append([]string{fmt.Sprintf("--userspec=%d:%d", uid, gid), rootfs}, c.Entrypoint...)
	cmd := exec.Command("chroot", append(argv, args...)...)
	cmd.Env = c.Env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	return cmd
}

func runVersion(rootfs string, c ociimage.Config, uid, gid int, wantVersion, wantRevision string) error {
	out, err := chroot(rootfs, c, uid, gid, "--version").CombinedOutput()
	if err != nil {
		return fmt.Errorf("--version: %w\n%s", err, out)
	}
	first, _, _ := strings.Cut(string(out), "\n")
	fmt.Println("--version:", first)
	if wantVersion != "" && !strings.Contains(first, "version "+wantVersion+" ") {
		return fmt.Errorf("--version says %q, want version %s", first, wantVersion)
	}
	if wantRevision != "" && !strings.Contains(first, "revision: "+wantRevision+")") {
		return fmt.Errorf("--version says %q, want revision %s", first, wantRevision)
	}
	return nil
}

func runDemo(rootfs string, c ociimage.Config, uid, gid int, wantVersion, wantRevision string, timeout time.Duration) error {
	addr, err := freeAddress()
	if err != nil {
		return err
	}
	// --storage.path under /tmp: the state file proves that the image's user
	// can write there, as the export ZIPs spooled to /tmp need (the first
	// refresh fails without).
	cmd := chroot(rootfs, c, uid, gid, "--demo", "--web.listen-address="+addr, "--storage.path=/tmp/informatica_exporter")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	fmt.Printf("run: %s\n", strings.Join(cmd.Args, " "))
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() error {
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			return fmt.Errorf("SIGTERM: %w", err)
		}
		select {
		case err := <-exited:
			return err
		case <-time.After(15 * time.Second):
			if err := cmd.Process.Kill(); err != nil {
				return fmt.Errorf("did not stop within 15 s of SIGTERM, and SIGKILL: %w", err)
			}
			return fmt.Errorf("did not stop within 15 s of SIGTERM, killed: %w", <-exited)
		}
	}
	fail := func(err error) error {
		if serr := stop(); serr != nil {
			err = errors.Join(err, fmt.Errorf("stop: %w", serr))
		}
		return fmt.Errorf("%w\nexporter log:\n%s", err, logs.String())
	}

	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(timeout)
	var families map[string]*dto.MetricFamily
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("the exporter exited: %w\nexporter log:\n%s", err, logs.String())
		default:
		}
		families, err = scrape(client, "http://"+addr+"/metrics")
		if err == nil && gauge(families, "informatica_up", "account", "demo") == 1 {
			break
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("informatica_up{account=\"demo\"} is not 1 after %s (last scrape: %w)", timeout, err))
		}
		time.Sleep(200 * time.Millisecond)
	}
	refreshes := gauge(families, "informatica_exporter_refreshes_total", "account", "demo")
	fmt.Printf("ok: /metrics: informatica_up{account=\"demo\"} 1 after %.0f refresh(es), %d metric families\n", refreshes, len(families))

	info := families["informatica_exporter_build_info"]
	if info == nil || len(info.Metric) != 1 {
		return fail(errors.New("no informatica_exporter_build_info"))
	}
	labels := map[string]string{}
	for _, l := range info.Metric[0].Label {
		labels[l.GetName()] = l.GetValue()
	}
	if v := labels["version"]; v == "" || v == "(devel)" || wantVersion != "" && v != wantVersion {
		return fail(fmt.Errorf("build_info version %q, want %q", v, wantVersion))
	}
	if r := labels["revision"]; r == "" || r == "unknown" || wantRevision != "" && r != wantRevision {
		return fail(fmt.Errorf("build_info revision %q, want %q", r, wantRevision))
	}
	fmt.Printf("ok: build_info version=%s revision=%s branch=%s\n", labels["version"], labels["revision"], labels["branch"])

	for _, path := range []string{"/-/healthy", "/-/ready"} {
		resp, err := client.Get("http://" + addr + path)
		if err != nil {
			return fail(fmt.Errorf("%s: %w", path, err))
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fail(fmt.Errorf("%s: %s", path, resp.Status))
		}
	}
	fmt.Println("ok: /-/healthy and /-/ready answer 200")

	// The writable temp dir: the state file the image's user wrote. It is
	// written after the refresh is served, so it may still be on its way.
	state := filepath.Join(rootfs, "tmp/informatica_exporter/demo.state.json.gz")
	fi, err := os.Stat(state)
	for err != nil && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		fi, err = os.Stat(state)
	}
	if err != nil {
		return fail(fmt.Errorf("no state file in /tmp after %s: %w", timeout, err))
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || int(st.Uid) != uid {
		return fail(fmt.Errorf("%s is not owned by uid %d", state, uid))
	}
	fmt.Printf("ok: /tmp is writable by uid %d: it wrote /tmp/informatica_exporter/demo.state.json.gz (%d bytes)\n", uid, fi.Size())

	if err := stop(); err != nil {
		return fmt.Errorf("stop: %w\nexporter log:\n%s", err, logs.String())
	}
	fmt.Println("ok: stopped on SIGTERM with exit code 0")
	if n := strings.Count(logs.String(), "level=error"); n > 0 {
		return fmt.Errorf("%d error line(s) in the log:\n%s", n, logs.String())
	}
	return nil
}

func scrape(client *http.Client, url string) (map[string]*dto.MetricFamily, error) {
	resp, err := client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	return parser.TextToMetricFamilies(bytes.NewReader(body))
}

// gauge returns the value of the series of family name with label=value, or
// -1.
func gauge(families map[string]*dto.MetricFamily, name, label, value string) float64 {
	f := families[name]
	if f == nil {
		return -1
	}
	for _, m := range f.Metric {
		for _, l := range m.Label {
			if l.GetName() == label && l.GetValue() == value {
				switch {
				case m.Gauge != nil:
					return m.Gauge.GetValue()
				case m.Counter != nil:
					return m.Counter.GetValue()
				case m.Untyped != nil:
					return m.Untyped.GetValue()
				}
			}
		}
	}
	return -1
}

// resolveUser reads USER (name or uid, optionally :group) with the image's
// /etc/passwd and /etc/group; the user must be listed there.
func resolveUser(rootfs, user string) (uid, gid int, name string, err error) {
	if user == "" {
		return 0, 0, "", errors.New("not set: the image would run as root")
	}
	u, g, hasGroup := strings.Cut(user, ":")
	passwd, err := readColonFile(filepath.Join(rootfs, "etc/passwd"), 7)
	if err != nil {
		return 0, 0, "", err
	}
	found := false
	for _, e := range passwd {
		if e[0] == u || e[2] == u {
			name = e[0]
			uid, _ = strconv.Atoi(e[2])
			gid, _ = strconv.Atoi(e[3])
			found = true
			break
		}
	}
	if !found {
		return 0, 0, "", fmt.Errorf("user %s is not in the image's /etc/passwd", u)
	}
	if hasGroup {
		groups, err := readColonFile(filepath.Join(rootfs, "etc/group"), 4)
		if err != nil {
			return 0, 0, "", err
		}
		found := false
		for _, e := range groups {
			if e[0] == g || e[2] == g {
				gid, _ = strconv.Atoi(e[2])
				found = true
				break
			}
		}
		if !found {
			return 0, 0, "", fmt.Errorf("group %s is not in the image's /etc/group", g)
		}
	}
	return uid, gid, name, nil
}

func readColonFile(path string, fields int) ([][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out [][]string
	s := bufio.NewScanner(f)
	for s.Scan() {
		if e := strings.Split(s.Text(), ":"); len(e) == fields {
			out = append(out, e)
		}
	}
	return out, s.Err()
}

// elfMachines are the ELF machines of the architectures the image is built
// for, by GOARCH.
var elfMachines = map[string]elf.Machine{
	"amd64": elf.EM_X86_64,
	"arm64": elf.EM_AARCH64,
}

// staticExecutable checks that path is an executable ELF file for arch
// (GOARCH) with no program interpreter: FROM scratch has no dynamic loader.
func staticExecutable(path, arch string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("mode %v is not executable", fi.Mode())
	}
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if want := elfMachines[arch]; f.Machine != want || f.Class != elf.ELFCLASS64 {
		return fmt.Errorf("an ELF executable for %v (%v), want %v (%s)", f.Machine, f.Class, want, arch)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return errors.New("dynamically linked (has an ELF interpreter), but the image has no loader or libc")
		}
	}
	return nil
}

func certificates(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if !x509.NewCertPool().AppendCertsFromPEM(b) {
		return errors.New("holds no PEM certificate")
	}
	return nil
}

func freeAddress() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func keys(m map[string]struct{}) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func modeOf(fi os.FileInfo) any {
	if fi == nil {
		return "missing"
	}
	return fi.Mode()
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

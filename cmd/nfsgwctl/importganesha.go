package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"nfsgw/gateway/config"
	"os"
	"path/filepath"
	"time"

	"nfsgw/gateway/ganeshaconf"
)

// importCmd is a parsed "import-ganesha" command line. It needs no
// gateway: it reads a Ganesha configuration and writes nfsgw's.
type importCmd struct {
	file       string
	out        string // "" or "-": stdout
	keyringDir string
	strict     bool
	conf       string // for %url rados://
	user       string
	keyring    string
	pool, ns   string // --pool: into the cluster's export table in RADOS
	oid        string
}

const importUsage = `usage: nfsgwctl import-ganesha [flags] FILE

Turns the EXPORT blocks of NFS-Ganesha's configuration FILE (and of the files
and rados:// objects it includes) into an nfsgw configuration with the same
export ids, so clients keep their file handles. Every option nfsgw cannot
honour is listed on stderr with its file and line, and as a comment in the
output. The output has been loaded and validated as nfsgw --config would.
Exit status: 0 written, 1 not (an error, or --strict with issues), 2 usage.

Flags:
`

func parseImportArgs(args []string, stderr io.Writer) (*importCmd, error) {
	c := &importCmd{}
	fl := flag.NewFlagSet("nfsgwctl import-ganesha", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.StringVar(&c.out, "o", "", "write the nfsgw configuration to this file (default: stdout)")
	fl.StringVar(&c.keyringDir, "keyring-dir", "", "write each FSAL CEPH Secret_Access_Key to DIR/ceph.client.USER.keyring (mode 0600)\nand point the export's ceph_keyring at it (default: secrets are not written)")
	fl.BoolVar(&c.strict, "strict", false, "write nothing and exit 1 if any option is not honoured")
	fl.StringVar(&c.conf, "ceph-conf", defaultCephConf(), "ceph.conf for %url rados:// includes (default: $CEPH_CONF, else /etc/ceph/ceph.conf)")
	fl.StringVar(&c.user, "ceph-user", "admin", "cephx user for %url rados:// includes, without \"client.\"")
	fl.StringVar(&c.keyring, "ceph-keyring", "", "keyring for --ceph-user (default: what ceph.conf says)")
	fl.StringVar(&c.pool, "pool", "", "add the exports to the cluster's export table in this RADOS pool (one version-asserted update:\nall or none) instead of writing YAML")
	fl.StringVar(&c.ns, "ns", "", "RADOS namespace of --pool")
	fl.StringVar(&c.oid, "oid", "", "export table object (default nfsgw.exports)")
	fl.Usage = func() {
		fmt.Fprint(fl.Output(), importUsage)
		fl.PrintDefaults()
	}
	var pos []string
	for { // flags may come before or after FILE
		if err := fl.Parse(args); err != nil {
			return nil, err
		}
		rest := fl.Args()
		if len(rest) == 0 {
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	if len(pos) != 1 {
		return nil, &usageError{"usage: nfsgwctl import-ganesha [-o OUT] [--keyring-dir DIR] FILE"}
	}
	c.file = pos[0]
	return c, nil
}

// runImport runs import-ganesha and returns the exit status.
func runImport(c *importCmd, timeout time.Duration, stdout, stderr io.Writer) int {
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "nfsgwctl: import-ganesha: "+format+"\n", a...)
		return exitFail
	}
	fetch := &radosFetcher{conf: c.conf, user: c.user, keyring: c.keyring, timeout: timeout}
	defer fetch.close()
	root, err := ganeshaconf.ParseFile(c.file, ganeshaconf.Options{FetchURL: fetch.fetch})
	if err != nil {
		return fail("%v", err)
	}
	// Keyrings are written only once the result has passed every check,
	// so that a refused import leaves nothing behind.
	type keyring struct {
		path string
		data []byte
	}
	var keyrings []keyring
	o := ganeshaconf.ImportOptions{}
	if c.keyringDir != "" {
		o.KeyringDir = c.keyringDir
		o.WriteKeyring = func(p string, b []byte) error {
			keyrings = append(keyrings, keyring{p, b})
			return nil
		}
	}
	r, err := ganeshaconf.Import(root, o)
	if errors.Is(err, ganeshaconf.ErrNoExports) {
		return fail("%s: no EXPORT blocks: nothing to import", c.file)
	}
	if err != nil {
		return fail("%v", err)
	}
	for _, is := range r.Issues {
		fmt.Fprintf(stderr, "%s\n", is)
	}
	if len(r.Exports) == 0 {
		return fail("%s: none of its %d EXPORT blocks can be imported (see above)", c.file, r.Skipped)
	}
	y, err := r.YAML(c.file)
	if err != nil {
		return fail("%v", err)
	}
	if _, err := ganeshaconf.Check(y); err != nil {
		return fail("nfsgw would refuse the result: %v", err)
	}
	if c.strict && len(r.Issues) > 0 {
		return fail("%d option(s) not honoured (--strict): nothing written", len(r.Issues))
	}
	for _, k := range keyrings {
		if err := writeKeyring(k.path, k.data); err != nil {
			return fail("keyring: %v: nothing else written", err)
		}
	}
	dest := "stdout"
	if c.pool != "" {
		list := make([]config.Export, len(r.Exports))
		for i, e := range r.Exports {
			list[i] = e.Export
		}
		where, err := importToRADOS(c, list, timeout)
		if err != nil {
			return fail("%v", err)
		}
		dest = where
	} else if c.out == "" || c.out == "-" {
		if _, err := stdout.Write(y); err != nil {
			return fail("%v", err)
		}
	} else {
		if err := os.WriteFile(c.out, y, 0o644); err != nil {
			return fail("%v", err)
		}
		dest = c.out
	}
	for _, k := range r.Keyrings {
		fmt.Fprintf(stderr, "wrote keyring %s (mode 0600)\n", k)
	}
	fmt.Fprintf(stderr, "imported %d export(s) into %s; %d EXPORT block(s) not imported, %d issue(s) listed above\n",
		len(r.Exports), dest, r.Skipped, len(r.Issues))
	return exitOK
}

// writeKeyring creates a keyring file readable by its owner only; an
// existing file is replaced only if it already has that mode.
func writeKeyring(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	if fi, err := os.Lstat(path); err == nil && (!fi.Mode().IsRegular() || fi.Mode().Perm()&0o077 != 0) {
		return fmt.Errorf("%s exists and is not a private regular file: not overwritten", path)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

package ganeshaconf

import (
	"bytes"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"nfsgw/gateway/config"
)

// The YAML shapes of what Import sets, so that the file holds only what
// came from Ganesha and every other setting keeps nfsgw's default.
type yamlTop struct {
	Listen       []string  `yaml:"listen,omitempty"`
	LeaseSeconds int       `yaml:"lease_seconds,omitempty"`
	GraceSeconds int       `yaml:"grace_seconds,omitempty"`
	Ceph         *yamlCeph `yaml:"ceph,omitempty"`
}

type yamlCeph struct {
	Conf string `yaml:"conf"`
}

type yamlExport struct {
	ID          int      `yaml:"id"`
	Pseudo      string   `yaml:"pseudo"`
	Path        string   `yaml:"path"`
	CephFS      string   `yaml:"ceph_fs,omitempty"`
	CephUser    string   `yaml:"ceph_user,omitempty"`
	CephKeyring string   `yaml:"ceph_keyring,omitempty"`
	Access      string   `yaml:"access,omitempty"`
	Squash      string   `yaml:"squash,omitempty"`
	AnonUID     *uint32  `yaml:"anon_uid,omitempty"`
	AnonGID     *uint32  `yaml:"anon_gid,omitempty"`
	Clients     []string `yaml:"clients,omitempty"`
	Delegations *bool    `yaml:"delegations,omitempty"`
}

// YAML renders the result as an nfsgw configuration file: the settings,
// then each export with where it came from and its issues as comments.
// source names the Ganesha file in the header.
func (r *Result) YAML(source string) ([]byte, error) {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# nfsgw configuration imported from NFS-Ganesha's %s by nfsgwctl import-ganesha.\n", oneLine(source))
	fmt.Fprintf(&buf, "# Export ids are Ganesha's: they are in every file handle clients hold.\n")
	if n := len(r.Issues); n > 0 {
		fmt.Fprintf(&buf, "# %d option(s) not honoured or changed; those of an export are above it.\n", n)
	}
	for _, is := range r.Issues {
		if is.ExportID == 0 || is.Skipped {
			fmt.Fprintf(&buf, "# %s\n", oneLine(is.String()))
		}
	}
	top := yamlTop{Listen: r.Listen, LeaseSeconds: r.LeaseSeconds, GraceSeconds: r.GraceSeconds}
	if r.CephConf != "" {
		top.Ceph = &yamlCeph{Conf: r.CephConf}
	}
	b, err := yaml.Marshal(top)
	if err != nil {
		return nil, err
	}
	if string(b) != "{}\n" {
		buf.Write(b)
	}
	buf.WriteString("exports:\n")
	for _, im := range r.Exports {
		e := im.Export
		fmt.Fprintf(&buf, "  # EXPORT at %s\n", oneLine(im.Pos.String()))
		for _, is := range r.Issues {
			if is.ExportID == e.ID && !is.Skipped {
				fmt.Fprintf(&buf, "  # %s: %s\n", oneLine(is.Pos.String()), oneLine(is.Msg))
			}
		}
		y := yamlExport{ID: e.ID, Pseudo: e.Pseudo, Path: e.Path, CephFS: e.CephFS, CephUser: e.CephUser,
			CephKeyring: e.CephKeyring, Access: e.Access, Squash: e.Squash, AnonUID: e.AnonUID, AnonGID: e.AnonGID,
			Clients: e.Clients, Delegations: e.Delegations}
		b, err := yaml.Marshal([]yamlExport{y})
		if err != nil {
			return nil, err
		}
		for _, l := range strings.SplitAfter(string(b), "\n") {
			if l != "" {
				buf.WriteString("  " + l)
			}
		}
	}
	return buf.Bytes(), nil
}

// oneLine keeps file names and messages from breaking out of a comment.
func oneLine(s string) string {
	return strings.NewReplacer("\n", `\n`, "\r", `\r`).Replace(s)
}

// Check parses y with nfsgw's own configuration loader and validates it,
// as nfsgw --config would (except for what needs the backends).
func Check(y []byte) (*config.Config, error) {
	c, err := config.Parse(y)
	if err != nil {
		return nil, err
	}
	if c.NodeID == "" {
		c.NodeID = "import-check" // Validate would ask the host name
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

package ganeshaconf

import (
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"nfsgw/gateway/config"
)

// Issue is one thing in a Ganesha configuration that nfsgw does not do as
// Ganesha did: an option it cannot honour, or what is lost when a
// Ganesha setting can only partly be expressed.
type Issue struct {
	Pos Pos
	// ExportID is the export the issue belongs to, 0 for global ones.
	ExportID int
	Msg      string
	// Skipped marks the issue that kept an EXPORT block from being
	// imported at all.
	Skipped bool
}

func (i Issue) String() string {
	if i.ExportID != 0 {
		return fmt.Sprintf("%s: export %d: %s", i.Pos, i.ExportID, i.Msg)
	}
	return fmt.Sprintf("%s: %s", i.Pos, i.Msg)
}

// ImportOptions say what Import may do besides converting.
type ImportOptions struct {
	// KeyringDir is where an FSAL CEPH Secret_Access_Key becomes a
	// keyring file, ceph.client.USER.keyring, mode 0600. Empty: secrets
	// are not written, and each is reported as not honoured.
	KeyringDir string
	// WriteKeyring writes one keyring file (required with KeyringDir).
	WriteKeyring func(path string, data []byte) error
}

// Imported is one EXPORT block turned into an nfsgw export.
type Imported struct {
	Export config.Export
	Pos    Pos
}

// Result is a converted configuration.
type Result struct {
	// Listen, LeaseSeconds, GraceSeconds and CephConf come from
	// NFS_CORE_PARAM, NFSV4 and CEPH.
	Listen       []string
	LeaseSeconds int
	GraceSeconds int
	CephConf     string
	Exports      []Imported
	// Issues lists, in file order, everything not honoured or changed.
	Issues []Issue
	// Keyrings lists the keyring files written (never their contents).
	Keyrings []string
	// Skipped counts EXPORT blocks that did not become exports.
	Skipped int
}

type importer struct {
	o        ImportOptions
	r        *Result
	defaults perms
	defCli   []*Block // EXPORT_DEFAULTS' CLIENT blocks
	core     *Param   // NFS_CORE_PARAM Protocols
	deleg    bool     // NFSV4 Delegations
	keys     map[string]string
}

// Import converts the EXPORT blocks of a parsed Ganesha configuration
// into nfsgw exports with the same export ids, and lists every option it
// cannot honour. It returns ErrNoExports if there is no EXPORT block.
func Import(root *Block, o ImportOptions) (*Result, error) {
	// Ganesha listens on 0.0.0.0:2049 unless NFS_CORE_PARAM says otherwise;
	// nfsgw's own default is loopback.
	im := &importer{o: o, r: &Result{Listen: []string{"0.0.0.0:2049"}}, keys: map[string]string{}}
	nExports := 0
	// Global blocks first: exports depend on EXPORT_DEFAULTS, the
	// protocols of NFS_CORE_PARAM and NFSV4's delegations.
	for _, b := range root.Blocks {
		switch strings.ToLower(b.Name) {
		case "export_defaults":
			im.defaults = readPerms(b)
			im.defCli = b.Sub("client")
		case "nfs_core_param":
			im.core = b.Param("protocols")
		case "nfsv4":
			if p := b.Param("delegations"); p != nil {
				im.deleg, _ = boolValue(p)
			}
		}
	}
	for _, p := range root.Params {
		im.issue(p.Pos, 0, fmt.Sprintf("%s: a parameter outside any block means nothing to Ganesha or nfsgw", p.Name))
	}
	for _, b := range root.Blocks {
		switch strings.ToLower(b.Name) {
		case "export":
			nExports++
			im.export(b)
		case "export_defaults":
			im.exportDefaults(b)
		case "nfs_core_param":
			im.coreParam(b)
		case "nfsv4":
			im.nfsv4(b)
		case "ceph":
			im.cephBlock(b)
		default:
			im.globalBlock(b)
		}
	}
	if nExports == 0 {
		return im.r, ErrNoExports
	}
	im.checkTable()
	im.sortIssues(root)
	return im.r, nil
}

// sortIssues puts the issues in the order of the configuration: files in
// the order they were read, lines in each file.
func (im *importer) sortIssues(root *Block) {
	order := map[string]int{}
	var walk func(b *Block)
	walk = func(b *Block) {
		if _, ok := order[b.Pos.File]; !ok {
			order[b.Pos.File] = len(order)
		}
		for _, p := range b.Params {
			if _, ok := order[p.Pos.File]; !ok {
				order[p.Pos.File] = len(order)
			}
		}
		for _, s := range b.Blocks {
			walk(s)
		}
	}
	walk(root)
	sort.SliceStable(im.r.Issues, func(i, j int) bool {
		a, b := im.r.Issues[i].Pos, im.r.Issues[j].Pos
		if order[a.File] != order[b.File] {
			return order[a.File] < order[b.File]
		}
		return a.Line < b.Line
	})
}

func (im *importer) issue(pos Pos, id int, msg string) {
	im.r.Issues = append(im.r.Issues, Issue{Pos: pos, ExportID: id, Msg: msg})
}

// unhandled reports every parameter of b (and of its sub-blocks) as not
// honoured, with why.
func (im *importer) unhandled(b *Block, id int, why string) {
	for _, p := range b.Params {
		im.issue(p.Pos, id, fmt.Sprintf("%s %s = %s: not honoured: %s", b.Name, p.Name, im.show(p), why))
	}
	for _, s := range b.Blocks {
		im.unhandled(s, id, why)
	}
}

// show renders a parameter's value for a message, hiding secrets.
func (im *importer) show(p *Param) string {
	n := strings.ToLower(p.Name)
	if strings.Contains(n, "secret") || strings.Contains(n, "key") && !strings.Contains(n, "keytab") || strings.Contains(n, "password") {
		return "(secret, not shown)"
	}
	s := p.Text()
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return strconv.Quote(s)
}

// globalReasons say why the options of other top-level blocks are not
// honoured.
var globalReasons = map[string]string{
	"log":                "nfsgw logs to stderr at --log-level",
	"mdcache":            "nfsgw keeps no attribute or directory cache of its own",
	"cacheinode":         "nfsgw keeps no attribute or directory cache of its own",
	"pseudofs":           "nfsgw builds its own read-only pseudo-filesystem root",
	"rados_kv":           "nfsgw keeps its recovery records in --state-dir, or in cluster.pool (docs/cluster.md)",
	"rados_urls":         "nfsgw re-reads its exports on SIGHUP; it does not watch RADOS objects",
	"nfs_krb5":           "nfsgw speaks AUTH_SYS and AUTH_NONE only",
	"_9p":                "nfsgw serves NFSv4 only",
	"nfs_ip_name":        "nfsgw does not cache client host names",
	"rgw":                "nfsgw serves CephFS and local directories only",
	"proxy":              "nfsgw serves CephFS and local directories only",
	"vfs":                "no global VFS options in nfsgw",
	"directory_services": "nfsgw maps no names: AUTH_SYS ids are used as they are",
}

func (im *importer) globalBlock(b *Block) {
	why, ok := globalReasons[strings.ToLower(b.Name)]
	if !ok {
		why = "no nfsgw equivalent of block " + b.Name
	}
	if len(b.Params) == 0 && len(b.Blocks) == 0 {
		return
	}
	im.unhandled(b, 0, why)
}

func (im *importer) exportDefaults(b *Block) {
	for _, p := range b.Params {
		if _, ok := permNames[strings.ToLower(p.Name)]; ok {
			continue // applied to every export below
		}
		im.issue(p.Pos, 0, fmt.Sprintf("EXPORT_DEFAULTS %s: not honoured: %s", p.Name, exportReason(p.Name)))
	}
	for _, s := range b.Blocks {
		if !strings.EqualFold(s.Name, "client") {
			im.unhandled(s, 0, "unknown block in EXPORT_DEFAULTS")
		}
	}
}

func (im *importer) coreParam(b *Block) {
	port, addr := "2049", "0.0.0.0"
	for _, p := range b.Params {
		switch n := strings.ToLower(p.Name); n {
		case "nfs_port":
			v, err := single(p)
			if n, e := strconv.Atoi(v); err != nil || e != nil || n < 1 || n > 65535 {
				im.issue(p.Pos, 0, fmt.Sprintf("NFS_Port %s: not a port; nfsgw listens on 2049", im.show(p)))
				continue
			}
			port = v
		case "bind_addr":
			v, err := single(p)
			if _, e := netip.ParseAddr(v); err != nil || e != nil {
				im.issue(p.Pos, 0, fmt.Sprintf("Bind_addr %s: not an address; nfsgw listens on 0.0.0.0", im.show(p)))
				continue
			}
			addr = v
		case "protocols":
			v3, v4, ninep, err := protocols(p)
			if err != nil {
				im.issue(p.Pos, 0, err.Error())
				continue
			}
			if !v4 {
				im.issue(p.Pos, 0, "Protocols: NFSv4 is off in Ganesha; nfsgw serves NFSv4 only")
			}
			if v3 || ninep {
				im.issue(p.Pos, 0, "Protocols: nfsgw serves NFSv4 only (no NFSv3, no 9P)")
			}
		case "enable_nlm", "enable_rquota", "enable_udp", "enable_nfsacl":
			if on, err := boolValue(p); err != nil || on {
				im.issue(p.Pos, 0, fmt.Sprintf("%s = %s: not honoured: nfsgw serves NFSv4 over TCP only (no NLM, RQUOTA, NFSACL or UDP)", p.Name, im.show(p)))
			}
		default:
			im.issue(p.Pos, 0, fmt.Sprintf("NFS_CORE_PARAM %s = %s: not honoured: no nfsgw equivalent", p.Name, im.show(p)))
		}
	}
	for _, s := range b.Blocks {
		im.unhandled(s, 0, "no nfsgw equivalent")
	}
	im.r.Listen = []string{net.JoinHostPort(addr, port)}
}

func (im *importer) nfsv4(b *Block) {
	for _, p := range b.Params {
		switch strings.ToLower(p.Name) {
		case "lease_lifetime", "grace_period":
			v, err := single(p)
			n, e := strconv.Atoi(v)
			if err != nil || e != nil || n < 1 || n > 3600 {
				im.issue(p.Pos, 0, fmt.Sprintf("NFSV4 %s = %s: not a number of seconds in 1..3600", p.Name, im.show(p)))
				continue
			}
			if strings.EqualFold(p.Name, "lease_lifetime") {
				im.r.LeaseSeconds = n
			} else {
				im.r.GraceSeconds = n
			}
		case "delegations":
			// Read in Import: exports grant delegations only if this
			// and their own Delegations option say so.
		case "minor_versions":
			if len(p.Values) != 3 {
				im.issue(p.Pos, 0, fmt.Sprintf("NFSV4 Minor_Versions = %s: not honoured: nfsgw serves NFSv4.0, 4.1 and 4.2", im.show(p)))
			}
		case "graceless":
			if on, err := boolValue(p); err != nil || on {
				im.issue(p.Pos, 0, "NFSV4 Graceless: not honoured: nfsgw always has a grace period after a restart (grace_seconds)")
			}
		case "recoverybackend":
			im.issue(p.Pos, 0, fmt.Sprintf("NFSV4 RecoveryBackend = %s: not honoured: nfsgw keeps its own recovery records (state_dir, or cluster.pool); clients cannot reclaim state they held on Ganesha", im.show(p)))
		default:
			im.issue(p.Pos, 0, fmt.Sprintf("NFSV4 %s = %s: not honoured: no nfsgw equivalent", p.Name, im.show(p)))
		}
	}
	for _, s := range b.Blocks {
		im.unhandled(s, 0, "no nfsgw equivalent")
	}
}

func (im *importer) cephBlock(b *Block) {
	for _, p := range b.Params {
		if strings.EqualFold(p.Name, "ceph_conf") {
			if v, err := single(p); err == nil && v != "" {
				im.r.CephConf = v
				continue
			}
		}
		im.issue(p.Pos, 0, fmt.Sprintf("CEPH %s = %s: not honoured: no nfsgw equivalent", p.Name, im.show(p)))
	}
	for _, s := range b.Blocks {
		im.unhandled(s, 0, "no nfsgw equivalent")
	}
}

// exportReasons say why an EXPORT option is not honoured.
var exportReasons = map[string]string{
	"attr_expiration_time":         "nfsgw caches no attributes of its own",
	"maxread":                      "nfsgw uses the gateway-wide max_io_bytes",
	"maxwrite":                     "nfsgw uses the gateway-wide max_io_bytes",
	"prefread":                     "nfsgw uses the gateway-wide max_io_bytes",
	"prefwrite":                    "nfsgw uses the gateway-wide max_io_bytes",
	"prefreaddir":                  "no per-export READDIR size in nfsgw",
	"maxoffsetread":                "no per-export offset limit in nfsgw",
	"maxoffsetwrite":               "no per-export offset limit in nfsgw",
	"tag":                          "NFSv3 mount tags: nfsgw serves NFSv4 only",
	"filesystem_id":                "nfsgw reports the backend's filesystem id",
	"manage_gids":                  "nfsgw uses the groups of the AUTH_SYS credential",
	"privilegedport":               "nfsgw does not check client ports",
	"nfs_commit":                   "nfsgw always honours COMMIT",
	"security_label":               "nfsgw serves no security labels",
	"disable_acl":                  "nfsgw serves no NFSv4 ACLs",
	"usecookieverifier":            "nfsgw's READDIR cookies are stable positions",
	"disablereaddirplus":           "NFSv3 only",
	"trust_readdir_negative_cache": "nfsgw keeps no directory cache",
	"readdir_cache":                "nfsgw keeps no directory cache",
	"expire_time_attr":             "nfsgw caches no attributes of its own",
}

func exportReason(name string) string {
	if r, ok := exportReasons[strings.ToLower(name)]; ok {
		return r
	}
	return "no nfsgw equivalent"
}

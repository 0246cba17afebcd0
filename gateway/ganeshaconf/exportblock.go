package ganeshaconf

import (
	"fmt"
	"net/netip"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"nfsgw/gateway/config"
	"nfsgw/gateway/export"
)

// export converts one EXPORT block, or reports why it cannot.
func (im *importer) export(b *Block) {
	skip := func(pos Pos, id int, why string) {
		im.r.Issues = append(im.r.Issues, Issue{Pos: pos, ExportID: id, Msg: "EXPORT not imported: " + why, Skipped: true})
		im.r.Skipped++
	}
	idp := b.Param("export_id")
	if idp == nil {
		skip(b.Pos, 0, "no Export_Id (Ganesha requires one, and nfsgw keeps it: it is in every file handle)")
		return
	}
	v, err := single(idp)
	n, e := strconv.ParseUint(v, 0, 16)
	if err != nil || e != nil {
		skip(idp.Pos, 0, fmt.Sprintf("Export_Id %s is not 0..65535", im.show(idp)))
		return
	}
	id := int(n)
	if id == 0 {
		skip(idp.Pos, 0, "Export_Id 0 is Ganesha's pseudo-filesystem root; nfsgw builds its own")
		return
	}
	fsals := b.Sub("fsal")
	if len(fsals) != 1 {
		skip(b.Pos, id, fmt.Sprintf("%d FSAL blocks (want one, Name = CEPH or VFS)", len(fsals)))
		return
	}
	fsal := fsals[0]
	var fsalName string
	if p := fsal.Param("name"); p != nil {
		fsalName, _ = single(p)
	}
	fsalName = strings.ToUpper(fsalName)
	if fsalName != "CEPH" && fsalName != "VFS" {
		skip(fsal.Pos, id, fmt.Sprintf("FSAL %q: nfsgw serves CephFS (CEPH) and local directories (VFS) only", fsalName))
		return
	}
	pp := b.Param("path")
	if pp == nil {
		skip(b.Pos, id, "no Path")
		return
	}
	p, err := single(pp)
	if err != nil || !strings.HasPrefix(p, "/") {
		skip(pp.Pos, id, fmt.Sprintf("Path %s is not an absolute path", im.show(pp)))
		return
	}
	ps := b.Param("pseudo")
	if ps == nil {
		skip(b.Pos, id, "no Pseudo: Ganesha serves it over NFSv3 only, and nfsgw serves NFSv4 only")
		return
	}
	pseudo, err := single(ps)
	if err != nil || !strings.HasPrefix(pseudo, "/") {
		skip(ps.Pos, id, fmt.Sprintf("Pseudo %s is not an absolute path", im.show(ps)))
		return
	}
	ex := config.Export{ID: id, Pseudo: export.CleanPseudo(pseudo)}

	pm := readPerms(b).over(im.defaults)
	if !im.versionsAndFlavours(b, id, pm, &ex, skip) {
		return
	}
	if !im.clients(b, id, pm, &ex, skip) {
		return
	}
	im.delegations(id, pm, b.Sub("client"), &ex)

	// The other EXPORT options.
	for _, prm := range b.Params {
		switch n := strings.ToLower(prm.Name); {
		case n == "export_id" || n == "path" || n == "pseudo":
		case permNames[n] != nil:
		default:
			im.issue(prm.Pos, id, fmt.Sprintf("%s = %s: not honoured: %s", prm.Name, im.show(prm), exportReason(prm.Name)))
		}
	}
	for _, s := range b.Blocks {
		if !strings.EqualFold(s.Name, "client") && !strings.EqualFold(s.Name, "fsal") {
			im.unhandled(s, id, "unknown block in EXPORT")
		}
	}

	clean := path.Clean(p)
	if fsalName == "CEPH" {
		ex.Path = config.CephPrefix + clean
		im.cephFSAL(fsal, id, &ex)
	} else {
		ex.Path = clean
		im.issue(fsal.Pos, id, "FSAL VFS: nfsgw's local-directory file handles are not Ganesha's: clients must mount again after the switch (only FSAL CEPH handles are byte-identical)")
		for _, prm := range fsal.Params {
			if !strings.EqualFold(prm.Name, "name") {
				im.issue(prm.Pos, id, fmt.Sprintf("FSAL %s = %s: not honoured: no nfsgw equivalent", prm.Name, im.show(prm)))
			}
		}
		for _, s := range fsal.Blocks {
			im.unhandled(s, id, "no nfsgw equivalent")
		}
	}
	im.r.Exports = append(im.r.Exports, Imported{Export: ex, Pos: b.Pos})
}

// versionsAndFlavours checks Protocols, Transports and SecType: an export
// Ganesha serves only over NFSv3, UDP or Kerberos is not imported.
func (im *importer) versionsAndFlavours(b *Block, id int, pm perms, ex *config.Export, skip func(Pos, int, string)) bool {
	proto := pm.protocols
	if proto == nil {
		proto = im.core
	}
	if proto != nil {
		v3, v4, ninep, err := protocols(proto)
		switch {
		case err != nil:
			skip(proto.Pos, id, err.Error())
			return false
		case !v4:
			skip(proto.Pos, id, fmt.Sprintf("Protocols = %s: not served over NFSv4, and nfsgw serves NFSv4 only", im.show(proto)))
			return false
		case (v3 || ninep) && proto != im.core:
			im.issue(proto.Pos, id, fmt.Sprintf("Protocols = %s: only NFSv4 is served (nfsgw has no NFSv3 or 9P)", im.show(proto)))
		}
	}
	if t := pm.transports; t != nil && !hasWord(t, "tcp") {
		skip(t.Pos, id, fmt.Sprintf("Transports = %s: NFSv4 needs TCP", im.show(t)))
		return false
	}
	if s := pm.secType; s != nil {
		sys, none := hasWord(s, "sys"), hasWord(s, "none")
		krb := hasWord(s, "krb5") || hasWord(s, "krb5i") || hasWord(s, "krb5p")
		switch {
		case !sys && !none:
			skip(s.Pos, id, fmt.Sprintf("SecType = %s: Kerberos only, and nfsgw speaks AUTH_SYS (importing it would let AUTH_SYS clients in)", im.show(s)))
			return false
		case !sys:
			ex.Squash = "all"
			im.issue(s.Pos, id, "SecType = none only: every caller is anonymous in Ganesha; nfsgw gets squash all, the same effect")
		case krb:
			im.issue(s.Pos, id, fmt.Sprintf("SecType = %s: Kerberos flavours are not offered (nfsgw speaks AUTH_SYS and AUTH_NONE): Kerberos mounts must switch to sec=sys", im.show(s)))
		}
		if sys && !none {
			im.issue(s.Pos, id, "SecType without none: nfsgw admits AUTH_NONE callers, as the anonymous user")
		}
	}
	return true
}

// group is the permissions one set of clients gets: a CLIENT block, or
// the export itself for every client no CLIENT block lists.
type group struct {
	block   *Block // nil: the export's own options
	pos     Pos
	nets    []string
	any     bool // "*": every client
	partial bool // some entries cannot be matched by nfsgw
	access  string
	squash  string
	anonUID uint32
	anonGID uint32
	pm      perms
}

func (g *group) name() string {
	if g.block == nil {
		return "clients that no CLIENT block lists"
	}
	if g.any {
		return fmt.Sprintf("CLIENT at %s (*)", g.pos)
	}
	return fmt.Sprintf("CLIENT at %s (%s)", g.pos, strings.Join(g.nets, ", "))
}

func (g *group) grants() bool { return g.access == accRW || g.access == accRO }

// resolve interprets a group's options.
func (im *importer) resolve(g *group, id int) error {
	acc, err := g.pm.accessOf()
	if err != nil {
		return err
	}
	switch acc {
	case accMDOnly:
		im.issue(g.pm.access.Pos, id, fmt.Sprintf("%s: Access_Type MDONLY (metadata changes, no data writes) becomes ro", g.name()))
		acc = accRO
	case accMDOnlyRO:
		im.issue(g.pm.access.Pos, id, fmt.Sprintf("%s: Access_Type MDONLY_RO (metadata only, no data) cannot be expressed: no access", g.name()))
		acc = accNone
	}
	if g.block != nil && acc != accNone {
		if p := g.block.Param("protocols"); p != nil {
			if _, v4, _, err := protocols(p); err != nil || !v4 {
				im.issue(p.Pos, id, fmt.Sprintf("%s: Protocols = %s: no NFSv4, so no access through nfsgw", g.name(), im.show(p)))
				acc = accNone
			}
		}
		if p := g.block.Param("transports"); p != nil && !hasWord(p, "tcp") {
			im.issue(p.Pos, id, fmt.Sprintf("%s: Transports = %s: no TCP, so no access through nfsgw", g.name(), im.show(p)))
			acc = accNone
		}
	}
	g.access = acc
	if g.squash, err = g.pm.squashOf(); err != nil {
		return err
	}
	if g.anonUID, err = anonID(g.pm.anonUID); err != nil {
		return err
	}
	if g.anonGID, err = anonID(g.pm.anonGID); err != nil {
		return err
	}
	return nil
}

// clients turns the export's access, squash and CLIENT blocks into
// nfsgw's one access, one squash and one list of allowed networks, never
// granting anyone more than Ganesha did, and reports what is lost.
func (im *importer) clients(b *Block, id int, pm perms, ex *config.Export, skip func(Pos, int, string)) bool {
	var groups []*group
	blocks := append(b.Sub("client"), im.defCli...)
	for _, c := range blocks {
		g := &group{block: c, pos: c.Pos, pm: readPerms(c).over(pm)}
		for _, prm := range c.Params {
			n := strings.ToLower(prm.Name)
			switch {
			case n == "clients":
				im.clientEntries(g, prm, id)
			case n == "access_type" || n == "squash" || n == "anonymous_uid" || n == "anonymous_gid":
			case n == "protocols" || n == "transports":
				// Checked in resolve: a group without NFSv4 over TCP has no
				// access here.
			default:
				im.issue(prm.Pos, id, fmt.Sprintf("CLIENT %s = %s: not honoured per client (nfsgw has per-export %s only)", prm.Name, im.show(prm), "access, squash, anon ids and clients"))
			}
		}
		for _, s := range c.Blocks {
			im.unhandled(s, id, "unknown block in CLIENT")
		}
		if len(g.nets) == 0 && !g.any && !g.partial {
			im.issue(c.Pos, id, "CLIENT block without Clients: matches nobody")
			continue
		}
		if err := im.resolve(g, id); err != nil {
			skip(c.Pos, id, err.Error())
			return false
		}
		groups = append(groups, g)
		if g.any {
			break // Ganesha takes the first match: nothing after "*" is reached
		}
	}
	rest := &group{pos: b.Pos, any: true, pm: pm}
	if n := len(groups); n > 0 && groups[n-1].any {
		rest, groups = groups[n-1], groups[:n-1]
	} else if err := im.resolve(rest, id); err != nil {
		skip(b.Pos, id, err.Error())
		return false
	}

	var contributing []*group
	var denied []string
	for _, g := range groups {
		if g.grants() {
			contributing = append(contributing, g)
		} else {
			denied = append(denied, g.name())
		}
	}
	open := rest.grants()
	if open && len(denied) > 0 {
		im.issue(rest.pos, id, fmt.Sprintf("%s lose their access (%s): nfsgw's clients list cannot exclude the clients %s denies",
			rest.name(), rest.access, strings.Join(denied, " and ")))
		open = false
	}
	if open {
		contributing = append(contributing, rest)
	}
	if len(contributing) == 0 {
		why := "no client has access (Access_Type is None or missing, and no CLIENT block grants access)"
		skip(b.Pos, id, why)
		return false
	}

	// One access and one squash for everyone: the most restrictive of
	// the groups that keep access, so that nobody gets more than before.
	target := *contributing[0]
	for _, g := range contributing[1:] {
		if g.access == accRO {
			target.access = accRO
		}
		if squashRank(g.squash) > squashRank(target.squash) {
			target.squash, target.anonUID, target.anonGID = g.squash, g.anonUID, g.anonGID
		}
	}
	for _, g := range contributing {
		var lost []string
		if g.access != target.access {
			lost = append(lost, fmt.Sprintf("Access_Type %s becomes %s", strings.ToUpper(g.access), target.access))
		}
		if g.squash != target.squash {
			lost = append(lost, fmt.Sprintf("Squash %s becomes %s", squashName(g.squash), target.squash))
		}
		if g.squash != sqNone && target.squash != sqNone && (g.anonUID != target.anonUID || g.anonGID != target.anonGID) {
			lost = append(lost, fmt.Sprintf("anonymous ids %d:%d become %d:%d", g.anonUID, g.anonGID, target.anonUID, target.anonGID))
		}
		if len(lost) > 0 {
			im.issue(g.pos, id, fmt.Sprintf("%s: %s (nfsgw has one access and squash per export: the most restrictive of its client groups)", g.name(), strings.Join(lost, ", ")))
		}
	}
	if target.squash == sqRootID {
		im.issue(target.pos, id, "Squash Root_Id_Squash keeps root's supplementary groups; nfsgw's root squash also drops group 0 from them")
		target.squash = sqRoot
	}

	ex.Access = target.access
	if ex.Squash == "" { // SecType none only has made it all
		ex.Squash = target.squash
	}
	uid, gid := target.anonUID, target.anonGID
	ex.AnonUID, ex.AnonGID = &uid, &gid
	if !open {
		for _, g := range contributing {
			for _, n := range g.nets {
				if !contains(ex.Clients, n) {
					ex.Clients = append(ex.Clients, n)
				}
			}
		}
		if len(ex.Clients) == 0 {
			skip(b.Pos, id, "no client nfsgw can match keeps access")
			return false
		}
	}
	return true
}

func squashName(k string) string {
	switch k {
	case sqNone:
		return "No_Root_Squash"
	case sqRootID:
		return "Root_Id_Squash"
	case sqAll:
		return "All_Squash"
	}
	return "Root_Squash"
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// clientEntries reads a Clients list: addresses, CIDR networks and "*"
// become nfsgw client entries; host names, wildcards and netgroups cannot
// be matched by nfsgw, and those clients lose this group's access.
func (im *importer) clientEntries(g *group, prm *Param, id int) {
	for _, v := range prm.Values {
		s := strings.TrimSpace(v.Text)
		switch {
		case s == "*" || s == "0.0.0.0":
			g.any = true
		case strings.HasPrefix(s, "@"):
			g.partial = true
			im.issue(v.Pos, id, fmt.Sprintf("Clients: netgroup %s cannot be matched by nfsgw (addresses and networks only): its members lose this CLIENT block's access", s))
		default:
			if a, err := netip.ParseAddr(s); err == nil {
				g.nets = append(g.nets, a.String())
			} else if p, err := netip.ParsePrefix(s); err == nil {
				g.nets = append(g.nets, p.Masked().String())
			} else if strings.ContainsAny(s, "*?[") {
				g.partial = true
				im.issue(v.Pos, id, fmt.Sprintf("Clients: wildcard %s cannot be matched by nfsgw (addresses and networks only): those clients lose this CLIENT block's access", s))
			} else {
				g.partial = true
				im.issue(v.Pos, id, fmt.Sprintf("Clients: host name %s cannot be matched by nfsgw (addresses and networks only): give its address; it loses this CLIENT block's access", s))
			}
		}
	}
}

// delegations: Ganesha grants delegations only where NFSV4 Delegations is
// on and the export's Delegations names reads; nfsgw grants read
// delegations unless told not to.
func (im *importer) delegations(id int, pm perms, cl []*Block, ex *config.Export) {
	on := false
	if d := pm.delegations; d != nil {
		for _, v := range d.Values {
			switch strings.ToLower(v.Text) {
			case "r", "read", "rw", "readwrite":
				on = im.deleg
			}
			switch strings.ToLower(v.Text) {
			case "w", "write", "rw", "readwrite":
				if im.deleg {
					im.issue(d.Pos, id, "Delegations: nfsgw grants read delegations only")
				}
			}
		}
	}
	for _, c := range cl {
		if d := c.Param("delegations"); d != nil {
			im.issue(d.Pos, id, fmt.Sprintf("CLIENT Delegations = %s: not honoured per client", im.show(d)))
		}
	}
	if !on {
		f := false
		ex.Delegations = &f
	}
}

// cephFSAL maps FSAL CEPH's User_Id, Filesystem and Secret_Access_Key.
func (im *importer) cephFSAL(f *Block, id int, ex *config.Export) {
	user := "admin" // libcephfs's default, which Ganesha keeps when User_Id is unset
	for _, prm := range f.Params {
		v, _ := single(prm)
		switch strings.ToLower(prm.Name) {
		case "name":
		case "user_id":
			if v != "" {
				ex.CephUser, user = v, v
			}
		case "filesystem":
			ex.CephFS = v
		case "secret_access_key":
		default:
			im.issue(prm.Pos, id, fmt.Sprintf("FSAL %s = %s: not honoured: no nfsgw equivalent", prm.Name, im.show(prm)))
		}
	}
	for _, s := range f.Blocks {
		im.unhandled(s, id, "no nfsgw equivalent")
	}
	sk := f.Param("secret_access_key")
	if sk == nil {
		return
	}
	secret, err := single(sk)
	if err != nil || secret == "" {
		im.issue(sk.Pos, id, "Secret_Access_Key without a value: not honoured")
		return
	}
	if im.o.KeyringDir == "" || im.o.WriteKeyring == nil {
		im.issue(sk.Pos, id, fmt.Sprintf("Secret_Access_Key: not honoured: nfsgw reads cephx keys from keyring files; rerun with --keyring-dir DIR to write client.%s's key to one, or set ceph_keyring to a keyring that holds it", user))
		return
	}
	if !validUser(user) {
		im.issue(sk.Pos, id, fmt.Sprintf("Secret_Access_Key: not written: User_Id %q is not a plain cephx name", user))
		return
	}
	file := filepath.Join(im.o.KeyringDir, "ceph.client."+user+".keyring")
	if old, ok := im.keys[user]; ok {
		if old != secret {
			im.issue(sk.Pos, id, fmt.Sprintf("Secret_Access_Key: another export gives client.%s another key; %s keeps the first", user, file))
		}
		ex.CephKeyring = file
		return
	}
	if err := im.o.WriteKeyring(file, []byte(fmt.Sprintf("[client.%s]\n\tkey = %s\n", user, secret))); err != nil {
		im.issue(sk.Pos, id, fmt.Sprintf("Secret_Access_Key: cannot write %s: %v", file, err))
		return
	}
	im.keys[user] = secret
	im.r.Keyrings = append(im.r.Keyrings, file)
	ex.CephKeyring = file
}

func validUser(u string) bool {
	if u == "" || len(u) > 128 {
		return false
	}
	for _, c := range u {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// checkTable drops exports whose id or pseudo path clashes with an earlier
// one, or nests in it, as nfsgw would refuse the whole file.
func (im *importer) checkTable() {
	table := func(l []Imported) error {
		list := make([]*export.Export, len(l))
		for i, e := range l {
			list[i] = &export.Export{ID: uint16(e.Export.ID), Pseudo: e.Export.Pseudo}
		}
		_, err := export.NewTable(list)
		return err
	}
	if table(im.r.Exports) == nil {
		return
	}
	var kept []Imported
	for _, e := range im.r.Exports {
		if err := table(append(kept, e)); err != nil {
			im.r.Issues = append(im.r.Issues, Issue{Pos: e.Pos, ExportID: e.Export.ID, Msg: fmt.Sprintf("EXPORT not imported: %v", err), Skipped: true})
			im.r.Skipped++
			continue
		}
		kept = append(kept, e)
	}
	im.r.Exports = kept
}

package ganeshaconf

import (
	"fmt"
	"strconv"
	"strings"
)

// perms are the export permission options Ganesha reads in EXPORT,
// EXPORT_DEFAULTS and CLIENT blocks. A nil field is not set there; an
// unset option falls back, for a CLIENT block, to the export's, then to
// EXPORT_DEFAULTS, then to Ganesha's built-in default.
type perms struct {
	access, squash, anonUID, anonGID, protocols, transports, secType, delegations *Param
}

// permNames are the lower-case names of the options perms holds.
var permNames = map[string]func(*perms) **Param{
	"access_type":   func(p *perms) **Param { return &p.access },
	"squash":        func(p *perms) **Param { return &p.squash },
	"anonymous_uid": func(p *perms) **Param { return &p.anonUID },
	"anonymous_gid": func(p *perms) **Param { return &p.anonGID },
	"protocols":     func(p *perms) **Param { return &p.protocols },
	"transports":    func(p *perms) **Param { return &p.transports },
	"sectype":       func(p *perms) **Param { return &p.secType },
	"delegations":   func(p *perms) **Param { return &p.delegations },
}

func readPerms(b *Block) perms {
	var p perms
	if b == nil {
		return p
	}
	for _, prm := range b.Params { // the last one counts
		if f, ok := permNames[strings.ToLower(prm.Name)]; ok {
			*f(&p) = prm
		}
	}
	return p
}

// over fills p's unset options from q.
func (p perms) over(q perms) perms {
	for _, f := range permNames {
		if *f(&p) == nil {
			*f(&p) = *f(&q)
		}
	}
	return p
}

// Access types, in nfsgw's terms where nfsgw has them.
const (
	accNone     = "none"
	accRW       = "rw"
	accRO       = "ro"
	accMDOnly   = "mdonly"
	accMDOnlyRO = "mdonly_ro"
)

// access returns the Access_Type (Ganesha's default: None).
func (p perms) accessOf() (string, error) {
	if p.access == nil {
		return accNone, nil
	}
	v, err := single(p.access)
	if err != nil {
		return "", err
	}
	switch strings.ToLower(v) {
	case "none":
		return accNone, nil
	case "rw":
		return accRW, nil
	case "ro":
		return accRO, nil
	case "mdonly":
		return accMDOnly, nil
	case "mdonly_ro":
		return accMDOnlyRO, nil
	}
	return "", fmt.Errorf("unknown Access_Type %q (Ganesha knows None, RW, RO, MDONLY, MDONLY_RO)", v)
}

// Squash kinds; sqRootID is Ganesha's Root_Id_Squash.
const (
	sqNone   = "none"
	sqRoot   = "root"
	sqAll    = "all"
	sqRootID = "rootid"
)

// squash returns the squash kind (Ganesha's default: Root_Squash). Ganesha
// reads Squash as a list of flags; the strongest one given wins.
func (p perms) squashOf() (string, error) {
	if p.squash == nil {
		return sqRoot, nil
	}
	best := ""
	for _, v := range p.squash.Values {
		var k string
		switch strings.ToLower(v.Text) {
		case "root", "root_squash", "rootsquash":
			k = sqRoot
		case "all", "all_squash", "allsquash", "all_anonymous", "allanonymous":
			k = sqAll
		case "no_root_squash", "none", "noidsquash":
			k = sqNone
		case "rootid", "root_id_squash", "rootidsquash":
			k = sqRootID
		default:
			return "", fmt.Errorf("unknown Squash %q (Ganesha knows Root_Squash, Root_Id_Squash, All_Squash, No_Root_Squash and their other spellings)", v.Text)
		}
		if squashRank(k) > squashRank(best) {
			best = k
		}
	}
	if best == "" {
		return "", fmt.Errorf("no value for Squash")
	}
	return best, nil
}

func squashRank(k string) int {
	switch k {
	case sqNone:
		return 1
	case sqRootID:
		return 2
	case sqRoot:
		return 3
	case sqAll:
		return 4
	}
	return 0
}

// ganeshaAnon is Ganesha's default anonymous uid and gid, -2.
const ganeshaAnon = uint32(0xfffffffe)

// anonID reads Anonymous_Uid or Anonymous_Gid: Ganesha takes -2^31 ..
// 2^32-1, negative values as their 32-bit two's complement.
func anonID(p *Param) (uint32, error) {
	if p == nil {
		return ganeshaAnon, nil
	}
	v, err := single(p)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(v, 0, 64)
	if err != nil || n < -(1<<31) || n > 1<<32-1 {
		return 0, fmt.Errorf("%s %q is not a 32-bit id", p.Name, v)
	}
	return uint32(n), nil
}

// protocols returns the NFS versions of a Protocols list.
func protocols(p *Param) (v3, v4, ninep bool, err error) {
	for _, v := range p.Values {
		switch strings.ToLower(v.Text) {
		case "3", "nfs3", "v3", "nfsv3":
			v3 = true
		case "4", "nfs4", "v4", "nfsv4":
			v4 = true
		case "9p":
			ninep = true
		default:
			return false, false, false, fmt.Errorf("unknown Protocols value %q (want 3, 4 or 9P)", v.Text)
		}
	}
	return v3, v4, ninep, nil
}

// single returns the one value of p.
func single(p *Param) (string, error) {
	if len(p.Values) != 1 {
		return "", fmt.Errorf("%s wants one value, has %d", p.Name, len(p.Values))
	}
	return p.Values[0].Text, nil
}

// hasWord reports whether p lists w (any case).
func hasWord(p *Param, w string) bool {
	for _, v := range p.Values {
		if strings.EqualFold(v.Text, w) {
			return true
		}
	}
	return false
}

// boolValue reads Ganesha's booleans: yes/true/on, no/false/off.
func boolValue(p *Param) (bool, error) {
	v, err := single(p)
	if err != nil {
		return false, err
	}
	switch strings.ToLower(v) {
	case "yes", "true", "on":
		return true, nil
	case "no", "false", "off":
		return false, nil
	}
	return false, fmt.Errorf("%s %q is not true or false", p.Name, v)
}

package main

import (
	"encoding/json"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// instruction is one Containerfile instruction, continuation lines joined.
type instruction struct{ op, args string }

func parseContainerfile(t *testing.T) []instruction {
	b, err := os.ReadFile("../Containerfile")
	if err != nil {
		t.Fatal(err)
	}
	var out []instruction
	cur := ""
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		if strings.HasSuffix(l, "\\") {
			cur += strings.TrimSuffix(l, "\\") + " "
			continue
		}
		cur += l
		if f := strings.Fields(cur); len(f) > 0 {
			out = append(out, instruction{strings.ToUpper(f[0]), strings.Join(f[1:], " ")})
		}
		cur = ""
	}
	return out
}

// TestContainerfileEquivalent: the Containerfile makes the image make image
// makes: the file tree from the same list by the same script (so the same
// file list), the same build flags, and the same configuration.
func TestContainerfileEquivalent(t *testing.T) {
	ins := parseContainerfile(t)
	var final []instruction
	build := ""
	for i, in := range ins {
		if in.op == "FROM" && in.args == "scratch" {
			final = ins[i+1:]
			for _, b := range ins[:i] {
				build += b.op + " " + b.args + "\n"
			}
		}
	}
	if final == nil {
		t.Fatal("no final FROM scratch stage")
	}
	script, err := os.ReadFile("../../../scripts/image.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"deploy/image/rootfs.sh deploy/image/files.txt /out/bin /rootfs",
		"-tags pacific -trimpath -buildvcs=false",
		`-ldflags "-s -w -buildid= -X main.version=`,
		"librados-dev libcephfs-dev ca-certificates",
	} {
		if !strings.Contains(build, want) {
			t.Errorf("the build stage lacks %q", want)
		}
	}
	for _, want := range []string{"deploy/image/rootfs.sh deploy/image/files.txt", "-tags pacific -trimpath -buildvcs=false", `-ldflags "-s -w -buildid= -X main.version=`} {
		if !strings.Contains(string(script), want) {
			t.Errorf("scripts/image.sh lacks %q", want)
		}
	}

	// Files: the whole tree, then the owned directories again with their
	// owner; nothing else.
	owned, err := ownedPaths("../files.txt")
	if err != nil {
		t.Fatal(err)
	}
	var copied, chowned []string
	labels := map[string]bool{}
	var ports []string
	for _, in := range final {
		switch in.op {
		case "COPY":
			f := strings.Fields(in.args)
			if f[0] != "--from=build" {
				t.Errorf("COPY not from the build stage: %s", in.args)
			}
			if len(f) == 3 && f[1] == "/rootfs/" && f[2] == "/" {
				copied = append(copied, "/")
			} else if len(f) == 4 && f[1] == "--chown="+imageUser && f[2] == "/rootfs"+f[3] {
				chowned = append(chowned, f[3])
			} else {
				t.Errorf("unexpected COPY %s", in.args)
			}
		case "USER":
			if in.args != imageUser {
				t.Errorf("USER %s, image has %s", in.args, imageUser)
			}
		case "ENTRYPOINT":
			var ep []string
			if err := json.Unmarshal([]byte(in.args), &ep); err != nil || !reflect.DeepEqual(ep, imageEntrypoint) {
				t.Errorf("ENTRYPOINT %s, image has %q", in.args, imageEntrypoint)
			}
		case "ENV":
			if in.args != strings.Join(imageEnv, " ") {
				t.Errorf("ENV %s, image has %q", in.args, imageEnv)
			}
		case "EXPOSE":
			ports = append(ports, strings.Fields(in.args)...)
		case "LABEL":
			for _, kv := range strings.Fields(in.args) {
				k, _, _ := strings.Cut(kv, "=")
				labels[k] = true
			}
		case "ARG":
		default:
			t.Errorf("unexpected %s in the final stage", in.op)
		}
	}
	if !reflect.DeepEqual(copied, []string{"/"}) {
		t.Errorf("the final stage copies %v, want the whole tree once", copied)
	}
	sort.Strings(chowned)
	if !reflect.DeepEqual(chowned, owned) {
		t.Errorf("COPY --chown of %v, files.txt owns %v", chowned, owned)
	}
	sort.Strings(ports)
	if !reflect.DeepEqual(ports, imagePorts) {
		t.Errorf("EXPOSE %v, image has %v", ports, imagePorts)
	}
	for k := range Labels("v", "r", 0) {
		if !labels[k] {
			t.Errorf("LABEL lacks %s", k)
		}
	}
	if len(labels) != len(Labels("v", "r", 0)) {
		t.Errorf("LABEL has %d keys, the image %d", len(labels), len(Labels("v", "r", 0)))
	}
}

// ownedPaths: the entries of files.txt not owned by root.
func ownedPaths(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) >= 5 && !strings.HasPrefix(f[0], "#") && f[3] != "0" {
			if f[3]+":"+f[4] != imageUser {
				return nil, &os.PathError{Op: "owner " + f[3] + ":" + f[4], Path: f[1], Err: os.ErrInvalid}
			}
			out = append(out, f[1])
		}
	}
	sort.Strings(out)
	return out, nil
}

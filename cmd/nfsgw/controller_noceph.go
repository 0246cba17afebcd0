//go:build noceph

package main

import (
	"errors"

	"github.com/hashicorp/go-hclog"

	"nfsgw/gateway/config"
	"nfsgw/internal/k8sctl"
)

// openMembers: the grace database is in RADOS.
func openMembers(*config.Config, hclog.Logger) (k8sctl.Members, func(), error) {
	return nil, nil, errors.New("the grace database needs RADOS: this nfsgw was built without Ceph (noceph)")
}

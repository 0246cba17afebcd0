//go:build noceph

package main

import (
	"context"
	"errors"

	"github.com/hashicorp/go-hclog"

	"nfsgw/gateway/config"
)

// member is a stub: cluster mode needs RADOS.
type member struct{}

func (*member) leave() {}

func (*member) leaveCluster(context.Context) error { return nil }

func (*member) stopExports() {}

func (*member) followExports(func([]config.Export, []uint16) (int, int, error)) {}

func joinCluster(context.Context, *config.Config, *backends, hclog.Logger, *observability,
	func(context.Context, []config.Export) (bool, error)) (*nodeRecovery, *member, error) {
	return nil, nil, errors.New("cluster mode needs RADOS: this nfsgw was built without Ceph (noceph)")
}

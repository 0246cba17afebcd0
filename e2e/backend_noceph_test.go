//go:build noceph

package e2e

import "errors"

func newCephBackend() (backend, error) {
	return nil, errors.New("NFSGW_E2E_BACKEND=ceph: this build has no CephFS support (built with -tags noceph)")
}

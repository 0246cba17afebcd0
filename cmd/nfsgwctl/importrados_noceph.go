//go:build noceph

package main

import (
	"fmt"

	"nfsgw/gateway/config"
	"time"
)

// radosFetcher without Ceph support cannot read rados:// includes.
type radosFetcher struct {
	conf, user, keyring string
	timeout             time.Duration
}

func (f *radosFetcher) fetch(string) ([]byte, error) {
	return nil, fmt.Errorf("this nfsgwctl was built without Ceph support (build tag noceph)")
}

func (f *radosFetcher) close() {}

func importToRADOS(*importCmd, []config.Export, time.Duration) (string, error) {
	return "", fmt.Errorf("this nfsgwctl was built without Ceph support (build tag noceph): no RADOS export table")
}
